//! Object lock over S3 (decision 0039): Put/GetObjectLockConfiguration, Put/GetObjectRetention,
//! Put/GetObjectLegalHold, the `x-amz-object-lock-*` headers of writes and of GET/HEAD answers,
//! and `x-amz-bypass-governance-retention` of deletes. The rules are the store's (`locks`).

use axum::body::Body;
use axum::response::Response;
use gatehouse_store::Store;
use gatehouse_store::locks::LockRequest;
use gatehouse_store::model::{DefaultRetention, LockMode, ObjectRecord, Retention};
use http::{HeaderMap, StatusCode};

use super::object::set;
use super::{empty, xml_body, xml_ok};
use crate::auth::PayloadMode;
use crate::error::S3Error;
use crate::request::{Ctx, header, header_values};
use crate::util;
use crate::xml::XmlWriter;

/// `x-amz-bucket-object-lock-enabled` of CreateBucket: `true` or `false`, every value alike.
pub(crate) fn bucket_lock_enabled(h: &HeaderMap) -> Result<bool, S3Error> {
    let mut on = None;
    for v in header_values(h, "x-amz-bucket-object-lock-enabled") {
        let this = match v.trim().to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => {
                return Err(S3Error::invalid_argument(
                    "x-amz-bucket-object-lock-enabled must be true or false",
                ));
            }
        };
        if on.is_some_and(|o| o != this) {
            return Err(S3Error::invalid_argument(
                "x-amz-bucket-object-lock-enabled is given twice with different values",
            ));
        }
        on = Some(this);
    }
    Ok(on.unwrap_or(false))
}

fn mode(v: &str) -> Result<LockMode, S3Error> {
    LockMode::parse(v.trim()).ok_or_else(|| {
        S3Error::invalid_argument("Unknown wormMode directive.")
            .with("ArgumentName", "x-amz-object-lock-mode")
    })
}

/// 9999-12-31T23:59:59.999Z: a later date could not be written back in ISO 8601.
const LATEST_MS: i64 = 253_402_300_799_999;

fn until(v: &str) -> Result<i64, S3Error> {
    let ms = util::parse_iso8601(v).ok_or_else(|| {
        S3Error::invalid_argument("The retain until date must be provided in ISO 8601 format")
    })?;
    if ms > LATEST_MS {
        return Err(S3Error::invalid_argument(
            "The retain until date must be before the year 10000",
        ));
    }
    Ok(ms)
}

/// The `x-amz-object-lock-*` headers of a write: mode and retain-until date together or not at
/// all, legal hold `ON` or `OFF`.
pub(crate) fn lock_request(h: &HeaderMap) -> Result<LockRequest, S3Error> {
    let m = header(h, "x-amz-object-lock-mode");
    let d = header(h, "x-amz-object-lock-retain-until-date");
    let retention = match (m, d) {
        (None, None) => None,
        (Some(m), Some(d)) => Some(Retention {
            mode: mode(m)?,
            until_ms: until(d)?,
        }),
        _ => {
            return Err(S3Error::invalid_argument(
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
            ));
        }
    };
    let legal_hold = match header(h, "x-amz-object-lock-legal-hold").map(str::trim) {
        None => None,
        Some("ON") => Some(true),
        Some("OFF") => Some(false),
        Some(_) => {
            return Err(S3Error::invalid_argument(
                "Legal Hold must be either of 'ON' or 'OFF'",
            ));
        }
    };
    Ok(LockRequest {
        retention,
        legal_hold,
    })
}

/// `x-amz-bypass-governance-retention: true` (any other value is `false`, as in S3).
pub(crate) fn bypass_asked(h: &HeaderMap) -> bool {
    header(h, "x-amz-bypass-governance-retention")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The lock of a version, on a GET/HEAD answer.
pub(crate) fn lock_headers(r: &mut Response, rec: &ObjectRecord) {
    if let Some(ret) = rec.retention {
        set(r, "x-amz-object-lock-mode", ret.mode.as_str());
        set(
            r,
            "x-amz-object-lock-retain-until-date",
            &util::iso8601(ret.until_ms),
        );
    }
    if rec.legal_hold {
        set(r, "x-amz-object-lock-legal-hold", "ON");
    }
}

pub fn get_config(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let cfg = s.object_lock(&ctx.principal, ctx.bucket())?;
    let mut w = XmlWriter::new();
    w.open_root("ObjectLockConfiguration");
    w.elem("ObjectLockEnabled", "Enabled");
    if let Some(d) = cfg.default {
        w.open("Rule");
        w.open("DefaultRetention");
        w.elem("Mode", d.mode.as_str());
        if let Some(n) = d.days {
            w.elem("Days", &n.to_string());
        }
        if let Some(n) = d.years {
            w.elem("Years", &n.to_string());
        }
        w.close("DefaultRetention");
        w.close("Rule");
    }
    w.close("ObjectLockConfiguration");
    Ok(xml_ok(w))
}

/// The most a default retention may be, as S3 bounds it: 100 years (36,500 days).
const MAX_DAYS: u32 = 36_500;
const MAX_YEARS: u32 = 100;

fn period(n: &crate::xml::Node, max: u32) -> Result<u32, S3Error> {
    let v: i64 = n
        .text
        .trim()
        .parse()
        .map_err(|_| S3Error::malformed_xml())?;
    u32::try_from(v)
        .ok()
        .filter(|v| (1..=max).contains(v))
        .ok_or_else(|| {
            S3Error::new(
                400,
                "InvalidRetentionPeriod",
                format!(
                    "Default retention period must be a positive integer value of at most {MAX_DAYS} days or {MAX_YEARS} years."
                ),
            )
        })
}

/// Elements a lock document may hold besides `allowed`: an event hold (S3's newer object lock
/// feature) is not implemented and says so; anything else is not S3's schema.
fn only(node: &crate::xml::Node, allowed: &[&str]) -> Result<(), S3Error> {
    for c in &node.children {
        if allowed.contains(&c.name.as_str()) {
            continue;
        }
        if matches!(
            c.name.as_str(),
            "EventHold" | "EventHoldDuration" | "DefaultEventHold"
        ) {
            return Err(S3Error::not_implemented(&format!(
                "<{}> (object lock event holds)",
                c.name
            )));
        }
        return Err(S3Error::malformed_xml());
    }
    Ok(())
}

pub async fn put_config(
    s: &Store,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    let doc = xml_body(ctx, body, payload, 64 * 1024).await?;
    if doc.name != "ObjectLockConfiguration" {
        return Err(S3Error::malformed_xml());
    }
    only(&doc, &["ObjectLockEnabled", "Rule"])?;
    if doc.child_text("ObjectLockEnabled").map(str::trim) != Some("Enabled") {
        return Err(S3Error::malformed_xml());
    }
    let default = match doc.child("Rule") {
        None => None,
        Some(rule) => {
            only(rule, &["DefaultRetention"])?;
            let d = rule
                .child("DefaultRetention")
                .ok_or_else(S3Error::malformed_xml)?;
            only(d, &["Mode", "Days", "Years"])?;
            let mode = LockMode::parse(d.child_text("Mode").unwrap_or("").trim())
                .ok_or_else(S3Error::malformed_xml)?;
            let (days, years) = match (d.child("Days"), d.child("Years")) {
                (Some(n), None) => (Some(period(n, MAX_DAYS)?), None),
                (None, Some(n)) => (None, Some(period(n, MAX_YEARS)?)),
                _ => return Err(S3Error::malformed_xml()),
            };
            Some(DefaultRetention { mode, days, years })
        }
    };
    s.put_object_lock(&ctx.principal, ctx.bucket(), default)
        .await?;
    Ok(empty(StatusCode::OK))
}

fn version(ctx: &Ctx) -> Option<String> {
    ctx.query.get("versionId").map(str::to_string)
}

fn read(s: &Store, ctx: &Ctx) -> Result<ObjectRecord, S3Error> {
    let cfg = s.object_lock(&ctx.principal, ctx.bucket());
    if let Err(gatehouse_store::StoreError::NoObjectLockConfiguration) = cfg {
        return Err(S3Error::invalid_request(
            "Bucket is missing Object Lock Configuration",
        ));
    }
    let info = match ctx.query.get("versionId") {
        Some(v) => s.get_version(&ctx.principal, ctx.bucket(), ctx.key(), v)?,
        None => s.get_object(&ctx.principal, ctx.bucket(), ctx.key())?,
    };
    Ok(info.record)
}

pub fn get_retention(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let rec = read(s, ctx)?;
    let r = rec
        .retention
        .ok_or_else(|| S3Error::from(gatehouse_store::StoreError::NoObjectLock))?;
    let mut w = XmlWriter::new();
    w.open_root("Retention");
    w.elem("Mode", r.mode.as_str());
    w.elem("RetainUntilDate", &util::iso8601(r.until_ms));
    w.close("Retention");
    Ok(xml_ok(w))
}

pub async fn put_retention(
    s: &Store,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    let doc = xml_body(ctx, body, payload, 64 * 1024).await?;
    if doc.name != "Retention" {
        return Err(S3Error::malformed_xml());
    }
    // Only a document without any element removes a retention: one holding only what is not
    // understood here is refused, never read as a removal.
    only(&doc, &["Mode", "RetainUntilDate"])?;
    let retention = match (doc.child_text("Mode"), doc.child_text("RetainUntilDate")) {
        (None, None) => None,
        (Some(m), Some(d)) => Some(Retention {
            mode: LockMode::parse(m.trim()).ok_or_else(S3Error::malformed_xml)?,
            until_ms: until(d)?,
        }),
        _ => return Err(S3Error::malformed_xml()),
    };
    let bypass = gatehouse_store::locks::may_bypass(
        &ctx.principal,
        ctx.bucket(),
        bypass_asked(&ctx.headers),
    );
    s.put_retention(
        &ctx.principal,
        ctx.bucket(),
        ctx.key(),
        version(ctx),
        retention,
        bypass,
    )
    .await?;
    Ok(empty(StatusCode::OK))
}

pub fn get_legal_hold(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let rec = read(s, ctx)?;
    let mut w = XmlWriter::new();
    w.open_root("LegalHold");
    w.elem("Status", if rec.legal_hold { "ON" } else { "OFF" });
    w.close("LegalHold");
    Ok(xml_ok(w))
}

pub async fn put_legal_hold(
    s: &Store,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    let doc = xml_body(ctx, body, payload, 64 * 1024).await?;
    if doc.name != "LegalHold" {
        return Err(S3Error::malformed_xml());
    }
    only(&doc, &["Status"])?;
    let on = match doc.child_text("Status").map(str::trim) {
        Some("ON") => true,
        Some("OFF") => false,
        _ => return Err(S3Error::malformed_xml()),
    };
    s.put_legal_hold(&ctx.principal, ctx.bucket(), ctx.key(), version(ctx), on)
        .await?;
    Ok(empty(StatusCode::OK))
}
