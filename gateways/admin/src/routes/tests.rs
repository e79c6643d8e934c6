//! The OpenAPI document against the route table: every routed (method, path) is documented and
//! every documented one is routed, except the few in [`PENDING_ROUTES`].

use std::collections::BTreeSet;

use super::info::OPENAPI;
use super::route_list;

/// Documented endpoints whose handlers live on other branches (none at the moment). Delete
/// each line when its route lands in
/// `endpoints()`; the test fails on a line that is routed already, so none can linger.
const PENDING_ROUTES: &[(&str, &str)] = &[];

/// axum's `{*rest}` is OpenAPI's `{rest}`.
fn openapi_path(axum_path: &str) -> String {
    axum_path.replace("{*", "{")
}

fn documented() -> BTreeSet<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "an OpenAPI 3.x document"
    );
    assert_eq!(
        doc["info"]["version"],
        env!("CARGO_PKG_VERSION"),
        "openapi.json's info.version follows the crate version"
    );
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().expect("path item") {
            if ["get", "put", "post", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                out.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn openapi_documents_exactly_the_routes() {
    let routed: BTreeSet<(String, String)> = route_list()
        .into_iter()
        .map(|(m, p)| (m.to_string(), openapi_path(p)))
        .collect();
    let pending: BTreeSet<(String, String)> = PENDING_ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let documented = documented();

    let undocumented: Vec<_> = routed.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routed but missing from openapi.json: {undocumented:?}"
    );
    let unrouted: Vec<_> = documented
        .difference(&routed)
        .filter(|e| !pending.contains(*e))
        .collect();
    assert!(
        unrouted.is_empty(),
        "in openapi.json but not routed (nor pending): {unrouted:?}"
    );
    let landed: Vec<_> = pending.intersection(&routed).collect();
    assert!(
        landed.is_empty(),
        "routed now: delete from PENDING_ROUTES: {landed:?}"
    );
    let stale: Vec<_> = pending.difference(&documented).collect();
    assert!(stale.is_empty(), "pending but not documented: {stale:?}");
}

#[test]
fn every_path_parameter_is_declared() {
    let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("JSON");
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let declared: BTreeSet<&str> = item["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        let named: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        assert_eq!(declared, named, "path parameters of {path}");
    }
}

#[test]
fn the_table_builds_and_lists_no_endpoint_twice() {
    let _router = super::table();
    let list = route_list();
    let unique: BTreeSet<_> = list.iter().collect();
    assert_eq!(unique.len(), list.len(), "{list:?}");
}

/// What the route table declares each endpoint takes is what `openapi.json` documents: its
/// query parameters by name, and its body (none, JSON required or optional, raw bytes).
#[test]
fn declared_queries_and_bodies_match_the_document() {
    use crate::takes::BodyKind;
    let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("JSON");
    for (method, path, takes) in super::takes_list() {
        let op = &doc["paths"][openapi_path(path)][method.to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {path} documented");
        let documented: BTreeSet<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .filter_map(|p| p["name"].as_str())
            .collect();
        let declared: BTreeSet<&str> = takes.query.iter().copied().collect();
        assert_eq!(declared, documented, "query parameters of {method} {path}");
        let body = &op["requestBody"];
        let json = body["content"]["application/json"].is_object();
        let want = match (body.is_object(), json, body["required"].as_bool()) {
            (false, _, _) => BodyKind::None,
            (true, true, Some(true)) => BodyKind::Json,
            (true, true, _) => BodyKind::OptionalJson,
            (true, false, _) => BodyKind::Bytes,
        };
        assert_eq!(takes.body, want, "body of {method} {path}");
    }
}
