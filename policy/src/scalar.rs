//! Reading the typed values conditions compare: numbers, dates, booleans, IP ranges and
//! base64. The same readers serve policy values (at parse time, where failure is an error)
//! and request values (at evaluation, where failure is a mismatch).

use std::net::IpAddr;
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{Date, OffsetDateTime, PrimitiveDateTime};

/// A decimal number: optional sign, digits with an optional fraction, optional exponent.
/// `inf`, `NaN`, hexadecimal and the empty string are refused.
pub(crate) fn number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let mut digits = i - int_start;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A point in time, as nanoseconds since the Unix epoch. Accepts RFC 3339
/// (`2020-01-01T00:00:00Z`), the other ISO 8601 forms (`2020-01-01T00:00Z`,
/// `20200101T000000Z`; without an offset the time is UTC; a date alone is its midnight UTC)
/// and epoch seconds (`1577836800`, with an optional fraction).
pub(crate) fn date(s: &str) -> Option<i128> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let epochish = s
        .bytes()
        .enumerate()
        .all(|(i, b)| b.is_ascii_digit() || b == b'.' || (i == 0 && b == b'-'));
    if epochish {
        return epoch(s);
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp_nanos());
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Iso8601::DEFAULT) {
        return Some(t.unix_timestamp_nanos());
    }
    if let Ok(t) = PrimitiveDateTime::parse(s, &Iso8601::DEFAULT) {
        return Some(t.assume_utc().unix_timestamp_nanos());
    }
    if let Ok(d) = Date::parse(s, &Iso8601::DEFAULT) {
        return Some(d.midnight().assume_utc().unix_timestamp_nanos());
    }
    None
}

/// Epoch seconds with an optional fraction, exactly, as nanoseconds.
fn epoch(s: &str) -> Option<i128> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() || int.len() > 15 || frac.len() > 9 || frac.contains('.') {
        return None;
    }
    let secs: i128 = int.parse().ok()?;
    let mut nanos: i128 = 0;
    for (i, b) in frac.bytes().enumerate() {
        nanos += i128::from(b - b'0') * 10i128.pow(8 - i as u32);
    }
    let total = secs * 1_000_000_000 + nanos;
    Some(if negative { -total } else { total })
}

/// `true` or `false`, in any case.
pub(crate) fn boolean(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// An IP range: IPv4 or IPv6 in CIDR notation; an address without a prefix length is
/// `/32` (IPv4) or `/128` (IPv6), as IAM documents. Host bits are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    pub v6: bool,
    /// The address as 128 bits (IPv4 in the low 32), host bits cleared.
    pub net: u128,
    pub len: u8,
}

fn bits(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => (false, u128::from(u32::from(v4))),
            None => (true, u128::from(a)),
        },
    }
}

fn mask(v6: bool, len: u8) -> u128 {
    let width = if v6 { 128 } else { 32 };
    if len == 0 {
        0
    } else {
        let ones = u128::MAX << (128 - u32::from(len));
        ones >> (128 - width)
    }
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Option<Cidr> {
        let s = s.trim();
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => {
                if l.is_empty() || l.len() > 3 || !l.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                (a, Some(l.parse::<u8>().ok()?))
            }
            None => (s, None),
        };
        let ip: IpAddr = addr.parse().ok()?;
        let v6 = matches!(ip, IpAddr::V6(_));
        let width = if v6 { 128 } else { 32 };
        let len = len.unwrap_or(width);
        if len > width {
            return None;
        }
        let (_, raw) = match ip {
            IpAddr::V4(a) => (false, u128::from(u32::from(a))),
            IpAddr::V6(a) => (true, u128::from(a)),
        };
        Some(Cidr {
            v6,
            net: raw & mask(v6, len),
            len,
        })
    }

    /// Whether address `ip` (an IPv4-mapped IPv6 address counts as IPv4) is in the range.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let (v6, raw) = bits(ip);
        v6 == self.v6 && raw & mask(v6, self.len) == self.net
    }

    /// Whether `other` lies within `self`.
    pub(crate) fn covers(&self, other: &Cidr) -> bool {
        self.v6 == other.v6
            && other.len >= self.len
            && other.net & mask(self.v6, self.len) == self.net
    }
}

/// A request's IP address value: an address, tolerating a `/32` or `/128` suffix.
pub(crate) fn ip_address(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let addr = match s.split_once('/') {
        Some((a, "32" | "128")) => a,
        Some(_) => return None,
        None => s,
    };
    addr.parse().ok()
}

/// Standard base64 with padding (RFC 4648 §4). Padding may be omitted.
pub(crate) fn base64(s: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let body = s.trim_end_matches('=');
    if s.len() - body.len() > 2 || (s.len() != body.len() && !s.len().is_multiple_of(4)) {
        return None;
    }
    if body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= sextet(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn numbers() {
        for (s, want) in [
            ("10", Some(10.0)),
            ("-3.5", Some(-3.5)),
            ("+2", Some(2.0)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("1e3", Some(1000.0)),
            ("1E-1", Some(0.1)),
            ("", None),
            ("abc", None),
            ("inf", None),
            ("NaN", None),
            ("0x10", None),
            ("1e", None),
            ("1 ", None),
            ("-", None),
            ("1e999", None),
        ] {
            assert_eq!(number(s), want, "{s:?}");
        }
    }

    #[test]
    fn dates() {
        let base = 1_577_836_800_000_000_000i128; // 2020-01-01T00:00:00Z
        for (s, want) in [
            ("2020-01-01T00:00:00Z", Some(base)),
            ("2020-01-01T01:00:00+01:00", Some(base)),
            ("2020-01-01T00:00:00.5Z", Some(base + 500_000_000)),
            ("2020-01-01T00:00Z", Some(base)),
            ("20200101T000000Z", Some(base)),
            ("2020-01-01T00:00:00", Some(base)),
            ("2020-01-01", Some(base)),
            ("1577836800", Some(base)),
            ("1577836800.25", Some(base + 250_000_000)),
            ("yesterday", None),
            ("2020-13-01", None),
            ("", None),
        ] {
            assert_eq!(date(s), want, "{s:?}");
        }
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("192.168.1.0/24").unwrap();
        assert!(c.contains("192.168.1.77".parse().unwrap()));
        assert!(!c.contains("192.168.2.1".parse().unwrap()));
        assert!(c.contains("::ffff:192.168.1.5".parse().unwrap()));
        let host = Cidr::parse("10.1.2.3").unwrap();
        assert_eq!(host.len, 32);
        assert!(host.contains("10.1.2.3".parse().unwrap()));
        assert!(!host.contains("10.1.2.4".parse().unwrap()));
        let any = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(any.contains("8.8.8.8".parse().unwrap()));
        assert!(!any.contains("2001:db8::1".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(
            Cidr::parse("::/0")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
        assert_eq!(
            Cidr::parse("10.0.0.0/8").unwrap(),
            Cidr::parse("10.9.9.9/8").unwrap()
        );
        for bad in [
            "10.0.0.0/33",
            "2001:db8::/129",
            "10.0.0/8",
            "abc",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad:?}");
        }
        assert!(
            Cidr::parse("10.0.0.0/8")
                .unwrap()
                .covers(&Cidr::parse("10.1.0.0/16").unwrap())
        );
        assert!(
            !Cidr::parse("10.0.0.0/16")
                .unwrap()
                .covers(&Cidr::parse("10.0.0.0/8").unwrap())
        );
    }

    #[test]
    fn base64_values() {
        assert_eq!(base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64("aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64("aGk=").unwrap(), b"hi");
        assert_eq!(base64("").unwrap(), b"");
        assert_eq!(base64("QUJD").unwrap(), b"ABC");
        assert_eq!(base64("a"), None);
        assert_eq!(base64("a$==").map(|_| ()), None);
        assert_eq!(base64("aGk==="), None);
    }
}
