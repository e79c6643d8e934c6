//! File shares: create (or restore by re-creating), list, show, delete (tombstone), restore.

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use gatehouse_store::ops::NewShare;
use serde::Deserialize;

use crate::AdminState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::json::{self, Param, Query};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    quota_bytes: u64,
    /// Objects the share may hold (versions included); 0 = unlimited.
    #[serde(default)]
    max_objects: u64,
    /// `YYYY-MM-DD` (midnight UTC) or RFC 3339.
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    guest_read: Option<bool>,
}

pub async fn list(State(st): State<AdminState>, c: Caller, q: Query) -> ApiResult<Response> {
    let deleted = match q.get("deleted") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::invalid_request(format!(
                "deleted must be true or false, not {other:?}"
            )));
        }
    };
    Ok(json::ok(&st.store.list_shares(&c.principal, deleted)?))
}

pub async fn create(State(st): State<AdminState>, c: Caller, body: Body) -> ApiResult<Response> {
    let b: CreateBody = json::read(Some(&c.payload), body).await?;
    let expires_ms = b
        .expires_at
        .as_deref()
        .map(parse_time)
        .transpose()
        .map_err(ApiError::invalid_request)?;
    let created = st
        .store
        .create_share(
            &c.principal,
            NewShare {
                name: b.name,
                description: b.description,
                quota_bytes: b.quota_bytes,
                max_objects: b.max_objects,
                expires_ms,
                guest_read: b.guest_read,
            },
        )
        .await?;
    Ok(json::created(&created))
}

pub async fn show(
    State(st): State<AdminState>,
    c: Caller,
    Param(name): Param<String>,
) -> ApiResult<Response> {
    Ok(json::ok(&st.store.show_share(&c.principal, &name)?))
}

pub async fn delete(
    State(st): State<AdminState>,
    c: Caller,
    Param(name): Param<String>,
) -> ApiResult<Response> {
    Ok(json::ok(&st.store.delete_share(&c.principal, &name).await?))
}

pub async fn restore(
    State(st): State<AdminState>,
    c: Caller,
    Param(name): Param<String>,
) -> ApiResult<Response> {
    Ok(json::ok(
        &st.store.restore_share(&c.principal, &name).await?,
    ))
}

/// `YYYY-MM-DD` (00:00 UTC that day) or RFC 3339 (`2027-01-31T12:00:00Z`, `…+02:00`,
/// fractional seconds allowed) → Unix milliseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let bad = || format!("expires_at {s:?} is not YYYY-MM-DD or an RFC 3339 time");
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let part = s.get(r).ok_or_else(bad)?;
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Err(bad());
    }
    let mut ms = days_from_civil(y, m, d) * 86_400_000;
    if b.len() == 10 {
        return Ok(ms);
    }
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if hh > 23 || mm > 59 || ss > 60 {
        return Err(bad());
    }
    ms += (hh * 3600 + mm * 60 + ss) * 1000;
    let mut i = 19;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
        let frac = &s[start..i.min(start + 3)];
        ms += frac.parse::<i64>().map_err(|_| bad())? * 10_i64.pow(3 - frac.len() as u32);
    }
    match &s[i..] {
        "Z" | "z" => Ok(ms),
        off if off.len() == 6
            && matches!(off.as_bytes()[0], b'+' | b'-')
            && off.as_bytes()[3] == b':' =>
        {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            let offset = (oh * 60 + om) * 60_000;
            Ok(if off.starts_with('+') {
                ms - offset
            } else {
                ms + offset
            })
        }
        _ => Err(bad()),
    }
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (eras of 400 years, March-based years).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times() {
        assert_eq!(parse_time("1970-01-01"), Ok(0));
        assert_eq!(parse_time("2000-03-01"), Ok(951_868_800_000));
        assert_eq!(parse_time("2024-02-29T12:00:00Z"), Ok(1_709_208_000_000));
        assert_eq!(parse_time("2024-02-29T12:00:00.5Z"), Ok(1_709_208_000_500));
        assert_eq!(
            parse_time("2024-02-29T14:00:00+02:00"),
            Ok(1_709_208_000_000)
        );
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "tomorrow",
            "2024-02-29T25:00:00Z",
            "2024-02-29T12:00:00",
            "",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
