//! `?lifecycle` on a bucket: Expiration (Days, ExpiredObjectDeleteMarker),
//! NoncurrentVersionExpiration (NoncurrentDays, NewerNoncurrentVersions) and
//! AbortIncompleteMultipartUpload rules with a prefix filter. What S3 has beyond that
//! (transitions, dates, tag/size filters) is refused with `NotImplemented`, never silently
//! ignored.

use axum::body::Body;
use axum::response::Response;
use gatehouse_store::Store;
use gatehouse_store::model::LifecycleRule;
use http::StatusCode;

use super::{empty, xml_body, xml_ok};
use crate::auth::PayloadMode;
use crate::error::S3Error;
use crate::request::Ctx;
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
            w.open("Filter");
            w.elem("Prefix", &r.prefix);
            w.close("Filter");
        }
        w.elem("Status", if r.enabled { "Enabled" } else { "Disabled" });
        if let Some(d) = r.expiration_days {
            w.open("Expiration");
            w.elem("Days", &d.to_string());
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
    let prefix = super::rule_prefix(r, "lifecycle")?;
    let enabled = match r.child_text("Status").map(str::trim) {
        Some("Enabled") => true,
        Some("Disabled") => false,
        _ => return Err(S3Error::malformed_xml()),
    };
    let (expiration_days, expired_object_delete_marker) = match r.child("Expiration") {
        None => (None, false),
        Some(e) => {
            if e.child("Date").is_some() {
                return Err(S3Error::not_implemented("lifecycle Expiration by Date"));
            }
            let marker = match e.child_text("ExpiredObjectDeleteMarker").map(str::trim) {
                None | Some("false") => false,
                Some("true") => true,
                Some(_) => return Err(S3Error::malformed_xml()),
            };
            let days = match e.child("Days") {
                Some(d) => Some(days(d, "Days")?),
                None if e.child("ExpiredObjectDeleteMarker").is_some() => None,
                None => return Err(S3Error::malformed_xml()),
            };
            if days.is_some() && marker {
                return Err(S3Error::invalid_argument(
                    "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy",
                ));
            }
            (days, marker)
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
    })
}
