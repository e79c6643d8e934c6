//! JSON in and out, and the request's path and query parameters.
//!
//! JSON bodies are small (at most [`JSON_LIMIT`]); a signed body's SHA-256 is checked against
//! the signature's `x-amz-content-sha256` before a byte of it is parsed. Path and query
//! rejections are answered in the API's JSON error shape, not axum's plain text.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gatehouse_s3::auth::PayloadMode;
use gatehouse_store::StoreError;
use http::request::Parts;
use http::{HeaderValue, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};

/// Largest JSON request body.
pub const JSON_LIMIT: usize = 1 << 20;

/// A JSON response.
pub fn reply(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut resp = (status, body).into_response();
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(e) => {
            ApiError::from(StoreError::Internal(format!("rendering JSON: {e}"))).into_response()
        }
    }
}

pub fn ok(value: &impl Serialize) -> Response {
    reply(StatusCode::OK, value)
}

pub fn created(value: &impl Serialize) -> Response {
    reply(StatusCode::CREATED, value)
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Reads and parses a JSON body. `payload` is what the signature asked of the body (`None`
/// for unauthenticated endpoints).
pub async fn read<T: DeserializeOwned>(payload: Option<&PayloadMode>, body: Body) -> ApiResult<T> {
    let bytes = read_small(payload, body).await?;
    parse_object(&bytes)
}

fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    // Every body of this API is an object; serde would also fill a struct from an array,
    // positionally, which no client means.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(ApiError::invalid_json("the body must be a JSON object"));
    }
    serde_json::from_slice(bytes).map_err(ApiError::invalid_json)
}

/// [`read`] for a body that may be left out: an empty one is `T::default()`.
pub async fn read_optional<T: DeserializeOwned + Default>(
    payload: Option<&PayloadMode>,
    body: Body,
) -> ApiResult<T> {
    let bytes = read_small(payload, body).await?;
    if bytes.trim_ascii().is_empty() {
        return Ok(T::default());
    }
    parse_object(&bytes)
}

/// Collects a body of at most [`JSON_LIMIT`] bytes and checks its signed hash.
pub async fn read_small(payload: Option<&PayloadMode>, body: Body) -> ApiResult<Bytes> {
    if let Some(PayloadMode::StreamingSigned { .. } | PayloadMode::StreamingUnsignedTrailer) =
        payload
    {
        return Err(streaming_refused());
    }
    let bytes = match Limited::new(body, JSON_LIMIT).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(ApiError::payload_too_large(JSON_LIMIT));
        }
        Err(e) => return Err(StoreError::Body(e.to_string()).into()),
    };
    if let Some(PayloadMode::Signed(want)) = payload
        && Sha256::digest(&bytes).as_slice() != want.as_slice()
    {
        return Err(StoreError::ContentSha256Mismatch.into());
    }
    Ok(bytes)
}

/// aws-chunked bodies belong to the S3 endpoint; this API takes a plain body with its SHA-256
/// (or `UNSIGNED-PAYLOAD`).
pub fn streaming_refused() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "api.streaming_payload",
        "aws-chunked (STREAMING-*) bodies are not accepted here: sign the body's SHA-256 \
         or send UNSIGNED-PAYLOAD",
    )
}

/// Path parameters, percent-decoded; a bad one is a JSON 400.
pub struct Param<T>(pub T);

impl<S, T> FromRequestParts<S> for Param<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(Param(v)),
            Err(e) => Err(ApiError::invalid_request(format!(
                "bad path parameter: {}",
                e.body_text()
            ))),
        }
    }
}

/// The query string as name → value (form decoding: `%XX` and `+` for space; the last of a
/// repeated name wins). Which names a route takes is declared in the route table and checked
/// before the handler runs (`crate::takes`).
pub struct Query(pub HashMap<String, String>);

impl Query {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(Query)
    }
}

pub(crate) fn parse_query(raw: &str) -> ApiResult<HashMap<String, String>> {
    let decode = |s: &str| {
        let plus = s.replace('+', " ");
        percent_encoding::percent_decode_str(&plus)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| ApiError::invalid_request("the query string is not UTF-8"))
    };
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((decode(n)?, decode(v)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query("user=a%20b&role=x+y&flag&bucket=").expect("parses");
        assert_eq!(q["user"], "a b");
        assert_eq!(q["role"], "x y");
        assert_eq!(q["flag"], "");
        let q = Query(q);
        assert_eq!(q.get("bucket"), None, "empty values count as absent");
        assert!(parse_query("x=%FF").is_err());
    }
}
