//! The admin API over hyper: requests signed with SigV4 (payload hash = the body's SHA-256),
//! JSON in and out, files streamed both ways with a progress line.

use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use gatehouse_s3::auth::sigv4::{SigningParams, sign_request_v4};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::credentials::Credentials;
use super::error::{ClientError, Exit, OutputClosed};
use super::progress::Progress;

type Body = BoxBody<Bytes, std::io::Error>;

/// The TLS client settings: for an `https://` server the system's roots and those of the
/// `cacert` file; for `http://` none (nothing is read, so a CA file meant for another server
/// does not stand in the way). rustls with ring, as the server's own listeners.
fn tls_config(
    https: bool,
    cacert: Option<&Path>,
) -> anyhow::Result<tokio_rustls::rustls::ClientConfig> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    if https {
        // Roots the system cannot read (a missing bundle) leave only --cacert's.
        let system = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(system.certs);
    }
    if let Some(file) = cacert.filter(|_| https) {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
            .and_then(|i| i.collect::<Result<_, _>>())
            .map_err(|e| ClientError::usage(format!("--cacert {}: {e}", file.display())))?;
        if certs.is_empty() {
            return Err(ClientError::usage(format!(
                "--cacert {}: no PEM certificate in it",
                file.display()
            ))
            .into());
        }
        for c in certs {
            roots
                .add(c)
                .map_err(|e| ClientError::usage(format!("--cacert {}: {e}", file.display())))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Read size of uploads: large enough for throughput, small enough for a smooth progress line.
const FRAME: usize = 256 << 10;
/// Any region signs; the server accepts them all, as S3 does.
const REGION: &str = "us-east-1";

pub struct Api {
    http: Client<HttpsConnector<HttpConnector>, Body>,
    /// `http://host:port` or `https://host:port`.
    base: String,
    prefix: String,
    host: HeaderValue,
    creds: Option<Credentials>,
}

impl Api {
    /// `creds` is `None` for the endpoints that need no authentication (info, join);
    /// `cacert`: CA certificates (PEM) trusted for an `https://` server besides the system's.
    pub fn new(
        server: &str,
        cacert: Option<&Path>,
        creds: Option<Credentials>,
    ) -> anyhow::Result<Api> {
        let uri: http::Uri = server
            .parse()
            .map_err(|_| ClientError::usage(format!("--server {server:?} is not a URL")))?;
        let scheme = match uri.scheme_str() {
            Some(s @ ("http" | "https")) => s,
            _ => {
                return Err(ClientError::usage(format!(
                    "--server {server}: an http:// or https:// URL"
                ))
                .into());
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| ClientError::usage(format!("--server {server} has no host")))?
            .to_string();
        let prefix = uri.path().trim_end_matches('/').to_string();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(scheme == "https", cacert)?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Api {
            http: Client::builder(TokioExecutor::new()).build(connector),
            base: format!("{scheme}://{authority}"),
            prefix,
            host: HeaderValue::from_str(&authority)?,
            creds,
        })
    }

    pub fn server(&self) -> String {
        format!("{}{}", self.base, self.prefix)
    }

    /// `host:port` of the server URL (what the user reaches the server by).
    pub fn authority(&self) -> &str {
        self.base
            .split_once("://")
            .map_or(self.base.as_str(), |(_, a)| a)
    }

    /// Sends one request; `path` starts with `/api/`, its parts already encoded with [`seg`].
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &str,
        mut headers: HeaderMap,
        body: Body,
        payload_hash: &str,
    ) -> anyhow::Result<http::Response<Incoming>> {
        let path = format!("{}{path}", self.prefix);
        headers.insert(http::header::HOST, self.host.clone());
        let query = (!query.is_empty()).then_some(query);
        if let Some(c) = &self.creds {
            sign_request_v4(
                method.as_str(),
                &path,
                query,
                &mut headers,
                payload_hash,
                &SigningParams {
                    access_key: &c.access_key,
                    secret_key: &c.secret_key,
                    region: REGION,
                    time: SystemTime::now(),
                },
            )
            .map_err(|e| anyhow!("signing the request: {e}"))?;
        }
        let url = match query {
            Some(q) => format!("{}{path}?{q}", self.base),
            None => format!("{}{path}", self.base),
        };
        let mut req = Request::builder().method(method).uri(url).body(body)?;
        *req.headers_mut() = headers;
        self.http.request(req).await.map_err(|e| {
            ClientError::unreachable(format!(
                "cannot reach the server at {}: {}",
                self.server(),
                root_cause(&e)
            ))
            .into()
        })
    }

    /// A JSON request (`body` serialized when given); the JSON reply, `Value::Null` when the
    /// server answered without a body (204).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: Option<&impl Serialize>,
    ) -> anyhow::Result<Value> {
        let mut headers = HeaderMap::new();
        let bytes = match body {
            Some(b) => {
                headers.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                Bytes::from(serde_json::to_vec(b)?)
            }
            None => Bytes::new(),
        };
        let hash = hex::encode(Sha256::digest(&bytes));
        let body = if bytes.is_empty() {
            Empty::new().map_err(|never| match never {}).boxed()
        } else {
            Full::new(bytes).map_err(|never| match never {}).boxed()
        };
        let resp = self.send(method, path, query, headers, body, &hash).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            return Err(server_error(status, &bytes));
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).context("the server's reply is not JSON")
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &str) -> anyhow::Result<T> {
        let v = self.call(Method::GET, path, query, None::<&()>).await?;
        serde_json::from_value(v).context("unexpected reply from the server")
    }

    /// Streams `file` as the body of a PUT. The file is read twice: once for its SHA-256 (the
    /// signed payload hash, which the server verifies before the object becomes visible), once
    /// to send it; neither pass holds more than one frame in memory.
    pub async fn put_file(&self, path: &str, file: &Path) -> anyhow::Result<Value> {
        let len = std::fs::metadata(file)
            .with_context(|| format!("reading {}", file.display()))?
            .len();
        let hash = sha256_file(file).await?;
        let f = tokio::fs::File::open(file)
            .await
            .with_context(|| format!("opening {}", file.display()))?;
        let mut progress = Progress::new("upload", Some(len));
        let frames = futures_util::stream::unfold(Some(f), move |state| async move {
            let mut f = state?;
            let mut buf = vec![0u8; FRAME];
            match f.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(Frame::data(Bytes::from(buf))), Some(f)))
                }
                Err(e) => Some((Err(e), None)),
            }
        });
        let frames = futures_util::StreamExt::inspect(frames, move |r| {
            if let Ok(f) = r
                && let Some(d) = f.data_ref()
            {
                progress.add(d.len() as u64);
            }
        });
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let body = StreamBody::new(frames).boxed();
        let resp = self
            .send(Method::PUT, path, "", headers, body, &hash)
            .await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            return Err(server_error(status, &bytes));
        }
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Streams the body of a GET into `out`; returns the number of bytes written.
    pub async fn get_to<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        path: &str,
        query: &str,
        out: &mut W,
    ) -> anyhow::Result<u64> {
        let empty = hex::encode(Sha256::digest(b""));
        let body = Empty::new().map_err(|never| match never {}).boxed();
        let resp = self
            .send(Method::GET, path, query, HeaderMap::new(), body, &empty)
            .await?;
        let status = resp.status();
        if !status.is_success() {
            let bytes = resp.into_body().collect().await?.to_bytes();
            return Err(server_error(status, &bytes));
        }
        let total = resp
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut progress = Progress::new("download", total);
        let mut body = resp.into_body();
        let mut written = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.context("the download was cut off")?;
            if let Ok(data) = frame.into_data() {
                out.write_all(&data).await.map_err(closed_or)?;
                written += data.len() as u64;
                progress.add(data.len() as u64);
            }
        }
        out.flush().await.map_err(closed_or)?;
        if let Some(t) = total
            && t != written
        {
            bail!("the download ended after {written} of {t} bytes");
        }
        Ok(written)
    }
}

/// AWS URI encoding of one path segment or query value: everything but `A-Z a-z 0-9 - . _ ~`.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An object key in a path: each `/`-separated part encoded, the slashes kept.
pub fn key_path(key: &str) -> String {
    key.split('/').map(seg).collect::<Vec<_>>().join("/")
}

/// `name=value&…` for the pairs whose value is present.
pub fn query(pairs: &[(&str, Option<&str>)]) -> String {
    pairs
        .iter()
        .filter_map(|(n, v)| v.map(|v| format!("{n}={}", seg(v))))
        .collect::<Vec<_>>()
        .join("&")
}

/// A write to the download's destination failed: a reader that closed its pipe is no failure.
fn closed_or(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        OutputClosed.into()
    } else {
        anyhow::Error::new(e).context("writing the download")
    }
}

/// The server's own words: its JSON `message` (and `error` code) when there is one; the exit
/// class from the status.
fn server_error(status: StatusCode, body: &[u8]) -> anyhow::Error {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .and_then(Value::as_str)
        .map_or_else(|| format!("http.{}", status.as_u16()), str::to_string);
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
            format!("HTTP {status}: {}", text.trim())
        });
    let (exit, message) = match status {
        StatusCode::UNAUTHORIZED => (
            Exit::Denied,
            format!(
                "{message} (give --credentials FILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or --data-dir)"
            ),
        ),
        StatusCode::FORBIDDEN => (Exit::Denied, message),
        StatusCode::NOT_FOUND => (Exit::NotFound, message),
        _ => (Exit::Other, message),
    };
    ClientError::new(exit, code, message).into()
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

async fn sha256_file(file: &Path) -> anyhow::Result<String> {
    let file = file.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut f =
            std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(hex::encode(h.finalize()))
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding() {
        assert_eq!(seg("a b+c/d"), "a%20b%2Bc%2Fd");
        assert_eq!(key_path("dir/a b.txt"), "dir/a%20b.txt");
        assert_eq!(
            query(&[
                ("user", Some("al ice")),
                ("bucket", None),
                ("role", Some("r"))
            ]),
            "user=al%20ice&role=r"
        );
    }
}
