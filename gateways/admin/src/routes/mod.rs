//! The route table. Every endpoint of the API is listed here, once.
//!
//! Unauthenticated: the web page (`/`, `/assets/…`), `GET /api/info`, `POST /api/join/nonce`,
//! `POST /api/join`, and `/api/session` (sign-in checks the secret itself). Everything else
//! takes a [`Caller`](crate::auth::Caller) and runs as its principal.

mod access;
mod buckets;
mod info;
mod objects;
mod peers;
mod session;
mod shares;
mod users;

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};

use crate::AdminState;
use crate::error::ApiError;
use crate::web;

pub fn table() -> Router<AdminState> {
    Router::new()
        .route("/", get(web::index))
        .route("/assets/app.js", get(web::app_js))
        .route("/assets/app.css", get(web::app_css))
        .route(
            "/api/session",
            get(session::show)
                .post(session::sign_in)
                .delete(session::sign_out),
        )
        .route("/api/info", get(info::info))
        .route("/api/me", get(info::me))
        .route("/api/panels", get(info::panels))
        .route("/api/users", get(users::list).post(users::register))
        .route("/api/users/{who}", get(users::show).delete(users::remove))
        .route("/api/users/{who}/rotate", post(users::rotate))
        .route("/api/join/nonce", post(users::join_nonce))
        .route("/api/join", post(users::join))
        .route(
            "/api/groups",
            get(access::list_groups).post(access::create_group),
        )
        .route(
            "/api/groups/{group}",
            axum::routing::delete(access::delete_group),
        )
        .route("/api/groups/{group}/members", get(access::members))
        .route(
            "/api/groups/{group}/members/{who}",
            put(access::add_member).delete(access::remove_member),
        )
        .route(
            "/api/roles",
            get(access::list_roles).post(access::create_role),
        )
        .route(
            "/api/roles/{role}",
            axum::routing::delete(access::delete_role),
        )
        .route(
            "/api/bindings",
            get(access::list_bindings)
                .post(access::bind)
                .delete(access::unbind),
        )
        .route("/api/buckets", get(buckets::list).post(buckets::create))
        .route(
            "/api/buckets/{bucket}",
            get(buckets::info).delete(buckets::delete),
        )
        .route("/api/buckets/{bucket}/objects", get(objects::list))
        .route(
            "/api/buckets/{bucket}/objects/{*key}",
            get(objects::get).put(objects::put).delete(objects::delete),
        )
        .route("/api/shares", get(shares::list).post(shares::create))
        .route(
            "/api/shares/{name}",
            get(shares::show).delete(shares::delete),
        )
        .route("/api/shares/{name}/restore", post(shares::restore))
        .route("/api/peers", get(peers::list).post(peers::add))
        .route("/api/peers/{address}", axum::routing::delete(peers::remove))
        .fallback(no_such_route)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn no_such_route(req: Request) -> Response {
    ApiError::not_found_route(req.method().as_str(), req.uri().path()).into_response()
}

async fn method_not_allowed(req: Request) -> Response {
    ApiError::method_not_allowed(req.method().as_str(), req.uri().path()).into_response()
}
