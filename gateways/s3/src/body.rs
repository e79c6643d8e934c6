//! Request bodies as the store wants them: a stream of payload bytes, with aws-chunked framing
//! (and its signatures) removed here, so framing and trailers never reach stored data.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use gatehouse_store::checksum::{self, ChecksumAlgorithm};
use gatehouse_store::ops::PutOptions;
use gatehouse_store::{StageError, Staged, StoreError};
use http::HeaderMap;

use crate::auth::{AuthError, ChunkedDecoder, PayloadMode};
use crate::error::S3Error;
use crate::request::header;

#[derive(Debug)]
pub enum BodyError {
    Auth(AuthError),
    Transport(String),
}

impl From<BodyError> for S3Error {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::Auth(a) => a.into(),
            BodyError::Transport(m) => S3Error::new(
                400,
                "IncompleteBody",
                format!("The request body ended early or could not be read ({m})"),
            ),
        }
    }
}

pub fn stage_error(e: StageError<BodyError>) -> S3Error {
    match e {
        StageError::Body(b) => b.into(),
        StageError::Store(s) => s.into(),
    }
}

/// Trailing headers of an aws-chunked body, filled when the body has been read to its end.
#[derive(Clone, Default)]
pub struct Trailers(Arc<Mutex<Vec<(String, String)>>>);

impl Trailers {
    pub fn get(&self, name: &str) -> Option<String> {
        let t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        t.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

pub fn payload_stream(
    body: Body,
    mode: &PayloadMode,
    headers: &HeaderMap,
) -> (BoxStream<'static, Result<Bytes, BodyError>>, Trailers) {
    let trailers = Trailers::default();
    match mode {
        PayloadMode::StreamingSigned { .. } | PayloadMode::StreamingUnsignedTrailer => {
            let decoded_len = header(headers, "x-amz-decoded-content-length")
                .and_then(|v| v.trim().parse::<u64>().ok());
            let dec = ChunkedDecoder::new(body.into_data_stream(), mode, decoded_len);
            let slot = trailers.clone();
            let s = stream::unfold(Some(dec), move |state| {
                let slot = slot.clone();
                async move {
                    let mut dec = state?;
                    match dec.next_data().await {
                        Ok(Some(b)) => Some((Ok(b), Some(dec))),
                        Ok(None) => {
                            let mut t = slot.0.lock().unwrap_or_else(|p| p.into_inner());
                            *t = dec.trailers().to_vec();
                            None
                        }
                        Err(e) => Some((Err(BodyError::Auth(e)), None)),
                    }
                }
            });
            (s.boxed(), trailers)
        }
        PayloadMode::Signed(_) | PayloadMode::Unsigned => (
            body.into_data_stream()
                .map(|r| r.map_err(|e| BodyError::Transport(e.to_string())))
                .boxed(),
            trailers,
        ),
    }
}

/// Reads a small body (XML documents) into memory, refusing more than `limit` bytes.
pub async fn read_small(
    body: Body,
    mode: &PayloadMode,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, S3Error> {
    // The integrity headers of a small body (Content-MD5, x-amz-checksum-*, also as a
    // trailer) are checked as an object body's are: never accepted unchecked.
    let plan = checksum_plan(headers)?;
    let md5 = integrity(headers, mode, &plan)?.content_md5;
    let (mut s, trailers) = payload_stream(body, mode, headers);
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        let chunk = chunk?;
        if out.len() + chunk.len() > limit {
            return Err(S3Error::malformed_xml().with("Detail", "request body too large"));
        }
        out.extend_from_slice(&chunk);
    }
    if let PayloadMode::Signed(want) = mode {
        use sha2::Digest;
        let got: [u8; 32] = sha2::Sha256::digest(&out).into();
        if &got != want {
            return Err(StoreError::ContentSha256Mismatch.into());
        }
    }
    if let Some(want) = md5 {
        use md5::Digest;
        let got: [u8; 16] = md5::Md5::digest(&out).into();
        if got != want {
            return Err(StoreError::BadDigest.into());
        }
    }
    if let Some(alg) = plan.algorithm {
        let sent = match (&plan.expected_now, plan.from_trailer) {
            (Some(v), _) => Some(v.clone()),
            (None, Some(name)) => Some(
                trailers
                    .get(name)
                    .and_then(|v| checksum::base64_decode(&v))
                    .ok_or_else(|| {
                        S3Error::invalid_request(format!(
                            "the announced trailer {name} was not sent"
                        ))
                    })?,
            ),
            (None, None) => None,
        };
        let got = alg.digest(&out);
        if sent.is_some_and(|sent| sent != got) {
            return Err(StoreError::ChecksumMismatch {
                algorithm: alg.name(),
                computed: checksum::base64(&got),
            }
            .into());
        }
    }
    Ok(Bytes::from(out))
}

/// Which checksum to compute and what it must equal (now, or from a trailer later).
pub struct ChecksumPlan {
    pub algorithm: Option<ChecksumAlgorithm>,
    pub expected_now: Option<Vec<u8>>,
    pub from_trailer: Option<&'static str>,
}

/// The request's one `x-amz-checksum-<alg>` header and its value as sent (two: refused).
pub fn checksum_header(headers: &HeaderMap) -> Result<Option<(ChecksumAlgorithm, &str)>, S3Error> {
    let mut found = None;
    for alg in ChecksumAlgorithm::ALL {
        if let Some(v) = header(headers, alg.header()) {
            if found.is_some() {
                return Err(S3Error::invalid_request(
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
                ));
            }
            found = Some((alg, v));
        }
    }
    Ok(found)
}

pub fn checksum_plan(headers: &HeaderMap) -> Result<ChecksumPlan, S3Error> {
    let mut plan = ChecksumPlan {
        algorithm: None,
        expected_now: None,
        from_trailer: None,
    };
    if let Some((alg, v)) = checksum_header(headers)? {
        // Not base64, or not a digest of this algorithm's length: not a checksum at all.
        let raw = checksum::base64_decode(v)
            .filter(|raw| raw.len() == alg.digest_len())
            .ok_or_else(|| {
                S3Error::invalid_request(format!("Value for {} header is invalid.", alg.header()))
            })?;
        plan.algorithm = Some(alg);
        plan.expected_now = Some(raw);
    }
    if plan.algorithm.is_none()
        && let Some(t) = header(headers, "x-amz-trailer")
    {
        let alg = ChecksumAlgorithm::parse(t.trim()).ok_or_else(|| {
            S3Error::invalid_request(format!(
                "The value specified in the x-amz-trailer header is not supported: {t}"
            ))
        })?;
        plan.algorithm = Some(alg);
        plan.from_trailer = Some(alg.header());
    }
    if let Some(a) = header(headers, "x-amz-sdk-checksum-algorithm") {
        let named = ChecksumAlgorithm::parse(a).ok_or_else(|| {
            S3Error::invalid_request(format!("Checksum algorithm {a} is not supported"))
        })?;
        match plan.algorithm {
            // API_PutObject: a checksum whose algorithm is not the one this header names fails
            // with BadDigest.
            Some(sent) if sent != named => {
                return Err(S3Error::new(
                    400,
                    "BadDigest",
                    format!(
                        "x-amz-sdk-checksum-algorithm names {} but the checksum sent is {}",
                        named.name(),
                        sent.name()
                    ),
                ));
            }
            Some(_) => {}
            // Alone (AWS wants a checksum header or trailer with it): that checksum is
            // computed and kept, which is what it names.
            None => plan.algorithm = Some(named),
        }
    }
    Ok(plan)
}

/// Verifies a checksum announced as a trailer once the body is read.
pub fn trailer_check(
    plan_trailer: Option<&'static str>,
    trailers: Trailers,
) -> impl FnOnce(&Staged) -> Result<(), StoreError> {
    move |staged: &Staged| {
        let Some(name) = plan_trailer else {
            return Ok(());
        };
        let Some((alg, got)) = &staged.checksum else {
            return Ok(());
        };
        let sent = trailers.get(name).ok_or_else(|| {
            StoreError::InvalidArgument(format!("the announced trailer {name} was not sent"))
        })?;
        let sent = checksum::base64_decode(&sent).ok_or_else(|| {
            StoreError::InvalidArgument(format!("the {name} trailer is not base64"))
        })?;
        if &sent != got {
            return Err(StoreError::ChecksumMismatch {
                algorithm: alg.name(),
                computed: checksum::base64(got),
            });
        }
        Ok(())
    }
}

/// `Content-MD5`, the payload hash and the checksum plan, as store put options.
pub fn integrity(
    headers: &HeaderMap,
    mode: &PayloadMode,
    plan: &ChecksumPlan,
) -> Result<PutOptions, S3Error> {
    let content_md5 = match header(headers, "content-md5") {
        None => None,
        Some(v) => {
            let raw = checksum::base64_decode(v)
                .filter(|r| r.len() == 16)
                .ok_or_else(|| {
                    S3Error::new(
                        400,
                        "InvalidDigest",
                        "The Content-MD5 you specified was invalid.",
                    )
                })?;
            let mut a = [0u8; 16];
            a.copy_from_slice(&raw);
            Some(a)
        }
    };
    Ok(PutOptions {
        content_md5,
        content_sha256: match mode {
            PayloadMode::Signed(h) => Some(*h),
            _ => None,
        },
        checksum: plan.algorithm,
        checksum_expected: plan.expected_now.clone(),
        declared_size: header(headers, "x-amz-decoded-content-length")
            .or_else(|| match mode {
                PayloadMode::StreamingSigned { .. } | PayloadMode::StreamingUnsignedTrailer => None,
                _ => header(headers, "content-length"),
            })
            .and_then(|v| v.trim().parse().ok()),
        ..Default::default()
    })
}

/// Refuses a body whose declared size is over `max` before reading any of it.
pub fn check_declared_size(headers: &HeaderMap, max: u64) -> Result<(), S3Error> {
    let declared = header(headers, "x-amz-decoded-content-length")
        .or_else(|| header(headers, "content-length"))
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > max => Err(StoreError::EntityTooLarge(format!(
            "{n} bytes declared, at most {max} accepted"
        ))
        .into()),
        _ => Ok(()),
    }
}
