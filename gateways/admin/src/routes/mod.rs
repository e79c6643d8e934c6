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
}

fn ep<H, T>(method: M, path: &'static str, handler: H) -> Endpoint
where
    H: Handler<T, AdminState>,
    T: 'static,
{
    Endpoint {
        method,
        path,
        route: on(method.filter(), handler),
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
        ep(Post, "/api/session", session::sign_in),
        ep(Delete, "/api/session", session::sign_out),
        ep(Get, "/api/me", info::me),
        ep(Get, "/api/me/nfs-token", info::nfs_token),
        ep(Get, "/api/panels", info::panels),
        ep(Get, "/api/storage", storage::status),
        ep(Post, "/api/gc", storage::gc),
        ep(Post, "/api/fsck", storage::fsck),
        ep(Get, "/api/backup", backup::backup),
        ep(Get, "/metrics", info::metrics),
        ep(Get, "/api/users", users::list),
        ep(Post, "/api/users", users::register),
        ep(Get, "/api/users/{who}", users::show),
        ep(Delete, "/api/users/{who}", users::remove),
        ep(Post, "/api/users/{who}/rotate", users::rotate),
        ep(Post, "/api/join/nonce", users::join_nonce),
        ep(Post, "/api/join", users::join),
        ep(Get, "/api/groups", access::list_groups),
        ep(Post, "/api/groups", access::create_group),
        ep(Delete, "/api/groups/{group}", access::delete_group),
        ep(Get, "/api/groups/{group}/members", access::members),
        ep(Put, "/api/groups/{group}/members/{who}", access::add_member),
        ep(
            Delete,
            "/api/groups/{group}/members/{who}",
            access::remove_member,
        ),
        ep(Get, "/api/roles", access::list_roles),
        ep(Post, "/api/roles", access::create_role),
        ep(Delete, "/api/roles/{role}", access::delete_role),
        ep(Get, "/api/bindings", access::list_bindings),
        ep(Post, "/api/bindings", access::bind),
        ep(Delete, "/api/bindings", access::unbind),
        ep(Get, "/api/buckets", buckets::list),
        ep(Post, "/api/buckets", buckets::create),
        ep(Get, "/api/buckets/{bucket}", buckets::info),
        ep(Delete, "/api/buckets/{bucket}", buckets::delete),
        ep(Post, "/api/buckets/{bucket}/presign", objects::presign),
        ep(
            Get,
            "/api/buckets/{bucket}/versioning",
            versions::get_versioning,
        ),
        ep(
            Put,
            "/api/buckets/{bucket}/versioning",
            versions::set_versioning,
        ),
        ep(Put, "/api/buckets/{bucket}/quota", buckets::set_quota),
        ep(
            Put,
            "/api/buckets/{bucket}/encryption",
            buckets::set_encryption,
        ),
        ep(Get, "/api/kms/keys", kms::list),
        ep(Post, "/api/kms/keys", kms::create),
        ep(Get, "/api/kms/keys/{key}", kms::describe),
        ep(Post, "/api/kms/keys/{key}/enable", kms::enable),
        ep(Post, "/api/kms/keys/{key}/disable", kms::disable),
        ep(Post, "/api/kms/keys/{key}/rotate", kms::rotate),
        ep(
            Post,
            "/api/kms/keys/{key}/schedule-deletion",
            kms::schedule_deletion,
        ),
        ep(
            Post,
            "/api/kms/keys/{key}/cancel-deletion",
            kms::cancel_deletion,
        ),
        ep(Get, "/api/kms/keys/{key}/audit", kms::key_audit),
        ep(Get, "/api/kms/audit", kms::audit),
        ep(Get, "/api/buckets/{bucket}/policy", bucket_policy::get),
        ep(Put, "/api/buckets/{bucket}/policy", bucket_policy::set),
        ep(Get, "/api/buckets/{bucket}/object-lock", object_lock::get),
        ep(Put, "/api/buckets/{bucket}/object-lock", object_lock::set),
        ep(Get, "/api/buckets/{bucket}/versions", versions::list),
        ep(Post, "/api/buckets/{bucket}/restore", versions::restore),
        ep(
            Get,
            "/api/buckets/{bucket}/metadata/{*key}",
            objects::metadata,
        ),
        ep(Get, "/api/buckets/{bucket}/objects", objects::list),
        ep(Get, "/api/buckets/{bucket}/objects/{*key}", objects::get),
        ep(Put, "/api/buckets/{bucket}/objects/{*key}", objects::put),
        ep(
            Delete,
            "/api/buckets/{bucket}/objects/{*key}",
            objects::delete,
        ),
        ep(Get, "/api/shares", shares::list),
        ep(Post, "/api/shares", shares::create),
        ep(Get, "/api/shares/{name}", shares::show),
        ep(Delete, "/api/shares/{name}", shares::delete),
        ep(Post, "/api/shares/{name}/restore", shares::restore),
        ep(
            Put,
            "/api/shares/{name}/snapshot-retention",
            snapshots::retention,
        ),
        ep(Get, "/api/shares/{name}/snapshots", snapshots::list),
        ep(Post, "/api/shares/{name}/snapshots", snapshots::create),
        ep(
            Delete,
            "/api/shares/{name}/snapshots/{snapshot}",
            snapshots::delete,
        ),
        ep(
            Post,
            "/api/shares/{name}/snapshots/{snapshot}/restore",
            snapshots::restore,
        ),
        ep(Get, "/api/peers", peers::list),
        ep(Post, "/api/peers", peers::add),
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
        ),
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
        ),
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

pub fn table() -> Router<AdminState> {
    // One method router per path, in first-seen order (axum refuses a path routed twice).
    let mut by_path: Vec<(&'static str, MethodRouter<AdminState>)> = Vec::new();
    for e in endpoints() {
        match by_path.iter().position(|(p, _)| *p == e.path) {
            Some(i) => {
                let (p, r) = by_path.swap_remove(i);
                by_path.push((p, r.merge(e.route)));
            }
            None => by_path.push((e.path, e.route)),
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
