//! Request authentication for the S3 gateway.
//!
//! Layout:
//! - [`sigv4`]: decides *who* sent a request — AWS SigV4 (Authorization header or presigned
//!   query), HTTP Basic and Bearer — and *how* its body is protected ([`PayloadMode`]). Also the
//!   client-side signers our load generator and tests use, so both sides share one canonicaliser.
//! - [`sigv2`]: legacy Signature V2 (presigned `?AWSAccessKeyId=…&Signature=…` and
//!   `Authorization: AWS …`), still the default presigner of boto3 / aws CLI v1 on custom endpoints.
//! - [`chunked`]: decodes `aws-chunked` bodies (STREAMING-* payloads), verifying each chunk's
//!   signature before releasing its bytes, with memory bounded by about one chunk.
//!
//! Nothing here does I/O besides pulling the body stream; secrets come from a caller-supplied
//! lookup so this module stays independent of the store.

pub mod chunked;
pub mod sigv2;
pub mod sigv4;

pub use chunked::{ChunkSigner, ChunkedDecoder};
pub use sigv4::{
    AuthError, Authenticated, ClientSignature, PayloadMode, RequestParts, SigningParams,
    StreamingContext, authenticate, presign_url, sign_request_v4,
};
