//! The route table. Every endpoint of the API is listed here, once, in [`endpoints`]: the
//! router is built from that list and [`route_list`] reads it back, so the OpenAPI document
//! (`openapi.json`, served at `GET /api/openapi.json`) can be checked against the real table.
//!
//! Unauthenticated: `GET /api/health`, `GET /api/info`, `GET /api/openapi.json`,
//! `POST /api/join/nonce`, `POST /api/join`, and `/api/session` (sign-in checks the secret
//! itself). Everything else takes a [`Caller`](crate::auth::Caller) and runs as its principal.
//! Beside the API, [`table`] serves the web page (`/`, `/assets/…`, see [`crate::web`]).

mod access;
mod backup;
mod bucket_policy;
mod buckets;
mod info;
mod kms;
mod object_lock;
mod objects;
mod peers;
mod replication;
mod session;
mod shares;
mod snapshots;
mod storage;
mod users;
mod versions;

use axum::Router;
use axum::extract::Request;
use axum::handler::Handler;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::AdminState;
use crate::error::ApiError;
use crate::takes::{BodyKind, Takes};
use crate::web;

/// The methods this API uses (`HEAD` is answered by every `GET` route).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum M {
    Get,
    Post,
    Put,
    Delete,
}

impl M {
    fn as_str(self) -> &'static str {
        match self {
            M::Get => "GET",
            M::Post => "POST",
            M::Put => "PUT",
            M::Delete => "DELETE",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            M::Get => MethodFilter::GET,
            M::Post => MethodFilter::POST,
            M::Put => MethodFilter::PUT,
            M::Delete => MethodFilter::DELETE,
        }
    }
}

struct Endpoint {
    method: M,
    /// axum syntax: `{name}` for a segment, `{*name}` for the rest of the path.
    path: &'static str,
    route: MethodRouter<AdminState>,
    /// Its query names and body, checked before the handler (`crate::takes`).
    takes: Takes,
}

/// An endpoint that takes no query parameters and no body; the builders below say otherwise.
fn ep<H, T>(method: M, path: &'static str, handler: H) -> Endpoint
where
    H: Handler<T, AdminState>,
    T: 'static,
{
    Endpoint {
        method,
        path,
        route: on(method.filter(), handler),
        takes: Takes::NOTHING,
    }
}

impl Endpoint {
    /// The query parameters it reads.
    fn query(mut self, names: &'static [&'static str]) -> Self {
        self.takes.query = names;
        self
    }

    /// A JSON object body.
    fn json(mut self) -> Self {
        self.takes.body = BodyKind::Json;
        self
    }

    /// A JSON object body, or none.
    fn optional_json(mut self) -> Self {
        self.takes.body = BodyKind::OptionalJson;
        self
    }

    /// Raw bytes of any type.
    fn bytes(mut self) -> Self {
        self.takes.body = BodyKind::Bytes;
        self
    }
}

/// Every endpoint: method, path, handler.
fn endpoints() -> Vec<Endpoint> {
    use M::{Delete, Get, Post, Put};
    vec![
        ep(Get, "/api/health", info::health),
        ep(Get, "/api/info", info::info),
        ep(Get, "/api/openapi.json", info::openapi),
        ep(Get, "/api/session", session::show),
        ep(Post, "/api/session", session::sign_in).json(),
        ep(Delete, "/api/session", session::sign_out),
        ep(Get, "/api/me", info::me),
        ep(Get, "/api/me/nfs-token", info::nfs_token),
        ep(Get, "/api/panels", info::panels),
        ep(Get, "/api/storage", storage::status),
        ep(Post, "/api/gc", storage::gc),
        ep(Post, "/api/fsck", storage::fsck).query(&["rate_mib"]),
        ep(Get, "/api/backup", backup::backup),
        ep(Get, "/metrics", info::metrics),
        ep(Get, "/api/users", users::list),
        ep(Post, "/api/users", users::register).json(),
        ep(Get, "/api/users/{who}", users::show),
        ep(Delete, "/api/users/{who}", users::remove),
        ep(Post, "/api/users/{who}/rotate", users::rotate),
        ep(Post, "/api/join/nonce", users::join_nonce),
        ep(Post, "/api/join", users::join).json(),
        ep(Get, "/api/groups", access::list_groups),
        ep(Post, "/api/groups", access::create_group).json(),
        ep(Delete, "/api/groups/{group}", access::delete_group),
        ep(Get, "/api/groups/{group}/members", access::members),
        ep(Put, "/api/groups/{group}/members/{who}", access::add_member),
        ep(
            Delete,
            "/api/groups/{group}/members/{who}",
            access::remove_member,
        ),
        ep(Get, "/api/roles", access::list_roles),
        ep(Post, "/api/roles", access::create_role).json(),
        ep(Delete, "/api/roles/{role}", access::delete_role),
        ep(Get, "/api/bindings", access::list_bindings).query(&["user"]),
        ep(Post, "/api/bindings", access::bind).json(),
        ep(Delete, "/api/bindings", access::unbind)
            .query(&["user", "group", "role", "bucket", "panel", "key"]),
        ep(Get, "/api/buckets", buckets::list),
        ep(Post, "/api/buckets", buckets::create).json(),
        ep(Get, "/api/buckets/{bucket}", buckets::info),
        ep(Delete, "/api/buckets/{bucket}", buckets::delete),
        ep(Post, "/api/buckets/{bucket}/presign", objects::presign).json(),
        ep(
            Get,
            "/api/buckets/{bucket}/versioning",
            versions::get_versioning,
        ),
        ep(
            Put,
            "/api/buckets/{bucket}/versioning",
            versions::set_versioning,
        )
        .json(),
        ep(Put, "/api/buckets/{bucket}/quota", buckets::set_quota).json(),
        ep(
            Put,
            "/api/buckets/{bucket}/encryption",
            buckets::set_encryption,
        )
        .json(),
        ep(Get, "/api/kms/keys", kms::list),
        ep(Post, "/api/kms/keys", kms::create).optional_json(),
        ep(Get, "/api/kms/keys/{key}", kms::describe),
        ep(Post, "/api/kms/keys/{key}/enable", kms::enable),
        ep(Post, "/api/kms/keys/{key}/disable", kms::disable),
        ep(Post, "/api/kms/keys/{key}/rotate", kms::rotate),
        ep(
            Post,
            "/api/kms/keys/{key}/schedule-deletion",
            kms::schedule_deletion,
        )
        .optional_json(),
        ep(
            Post,
            "/api/kms/keys/{key}/cancel-deletion",
            kms::cancel_deletion,
        ),
        ep(Get, "/api/kms/keys/{key}/audit", kms::key_audit).query(&["limit"]),
        ep(Get, "/api/kms/audit", kms::audit).query(&["limit"]),
        ep(Get, "/api/buckets/{bucket}/policy", bucket_policy::get),
        ep(Put, "/api/buckets/{bucket}/policy", bucket_policy::set).json(),
        ep(Get, "/api/buckets/{bucket}/object-lock", object_lock::get),
        ep(Put, "/api/buckets/{bucket}/object-lock", object_lock::set).json(),
        ep(Get, "/api/buckets/{bucket}/versions", versions::list).query(&[
            "prefix",
            "delimiter",
            "key",
            "key_marker",
            "version_id_marker",
            "max_keys",
        ]),
        ep(Post, "/api/buckets/{bucket}/restore", versions::restore).json(),
        ep(
            Get,
            "/api/buckets/{bucket}/metadata/{*key}",
            objects::metadata,
        ),
        ep(Get, "/api/buckets/{bucket}/objects", objects::list).query(&[
            "prefix",
            "delimiter",
            "start_after",
            "continuation_token",
            "max_keys",
        ]),
        ep(Get, "/api/buckets/{bucket}/objects/{*key}", objects::get).query(&["version_id"]),
        ep(Put, "/api/buckets/{bucket}/objects/{*key}", objects::put).bytes(),
        ep(
            Delete,
            "/api/buckets/{bucket}/objects/{*key}",
            objects::delete,
        )
        .query(&["version_id"]),
        ep(Get, "/api/shares", shares::list).query(&["deleted"]),
        ep(Post, "/api/shares", shares::create).json(),
        ep(Get, "/api/shares/{name}", shares::show),
        ep(Delete, "/api/shares/{name}", shares::delete),
        ep(Post, "/api/shares/{name}/restore", shares::restore),
        ep(
            Put,
            "/api/shares/{name}/snapshot-retention",
            snapshots::retention,
        )
        .json(),
        ep(Get, "/api/shares/{name}/snapshots", snapshots::list),
        ep(Post, "/api/shares/{name}/snapshots", snapshots::create).optional_json(),
        ep(
            Delete,
            "/api/shares/{name}/snapshots/{snapshot}",
            snapshots::delete,
        ),
        ep(
            Post,
            "/api/shares/{name}/snapshots/{snapshot}/restore",
            snapshots::restore,
        )
        .json(),
        ep(Get, "/api/peers", peers::list),
        ep(Post, "/api/peers", peers::add).json(),
        ep(Delete, "/api/peers/{address}", peers::remove),
        ep(
            Get,
            "/api/replication/connections",
            replication::list_connections,
        ),
        ep(
            Post,
            "/api/replication/connections",
            replication::add_connection,
        )
        .json(),
        ep(
            Delete,
            "/api/replication/connections/{name}",
            replication::remove_connection,
        ),
        ep(Get, "/api/replication/rules", replication::list_rules),
        ep(
            Get,
            "/api/replication/rules/{bucket}",
            replication::show_rule,
        ),
        ep(
            Put,
            "/api/replication/rules/{bucket}",
            replication::set_rule,
        )
        .json(),
        ep(
            Delete,
            "/api/replication/rules/{bucket}",
            replication::remove_rule,
        ),
        ep(
            Post,
            "/api/replication/rules/{bucket}/pause",
            replication::pause,
        ),
        ep(
            Post,
            "/api/replication/rules/{bucket}/resume",
            replication::resume,
        ),
        ep(
            Get,
            "/api/replication/rules/{bucket}/failed",
            replication::failed,
        ),
    ]
}

/// (method, path) of every endpoint, in table order, paths in axum syntax.
pub fn route_list() -> Vec<(&'static str, &'static str)> {
    endpoints()
        .into_iter()
        .map(|e| (e.method.as_str(), e.path))
        .collect()
}

/// (method, path, what it takes) of every endpoint, for the OpenAPI check.
#[cfg(test)]
fn takes_list() -> Vec<(&'static str, &'static str, Takes)> {
    endpoints()
        .into_iter()
        .map(|e| (e.method.as_str(), e.path, e.takes))
        .collect()
}

pub fn table() -> Router<AdminState> {
    // One method router per path, in first-seen order (axum refuses a path routed twice).
    let mut by_path: Vec<(&'static str, MethodRouter<AdminState>)> = Vec::new();
    for e in endpoints() {
        let takes = e.takes;
        let route = e.route.layer(axum::middleware::from_fn(move |req, next| {
            crate::takes::check(takes, req, next)
        }));
        match by_path.iter().position(|(p, _)| *p == e.path) {
            Some(i) => {
                let (p, r) = by_path.swap_remove(i);
                by_path.push((p, r.merge(route)));
            }
            None => by_path.push((e.path, route)),
        }
    }
    by_path
        .into_iter()
        .fold(web::routes(), |r, (path, mr)| r.route(path, mr))
        .fallback(no_such_route)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn no_such_route(req: Request) -> Response {
    ApiError::not_found_route(req.method().as_str(), req.uri().path()).into_response()
}

async fn method_not_allowed(req: Request) -> Response {
    ApiError::method_not_allowed(req.method().as_str(), req.uri().path()).into_response()
}

#[cfg(test)]
mod tests;
