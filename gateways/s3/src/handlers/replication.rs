//! `?replication` on a bucket: the AWS PutBucketReplication / GetBucketReplication /
//! DeleteBucketReplication documents mapped onto gatehouse's one rule per bucket (decision
//! 0036). The destination names a configured connection and a bucket behind it:
//! `<Bucket>arn:gatehouse:replication::CONNECTION:BUCKET</Bucket>` (as MinIO's remote-target
//! ARNs). `Status` Disabled is a paused rule; `DeleteMarkerReplication` Enabled sends deletes;
//! `ExistingObjectReplication` Enabled sends the objects already there. Setting it needs the
//! global `replication` grant (admins), as the admin API does; what AWS has beyond this (several
//! rules, tag filters, replica modifications, encryption, replication time control, storage
//! classes other than STANDARD) is refused with `NotImplemented`, never ignored.

use axum::body::Body;
use axum::response::Response;
use gatehouse_store::replication::RuleSpec;
use gatehouse_store::{Store, StoreError};
use http::StatusCode;

use super::{empty, xml_body, xml_ok};
use crate::auth::PayloadMode;
use crate::error::S3Error;
use crate::request::Ctx;
use crate::xml::{Node, XmlWriter};

const ARN_PREFIX: &str = "arn:gatehouse:replication::";
/// What GetBucketReplication shows as the role when none was given (a rule from the CLI or the
/// admin API): the server's own worker. A given role is kept and shown back, not assumed: the
/// connection's keys are what the worker sends with.
const ROLE: &str = "arn:gatehouse:iam:::role/replication";

pub fn get(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    let r = s.replication().status(&ctx.principal, ctx.bucket())?;
    let mut w = XmlWriter::new();
    w.open_root("ReplicationConfiguration");
    w.elem(
        "Role",
        if r.xml_role.is_empty() {
            ROLE
        } else {
            &r.xml_role
        },
    );
    w.open("Rule");
    w.elem(
        "ID",
        if r.xml_id.is_empty() {
            "gatehouse"
        } else {
            &r.xml_id
        },
    );
    w.elem("Priority", "1");
    w.elem("Status", if r.paused { "Disabled" } else { "Enabled" });
    w.open("Filter");
    w.elem("Prefix", &r.prefix);
    w.close("Filter");
    w.open("Destination");
    w.elem(
        "Bucket",
        &format!("{ARN_PREFIX}{}:{}", r.connection, r.target_bucket),
    );
    w.close("Destination");
    w.open("DeleteMarkerReplication");
    w.elem("Status", if r.deletes { "Enabled" } else { "Disabled" });
    w.close("DeleteMarkerReplication");
    w.close("Rule");
    w.close("ReplicationConfiguration");
    Ok(xml_ok(w))
}

pub async fn put(
    s: &Store,
    ctx: &Ctx,
    body: Body,
    payload: &PayloadMode,
) -> Result<Response, S3Error> {
    let doc = xml_body(ctx, body, payload, 64 * 1024).await?;
    let spec = parse(&doc)?;
    s.replication()
        .set_rule(&ctx.principal, ctx.bucket(), spec)
        .await?;
    Ok(empty(StatusCode::OK))
}

pub async fn delete(s: &Store, ctx: &Ctx) -> Result<Response, S3Error> {
    match s
        .replication()
        .remove_rule(&ctx.principal, ctx.bucket())
        .await
    {
        // Nothing to delete is the state asked for (as AWS answers).
        Ok(()) | Err(StoreError::NoSuchReplicationConfiguration) => {
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Err(e) => Err(e.into()),
    }
}

fn status(n: Option<&Node>, what: &str) -> Result<Option<bool>, S3Error> {
    match n.map(|n| n.child_text("Status").map(str::trim)) {
        None => Ok(None),
        Some(Some("Enabled")) => Ok(Some(true)),
        Some(Some("Disabled")) => Ok(Some(false)),
        Some(_) => Err(S3Error::invalid_argument(format!(
            "{what} Status must be Enabled or Disabled"
        ))),
    }
}

fn parse(doc: &Node) -> Result<RuleSpec, S3Error> {
    if doc.name != "ReplicationConfiguration" {
        return Err(S3Error::malformed_xml());
    }
    for c in &doc.children {
        if c.name != "Role" && c.name != "Rule" {
            return Err(S3Error::malformed_xml());
        }
    }
    let rules: Vec<&Node> = doc.children_named("Rule").collect();
    let rule = match rules.as_slice() {
        [one] => *one,
        [] => return Err(S3Error::malformed_xml()),
        _ => {
            return Err(S3Error::not_implemented(
                "more than one replication rule per bucket",
            ));
        }
    };
    for c in &rule.children {
        match c.name.as_str() {
            "ID"
            | "Priority"
            | "Status"
            | "Filter"
            | "Prefix"
            | "Destination"
            | "DeleteMarkerReplication"
            | "ExistingObjectReplication" => {}
            "SourceSelectionCriteria" => {
                return Err(S3Error::not_implemented(
                    "replication SourceSelectionCriteria",
                ));
            }
            _ => return Err(S3Error::malformed_xml()),
        }
    }
    let prefix = super::rule_prefix(rule, "replication")?;
    let enabled = status(Some(rule), "Rule")?.ok_or_else(S3Error::malformed_xml)?;
    let dest = rule
        .child("Destination")
        .ok_or_else(S3Error::malformed_xml)?;
    for c in &dest.children {
        match c.name.as_str() {
            "Bucket" => {}
            "StorageClass" if c.text.trim() == "STANDARD" => {}
            other => {
                return Err(S3Error::not_implemented(&format!(
                    "the replication destination's {other}"
                )));
            }
        }
    }
    let arn = dest.child_text("Bucket").map(str::trim).unwrap_or("");
    let Some((connection, target)) = arn
        .strip_prefix(ARN_PREFIX)
        .and_then(|rest| rest.split_once(':'))
    else {
        return Err(S3Error::invalid_argument(format!(
            "the destination bucket must be {ARN_PREFIX}CONNECTION:BUCKET, naming a \
             connection made with `gatehouse replication connection add` (got {arn:?})"
        )));
    };
    let deletes = status(
        rule.child("DeleteMarkerReplication"),
        "DeleteMarkerReplication",
    )?
    .unwrap_or(false);
    let existing = status(
        rule.child("ExistingObjectReplication"),
        "ExistingObjectReplication",
    )?
    .unwrap_or(false);
    Ok(RuleSpec {
        connection: connection.to_string(),
        target_bucket: target.to_string(),
        prefix,
        deletes,
        existing,
        paused: !enabled,
        xml_id: rule.child_text("ID").unwrap_or("").trim().to_string(),
        xml_role: doc.child_text("Role").unwrap_or("").trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(x: &str) -> Node {
        crate::xml::parse(x.as_bytes()).expect("xml")
    }

    #[test]
    fn aws_document_maps_to_one_rule() {
        let spec = parse(&doc(
            "<ReplicationConfiguration><Role>arn:aws:iam::1:role/x</Role><Rule><ID>r</ID>\
             <Priority>1</Priority><Status>Enabled</Status><Filter><Prefix>logs/</Prefix></Filter>\
             <Destination><Bucket>arn:gatehouse:replication::site-b:backup</Bucket></Destination>\
             <DeleteMarkerReplication><Status>Enabled</Status></DeleteMarkerReplication>\
             <ExistingObjectReplication><Status>Enabled</Status></ExistingObjectReplication>\
             </Rule></ReplicationConfiguration>",
        ))
        .expect("parses");
        assert_eq!(spec.connection, "site-b");
        assert_eq!(spec.target_bucket, "backup");
        assert_eq!(spec.prefix, "logs/");
        assert!(spec.deletes && spec.existing && !spec.paused);
    }

    #[test]
    fn what_is_not_built_is_refused() {
        let two = "<ReplicationConfiguration><Rule><Status>Enabled</Status><Destination>\
                   <Bucket>arn:gatehouse:replication::a:b</Bucket></Destination></Rule><Rule>\
                   <Status>Enabled</Status><Destination><Bucket>arn:gatehouse:replication::a:c\
                   </Bucket></Destination></Rule></ReplicationConfiguration>";
        assert_eq!(parse(&doc(two)).unwrap_err().code, "NotImplemented");
        let aws_arn = "<ReplicationConfiguration><Rule><Status>Enabled</Status><Destination>\
                       <Bucket>arn:aws:s3:::b</Bucket></Destination></Rule>\
                       </ReplicationConfiguration>";
        assert_eq!(parse(&doc(aws_arn)).unwrap_err().code, "InvalidArgument");
        let tag = "<ReplicationConfiguration><Rule><Status>Enabled</Status><Filter><Tag><Key>a\
                   </Key><Value>b</Value></Tag></Filter><Destination><Bucket>\
                   arn:gatehouse:replication::a:b</Bucket></Destination></Rule>\
                   </ReplicationConfiguration>";
        assert_eq!(parse(&doc(tag)).unwrap_err().code, "NotImplemented");
        let rtc = "<ReplicationConfiguration><Rule><Status>Enabled</Status><Destination><Bucket>\
                   arn:gatehouse:replication::a:b</Bucket><ReplicationTime/></Destination></Rule>\
                   </ReplicationConfiguration>";
        assert_eq!(parse(&doc(rtc)).unwrap_err().code, "NotImplemented");
    }
}
