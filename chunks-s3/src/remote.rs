//! The S3 client gatehouse uses toward other S3 services (the chunk backend, replication
//! targets): aws-sdk-s3 over rustls with ring, path-style addressing, fixed timeouts, no
//! checksum headers beyond what an operation requires; and what a failed call means.

use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{Credentials, Region, timeout::TimeoutConfig};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// Where and as whom.
pub struct Endpoint<'a> {
    pub url: &'a str,
    pub region: &'a str,
    pub access_key: &'a str,
    pub secret_key: &'a str,
}

/// How long a connect, one attempt and a whole call (with the SDK's retries) may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub attempt: Duration,
    pub operation: Duration,
}

/// The client's configuration.
pub fn config(e: &Endpoint<'_>, t: Timeouts) -> aws_sdk_s3::Config {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(e.url)
        .force_path_style(true)
        .region(Region::new(e.region.to_string()))
        .credentials_provider(Credentials::new(
            e.access_key,
            e.secret_key,
            None,
            None,
            "gatehouse-config",
        ))
        .http_client(http)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(t.connect)
                .operation_attempt_timeout(t.attempt)
                .operation_timeout(t.operation)
                .build(),
        )
        // The chunk backend checks bytes by their BLAKE3 names; replication sends Content-MD5
        // where S3 wants it. No extra checksum headers the other side might not know.
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired)
        .build()
}

/// What a failed call means for the store.
pub enum Fault {
    NotFound,
    /// The backend answered and said no (403, 400, …): retrying will not help.
    Refused(String),
    /// No answer, a broken one, or a 5xx: try again later.
    Unavailable(String),
}

pub fn classify<E: ProvideErrorMetadata + std::fmt::Debug>(e: &SdkError<E, HttpResponse>) -> Fault {
    match e {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or("");
            if code == "NoSuchBucket" {
                Fault::Refused(format!(
                    "{status} NoSuchBucket: the backend's bucket is gone"
                ))
            } else if status == 404 || code == "NoSuchKey" || code == "NotFound" {
                Fault::NotFound
            } else if status >= 500
                || status == 429
                || status == 408
                || matches!(
                    code,
                    "SlowDown" | "ServiceUnavailable" | "RequestTimeout" | "OperationAborted"
                )
            {
                Fault::Unavailable(format!("{status} {code}"))
            } else {
                let msg = se.err().message().unwrap_or("");
                Fault::Refused(format!("{status} {code} {msg}").trim().to_string())
            }
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            if status == 404 {
                Fault::NotFound
            } else {
                Fault::Unavailable(format!("unreadable answer, status {status}"))
            }
        }
        SdkError::TimeoutError(_) => Fault::Unavailable("timed out".into()),
        SdkError::DispatchFailure(d) => Fault::Unavailable(if d.is_io() {
            "connection failed".into()
        } else if d.is_timeout() {
            "timed out".into()
        } else {
            format!("{d:?}")
        }),
        other => Fault::Unavailable(format!("{other:?}")),
    }
}
