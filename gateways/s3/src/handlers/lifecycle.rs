//! `?lifecycle` on a bucket: Expiration (Days, Date, ExpiredObjectDeleteMarker),
//! NoncurrentVersionExpiration (NoncurrentDays, NewerNoncurrentVersions) and
//! AbortIncompleteMultipartUpload rules, filtered by prefix, and for the two expirations also
//! by tags and object size (`Tag`, `ObjectSizeGreaterThan`, `ObjectSizeLessThan`, `And`).
//! Transitions are refused with `NotImplemented`, never silently ignored.

use axum::body::Body;
use axum::response::Response;
use gatehouse_store::Store;
use gatehouse_store::model::{LifecycleRule, ObjectFilter};
use http::StatusCode;

use super::{empty, xml_body, xml_ok};
use crate::auth::PayloadMode;
use crate::error::S3Error;
use crate::request::Ctx;
use crate::util;
use crate::xml::{Node, XmlWriter};

pub fn get(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let rules = s.get_lifecycle(&ctx.principal, ctx.bucket())?;
    let mut w = XmlWriter::new();
    w.open_root("LifecycleConfiguration");
    for r in &rules {
        w.open("Rule");
        if !r.id.is_empty() {
            w.elem("ID", &r.id);
        }
        if r.legacy_prefix {
            w.elem("Prefix", &r.prefix);
        } else {
            write_filter(&mut w, &r.prefix, &r.object);
        }
        w.elem("Status", if r.enabled { "Enabled" } else { "Disabled" });
        if let Some(d) = r.expiration_days {
            w.open("Expiration");
            w.elem("Days", &d.to_string());
            w.close("Expiration");
        } else if let Some(date) = r.expiration_date_ms {
            w.open("Expiration");
            w.elem("Date", &util::iso8601(date));
            w.close("Expiration");
        } else if r.expired_object_delete_marker {
            w.open("Expiration");
            w.elem("ExpiredObjectDeleteMarker", "true");
            w.close("Expiration");
        }
        if let Some(d) = r.noncurrent_days {
            w.open("NoncurrentVersionExpiration");
            w.elem("NoncurrentDays", &d.to_string());
            if let Some(n) = r.newer_noncurrent {
                w.elem("NewerNoncurrentVersions", &n.to_string());
            }
            w.close("NoncurrentVersionExpiration");
        }
        if let Some(d) = r.abort_incomplete_days {
            w.open("AbortIncompleteMultipartUpload");
            w.elem("DaysAfterInitiation", &d.to_string());
            w.close("AbortIncompleteMultipartUpload");
        }
        w.close("Rule");
    }
    w.close("LifecycleConfiguration");
    Ok(xml_ok(w))
}

/// A rule's `<Filter>`: its prefix alone, its one object condition alone, or `<And>`.
fn write_filter(w: &mut XmlWriter, prefix: &str, f: &ObjectFilter) {
    w.open("Filter");
    let conditions = f.tags.len()
        + usize::from(f.size_greater_than.is_some())
        + usize::from(f.size_less_than.is_some());
    let and = f.and || conditions > 1 || (conditions == 1 && !prefix.is_empty());
    if conditions == 0 {
        w.elem("Prefix", prefix);
    } else {
        if and {
            w.open("And");
            if !prefix.is_empty() {
                w.elem("Prefix", prefix);
            }
        }
        for (k, v) in &f.tags {
            w.open("Tag");
            w.elem("Key", k);
            w.elem("Value", v);
            w.close("Tag");
        }
        if let Some(n) = f.size_greater_than {
            w.elem("ObjectSizeGreaterThan", &n.to_string());
        }
        if let Some(n) = f.size_less_than {
            w.elem("ObjectSizeLessThan", &n.to_string());
        }
        if and {
            w.close("And");
        }
    }
    w.close("Filter");
}

pub async fn put(
    s: &Store,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    let doc = xml_body(ctx, body, payload, 256 * 1024).await?;
    if doc.name != "LifecycleConfiguration" {
        return Err(S3Error::malformed_xml());
    }
    let rules = doc
        .children_named("Rule")
        .map(parse_rule)
        .collect::<Result<Vec<_>, _>>()?;
    if rules.is_empty() {
        return Err(S3Error::malformed_xml());
    }
    s.put_lifecycle(&ctx.principal, ctx.bucket(), rules).await?;
    Ok(empty(StatusCode::OK))
}

pub async fn delete(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    s.delete_lifecycle(&ctx.principal, ctx.bucket()).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn days(n: &Node, what: &str) -> Result<u32, S3Error> {
    n.text
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|d| *d > 0)
        .ok_or_else(|| S3Error::invalid_argument(format!("'{what}' must be a positive integer")))
}

fn parse_rule(r: &Node) -> Result<LifecycleRule, S3Error> {
    for c in &r.children {
        match c.name.as_str() {
            "ID"
            | "Filter"
            | "Prefix"
            | "Status"
            | "Expiration"
            | "NoncurrentVersionExpiration"
            | "AbortIncompleteMultipartUpload" => {}
            "Transition"
            | "Transitions"
            | "NoncurrentVersionTransition"
            | "NoncurrentVersionTransitions" => {
                return Err(S3Error::not_implemented(&format!(
                    "the lifecycle {} action",
                    c.name
                )));
            }
            _ => return Err(S3Error::malformed_xml()),
        }
    }
    let (prefix, object) = filter(r)?;
    let enabled = match r.child_text("Status").map(str::trim) {
        Some("Enabled") => true,
        Some("Disabled") => false,
        _ => return Err(S3Error::malformed_xml()),
    };
    let (expiration_days, expired_object_delete_marker, expiration_date_ms) = match r
        .child("Expiration")
    {
        None => (None, false, None),
        Some(e) => {
            let marker = match e.child_text("ExpiredObjectDeleteMarker").map(str::trim) {
                None | Some("false") => false,
                Some("true") => true,
                Some(_) => return Err(S3Error::malformed_xml()),
            };
            let date = e.child_text("Date").map(date).transpose()?;
            let days = match e.child("Days") {
                Some(d) => Some(days(d, "Days")?),
                None if e.child("ExpiredObjectDeleteMarker").is_some() || date.is_some() => None,
                None => return Err(S3Error::malformed_xml()),
            };
            if days.is_some() && date.is_some() {
                return Err(S3Error::invalid_argument(
                    "Expiration takes Days or Date, not both",
                ));
            }
            if (days.is_some() || date.is_some()) && marker {
                return Err(S3Error::invalid_argument(
                    "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy",
                ));
            }
            (days, marker, date)
        }
    };
    let (noncurrent_days, newer_noncurrent) = match r.child("NoncurrentVersionExpiration") {
        None => (None, None),
        Some(n) => {
            let d = days(
                n.child("NoncurrentDays")
                    .ok_or_else(S3Error::malformed_xml)?,
                "NoncurrentDays",
            )?;
            let newer = match n.child("NewerNoncurrentVersions") {
                None => None,
                Some(v) => Some(
                    v.text
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=100).contains(n))
                        .ok_or_else(|| {
                            S3Error::invalid_argument(
                                "NewerNoncurrentVersions must be between 1 and 100",
                            )
                        })?,
                ),
            };
            (Some(d), newer)
        }
    };
    let abort_incomplete_days = match r.child("AbortIncompleteMultipartUpload") {
        None => None,
        Some(a) => Some(days(
            a.child("DaysAfterInitiation")
                .ok_or_else(S3Error::malformed_xml)?,
            "DaysAfterInitiation",
        )?),
    };
    Ok(LifecycleRule {
        id: r.child_text("ID").unwrap_or("").to_string(),
        prefix,
        enabled,
        expiration_days,
        abort_incomplete_days,
        noncurrent_days,
        newer_noncurrent,
        expired_object_delete_marker,
        legacy_prefix: r.child("Filter").is_none() && r.child("Prefix").is_some(),
        expiration_date_ms,
        object,
    })
}

/// `Expiration/Date`: an ISO 8601 date-time at midnight UTC (AWS refuses any other time).
fn date(text: &str) -> Result<i64, S3Error> {
    let ms = util::parse_iso8601(text).ok_or_else(|| {
        S3Error::invalid_argument("'Date' must be an ISO 8601 date at midnight GMT")
    })?;
    if ms.rem_euclid(86_400_000) != 0 {
        return Err(S3Error::invalid_argument("'Date' must be at midnight GMT"));
    }
    Ok(ms)
}

/// A rule's key prefix and object conditions: `<Filter>` holding one of `Prefix`, `Tag`,
/// `ObjectSizeGreaterThan`, `ObjectSizeLessThan` or an `<And>` of them, or the older bare
/// `<Prefix>` (not both).
fn filter(rule: &Node) -> Result<(String, ObjectFilter), S3Error> {
    let f = match (rule.child("Filter"), rule.child_text("Prefix")) {
        (Some(f), None) => f,
        (None, Some(p)) => return Ok((p.to_string(), ObjectFilter::default())),
        (None, None) => return Ok((String::new(), ObjectFilter::default())),
        (Some(_), Some(_)) => return Err(S3Error::malformed_xml()),
    };
    if f.children.len() > 1 {
        return Err(S3Error::malformed_xml().with(
            "Detail",
            "a Filter holds one condition; several go inside <And>",
        ));
    }
    let mut object = ObjectFilter::default();
    let mut prefix = String::new();
    let (conditions, and) = match f.children.first() {
        Some(a) if a.name == "And" => (&a.children, true),
        _ => (&f.children, false),
    };
    object.and = and;
    for c in conditions {
        match c.name.as_str() {
            "Prefix" => prefix = c.text.clone(),
            // Key and Value both present (Value may be empty), as S3's schema has them.
            "Tag" => match (c.child_text("Key"), c.child("Value")) {
                (Some(k), Some(v)) if !k.is_empty() => {
                    object.tags.push((k.to_string(), v.text.clone()));
                }
                _ => return Err(S3Error::malformed_xml()),
            },
            "ObjectSizeGreaterThan" => object.size_greater_than = Some(size(c)?),
            "ObjectSizeLessThan" => object.size_less_than = Some(size(c)?),
            _ => return Err(S3Error::malformed_xml()),
        }
    }
    Ok((prefix, object))
}

fn size(n: &Node) -> Result<u64, S3Error> {
    n.text.trim().parse().map_err(|_| {
        S3Error::invalid_argument(format!("'{}' must be a non-negative integer", n.name))
    })
}
