//! A minimal S3 client for the load generator: path-style requests over hyper, signed with
//! SigV4, as an SDK would send them: bodies either as `UNSIGNED-PAYLOAD` (SDKs over HTTPS) or,
//! with `Payload::Signed`, with their SHA-256 signed and an `x-amz-checksum-crc32` header, as
//! boto3 sends every PutObject and UploadPart over plain HTTP. Small enough that the client's
//! own CPU stays out of the measurements' way.

use std::convert::Infallible;
use std::time::SystemTime;

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use gatehouse_s3::auth::sigv4::{SigningParams, sign_request_v4};
use gatehouse_store::checksum::ChecksumAlgorithm;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub type Body = BoxBody<Bytes, Infallible>;

/// How object bodies are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Payload {
    /// `x-amz-content-sha256: UNSIGNED-PAYLOAD` (SDKs over HTTPS; the server hashes for MD5
    /// and BLAKE3 only).
    Unsigned,
    /// The body's SHA-256 signed and its CRC32 in `x-amz-checksum-crc32`, as boto3 sends over
    /// HTTP: the server hashes every byte for SHA-256, CRC32, MD5 and BLAKE3.
    Signed,
}

const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub struct S3Client {
    http: Client<HttpConnector, Body>,
    base: String,
    host: HeaderValue,
    access_key: String,
    secret_key: String,
    region: String,
    payload: Payload,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    async fn read(resp: http::Response<Incoming>) -> anyhow::Result<Self> {
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    fn ok(self, what: &str) -> anyhow::Result<Self> {
        if !self.status.is_success() {
            bail!(
                "{what}: HTTP {} {}",
                self.status,
                String::from_utf8_lossy(&self.body[..self.body.len().min(400)])
            );
        }
        Ok(self)
    }
    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("")
    }
    fn etag(&self) -> anyhow::Result<String> {
        Ok(self
            .headers
            .get(http::header::ETAG)
            .context("no ETag in the reply")?
            .to_str()?
            .to_string())
    }
}

/// AWS-style URI encoding of one query value or path segment.
pub fn uri_encode(s: &str) -> String {
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

/// The text of every `<name>…</name>` element (no nesting, no entities needed here).
pub fn xml_values<'a>(xml: &'a str, name: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(&after[..j]);
        rest = &after[j + close.len()..];
    }
    out
}

pub fn full(b: Bytes) -> Body {
    Full::new(b).boxed()
}

pub fn empty() -> Body {
    Empty::new().boxed()
}

/// A body sent frame by frame (large uploads without a contiguous buffer).
pub fn frames(frames: Vec<Bytes>) -> Body {
    let s = futures_util::stream::iter(frames.into_iter().map(|b| Ok(Frame::data(b))));
    StreamBody::new(s).boxed()
}

impl S3Client {
    pub fn new(
        endpoint: &str,
        access_key: &str,
        secret_key: &str,
        region: &str,
        payload: Payload,
    ) -> anyhow::Result<Self> {
        let uri: http::Uri = endpoint.parse().context("endpoint URL")?;
        ensure!(
            uri.scheme_str() == Some("http"),
            "only http:// endpoints are supported"
        );
        let auth = uri.authority().context("endpoint has no host")?.to_string();
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1024)
            .build(conn);
        Ok(S3Client {
            http,
            base: format!("http://{auth}"),
            host: HeaderValue::from_str(&auth)?,
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            region: region.into(),
            payload,
        })
    }

    /// An object body from its frames, with the headers and payload hash `payload` asks for.
    fn object_body(&self, frames: Vec<Bytes>) -> (Body, u64, HeaderMap, String) {
        let len = frames.iter().map(|f| f.len() as u64).sum();
        let mut headers = HeaderMap::new();
        let hash = match self.payload {
            Payload::Unsigned => "UNSIGNED-PAYLOAD".to_string(),
            Payload::Signed => {
                use sha2::Digest as _;
                let mut sha = sha2::Sha256::new();
                let mut crc = ChecksumAlgorithm::Crc32.hasher();
                for f in &frames {
                    sha.update(f);
                    crc.update(f);
                }
                if let Ok(v) = HeaderValue::from_str(&crc.finish_base64()) {
                    headers.insert("x-amz-checksum-crc32", v);
                }
                hex::encode(sha.finalize())
            }
        };
        (self::frames(frames), len, headers, hash)
    }

    /// Sends a signed request and returns the response with its body unread. A body is sent
    /// as `UNSIGNED-PAYLOAD` unless `payload_hash` gives its SHA-256.
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &str,
        mut headers: HeaderMap,
        body: Body,
        len: Option<u64>,
        payload_hash: Option<&str>,
    ) -> anyhow::Result<http::Response<Incoming>> {
        headers.insert(http::header::HOST, self.host.clone());
        if let Some(n) = len {
            headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(n));
        }
        let payload = match payload_hash {
            Some(h) => h,
            None if len.unwrap_or(0) > 0 => "UNSIGNED-PAYLOAD",
            None => EMPTY_SHA256,
        };
        let q = (!query.is_empty()).then_some(query);
        sign_request_v4(
            method.as_str(),
            path,
            q,
            &mut headers,
            payload,
            &SigningParams {
                access_key: &self.access_key,
                secret_key: &self.secret_key,
                region: &self.region,
                time: SystemTime::now(),
            },
        )?;
        let url = match q {
            Some(q) => format!("{}{path}?{q}", self.base),
            None => format!("{}{path}", self.base),
        };
        let mut req = Request::builder().method(method).uri(url).body(body)?;
        *req.headers_mut() = headers;
        Ok(self.http.request(req).await?)
    }

    /// Sends a request and reads the whole reply.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &str,
        headers: HeaderMap,
        body: Body,
        len: Option<u64>,
    ) -> anyhow::Result<Reply> {
        let resp = self
            .send(method, path, query, headers, body, len, None)
            .await?;
        Reply::read(resp).await
    }

    pub async fn create_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        let r = self
            .call(
                Method::PUT,
                &format!("/{bucket}"),
                "",
                HeaderMap::new(),
                empty(),
                None,
            )
            .await?;
        if r.status == StatusCode::CONFLICT && r.text().contains("BucketAlreadyOwnedByYou") {
            return Ok(());
        }
        r.ok("CreateBucket").map(drop)
    }

    pub async fn delete_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        let path = format!("/{bucket}");
        self.call(Method::DELETE, &path, "", HeaderMap::new(), empty(), None)
            .await?
            .ok("DeleteBucket")
            .map(drop)
    }

    pub async fn put(&self, bucket: &str, key: &str, frames: Vec<Bytes>) -> anyhow::Result<String> {
        let path = format!("/{bucket}/{key}");
        let (body, len, h, hash) = self.object_body(frames);
        let resp = self
            .send(Method::PUT, &path, "", h, body, Some(len), Some(&hash))
            .await?;
        Reply::read(resp).await?.ok("PutObject")?.etag()
    }

    pub async fn get(
        &self,
        bucket: &str,
        key: &str,
        range: Option<(u64, u64)>,
    ) -> anyhow::Result<Bytes> {
        let mut h = HeaderMap::new();
        if let Some((a, b)) = range {
            h.insert(
                http::header::RANGE,
                HeaderValue::from_str(&format!("bytes={a}-{b}"))?,
            );
        }
        let path = format!("/{bucket}/{key}");
        Ok(self
            .call(Method::GET, &path, "", h, empty(), None)
            .await?
            .ok("GetObject")?
            .body)
    }

    /// HeadObject; returns the Content-Length.
    pub async fn head(&self, bucket: &str, key: &str) -> anyhow::Result<u64> {
        let path = format!("/{bucket}/{key}");
        let r = self
            .call(Method::HEAD, &path, "", HeaderMap::new(), empty(), None)
            .await?
            .ok("HeadObject")?;
        Ok(r.headers
            .get(http::header::CONTENT_LENGTH)
            .context("no Content-Length")?
            .to_str()?
            .parse()?)
    }

    /// One ListObjectsV2 page; returns the keys on it.
    pub async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        max_keys: usize,
    ) -> anyhow::Result<Vec<String>> {
        let mut q = format!("list-type=2&max-keys={max_keys}");
        if !prefix.is_empty() {
            q.push_str(&format!("&prefix={}", uri_encode(prefix)));
        }
        if !start_after.is_empty() {
            q.push_str(&format!("&start-after={}", uri_encode(start_after)));
        }
        let r = self
            .call(
                Method::GET,
                &format!("/{bucket}"),
                &q,
                HeaderMap::new(),
                empty(),
                None,
            )
            .await?
            .ok("ListObjectsV2")?;
        Ok(xml_values(r.text(), "Key")
            .into_iter()
            .map(String::from)
            .collect())
    }

    pub async fn create_multipart(&self, bucket: &str, key: &str) -> anyhow::Result<String> {
        let path = format!("/{bucket}/{key}");
        let r = self
            .call(
                Method::POST,
                &path,
                "uploads=",
                HeaderMap::new(),
                empty(),
                None,
            )
            .await?
            .ok("CreateMultipartUpload")?;
        Ok(xml_values(r.text(), "UploadId")
            .first()
            .context("no UploadId in the reply")?
            .to_string())
    }

    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part: u32,
        frames: Vec<Bytes>,
    ) -> anyhow::Result<String> {
        let path = format!("/{bucket}/{key}");
        let q = format!("partNumber={part}&uploadId={}", uri_encode(upload_id));
        let (body, len, h, hash) = self.object_body(frames);
        let resp = self
            .send(Method::PUT, &path, &q, h, body, Some(len), Some(&hash))
            .await?;
        Reply::read(resp).await?.ok("UploadPart")?.etag()
    }

    pub async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> anyhow::Result<String> {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (n, etag) in parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag></Part>",
                etag.replace('"', "&quot;")
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let path = format!("/{bucket}/{key}");
        let q = format!("uploadId={}", uri_encode(upload_id));
        let len = xml.len() as u64;
        let r = self
            .call(
                Method::POST,
                &path,
                &q,
                HeaderMap::new(),
                full(xml.into()),
                Some(len),
            )
            .await?
            .ok("CompleteMultipartUpload")?;
        // An error may arrive with status 200 once the reply has started.
        if r.text().contains("<Error>") {
            bail!("CompleteMultipartUpload: {}", r.text());
        }
        Ok(xml_values(r.text(), "ETag")
            .first()
            .map(|s| s.to_string())
            .unwrap_or_default())
    }

    /// DeleteObjects (quiet); returns how many keys the server reported as failed.
    pub async fn delete_objects(&self, bucket: &str, keys: &[String]) -> anyhow::Result<usize> {
        use base64::Engine as _;
        use md5::Digest as _;
        let mut xml = String::from("<Delete><Quiet>true</Quiet>");
        for k in keys {
            xml.push_str(&format!("<Object><Key>{k}</Key></Object>"));
        }
        xml.push_str("</Delete>");
        let md5 =
            base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(xml.as_bytes()));
        let mut h = HeaderMap::new();
        h.insert("content-md5", HeaderValue::from_str(&md5)?);
        let len = xml.len() as u64;
        let r = self
            .call(
                Method::POST,
                &format!("/{bucket}"),
                "delete=",
                h,
                full(xml.into()),
                Some(len),
            )
            .await?
            .ok("DeleteObjects")?;
        Ok(xml_values(r.text(), "Code").len())
    }
}
