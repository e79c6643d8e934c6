//! Small HTTP helpers: dates, ETags, ranges, percent-decoding, query strings.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::S3Error;

/// `2009-10-12T17:50:30.000Z` (XML timestamps).
pub fn iso8601(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub fn system_time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

/// `Wed, 12 Oct 2009 17:50:00 GMT` (Last-Modified).
pub fn http_date(ms: i64) -> String {
    httpdate::fmt_http_date(system_time(ms))
}

pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s.trim()).ok()
}

pub fn quote_etag(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// Does an `If-Match`/`If-None-Match` list (`"a", "b"` or `*`) contain this ETag?
pub fn etag_list_matches(list: &str, etag: &str) -> bool {
    gatehouse_store::ops::etag_in_list(list, etag)
}

/// Percent-decodes a path or query component. `plus_is_space` for query strings.
pub fn decode(s: &str, plus_is_space: bool) -> Result<String, S3Error> {
    let replaced;
    let s = if plus_is_space && s.contains('+') {
        replaced = s.replace('+', " ");
        replaced.as_str()
    } else {
        s
    };
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| S3Error::invalid_argument("the URI is not valid UTF-8 after decoding"))
}

/// Percent-encodes for `encoding-type=url` listings (S3 keeps `/` readable).
pub fn url_encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// Parsed query string: decoded (name, value) pairs in order.
#[derive(Debug, Default, Clone)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Self, S3Error> {
        let mut v = Vec::new();
        if let Some(raw) = raw {
            for part in raw.split('&').filter(|p| !p.is_empty()) {
                let (n, val) = part.split_once('=').unwrap_or((part, ""));
                v.push((decode(n, true)?, decode(val, true)?));
            }
        }
        Ok(Query(v))
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }
}

/// A resolved byte range of an object of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    /// Exclusive.
    pub end: u64,
}

/// Parses a `Range` header. `Ok(None)` means serve the whole object (absent or ignorable
/// syntax, as RFC 9110 says); an unsatisfiable range is `InvalidRange`.
pub fn parse_range(h: &str, size: u64) -> Result<Option<ByteRange>, S3Error> {
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let unsatisfiable = || {
        crate::error::S3Error::new(
            416,
            "InvalidRange",
            "The requested range is not satisfiable",
        )
        .with("ActualObjectSize", size.to_string())
    };
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(unsatisfiable());
        }
        return Ok(Some(ByteRange {
            start: size.saturating_sub(n),
            end: size,
        }));
    }
    let Ok(start) = a.parse::<u64>() else {
        return Ok(None);
    };
    let end = if b.is_empty() {
        size
    } else {
        match b.parse::<u64>() {
            // The last byte's index: one past it is the end, however far past the size.
            Ok(e) if e >= start => e.saturating_add(1).min(size),
            // Digits past u64: past any object's end too.
            Err(_) if !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) => size,
            _ => return Ok(None),
        }
    };
    if start >= size {
        return Err(unsatisfiable());
    }
    Ok(Some(ByteRange { start, end }))
}

/// An RFC 3339 / ISO 8601 date-time (`2030-01-01T00:00:00Z`, with or without fractions) as
/// Unix ms.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(iso8601(1_255_369_830_000), "2009-10-12T17:50:30.000Z");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
    }

    #[test]
    fn ranges() {
        let r = |h| parse_range(h, 100).map(|o| o.map(|r| (r.start, r.end)));
        assert_eq!(r("bytes=0-9").ok(), Some(Some((0, 10))));
        assert_eq!(r("bytes=90-").ok(), Some(Some((90, 100))));
        assert_eq!(r("bytes=-10").ok(), Some(Some((90, 100))));
        assert_eq!(r("bytes=95-200").ok(), Some(Some((95, 100))));
        assert!(r("bytes=100-").is_err());
        assert_eq!(r("bytes=5-1").ok(), Some(None));
        // An end at or past u64::MAX reads to the end, as S3 answers it.
        assert_eq!(r("bytes=5-18446744073709551615").ok(), Some(Some((5, 100))));
        assert_eq!(
            r("bytes=5-99999999999999999999999").ok(),
            Some(Some((5, 100)))
        );
        assert_eq!(r("items=1-2").ok(), Some(None));
    }

    #[test]
    fn etags() {
        assert!(etag_list_matches("\"abc\", \"def\"", "def"));
        assert!(etag_list_matches("*", "x"));
        assert!(!etag_list_matches("\"abc\"", "abd"));
    }
}
