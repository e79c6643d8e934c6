//! S3 POST Object: browser-based uploads with an HTML form.
//!
//! A POST Object request is `POST /{bucket}` with a `multipart/form-data` body. The
//! form fields come first; the part named `file` carries the object's content and
//! everything after it is ignored, as S3 does.
//!
//! [`parse`] reads the fields before the file (at most [`MAX_PRE_DATA_LENGTH`] bytes
//! of them, boundaries and part headers included), authenticates the form (SigV4 or
//! SigV2 POST policy signature, or anonymous), checks the POST policy, and hands back
//! the file as a [`FileStream`] that is never buffered whole. The stream ends exactly
//! at the file's closing boundary and enforces the policy's `content-length-range`
//! as the bytes go by.
//!
//! Error codes, statuses and messages follow what S3 answers on the wire, which in
//! places differs from its error table (see the notes on each [`PostError`] variant).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use futures_util::StreamExt as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use http::StatusCode;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use subtle::ConstantTimeEq as _;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// The most bytes S3 accepts before the file's content: the form fields, the
/// boundaries and the part headers, up to the blank line that ends the file part's
/// headers (S3 reports this number as `MaxPostPreDataLengthBytes`).
pub const MAX_PRE_DATA_LENGTH: usize = 20 * 1024;

/// RFC 2046: a boundary is 1 to 70 characters.
const MAX_BOUNDARY_LENGTH: usize = 70;

/// The SigV4 algorithm a POST form must name.
const SIGV4_ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Characters left as they are by `application/x-www-form-urlencoded`.
const FORM_URLENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'*');

/// How a POST form was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// No signature fields at all. S3 treats this as an anonymous write, allowed only
    /// where the bucket's access rules allow one; the caller decides.
    Anonymous,
    /// A valid SigV4 POST policy signature. `region` is the credential scope's region;
    /// the caller may reject one that is not its own (S3 answers 400 `InvalidArgument`
    /// "the region 'x' is wrong; expecting 'y'").
    V4 { access_key: String, region: String },
    /// A valid SigV2 POST policy signature.
    V2 { access_key: String },
}

/// The checked form fields of a POST Object request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostForm {
    /// Every field before the file, in the order first sent, with lowercase names
    /// (S3 matches field names case-insensitively and stores metadata keys in
    /// lowercase), `${filename}` expanded, and repeated fields joined with `,`.
    /// The signature fields (`policy`, `x-amz-signature`, ...) are included.
    pub fields: Vec<(String, String)>,
    pub auth: Auth,
    /// The `key` field, `${filename}` expanded. Never empty.
    pub key: String,
    /// The file part's `filename`, reduced to the text after its last `/` or `\`.
    /// `None` when the part had no `filename` parameter.
    pub file_name: Option<String>,
    /// The file part's own `Content-Type` header. The `Content-Type` *field* (in
    /// `fields`) is the one that sets the object's type.
    pub file_content_type: Option<String>,
    /// `success_action_status` when it is 200, 201 or 204; any other value counts as
    /// absent (S3 then answers 204).
    pub success_action_status: Option<u16>,
    /// `success_action_redirect`, or the deprecated `redirect` field.
    pub success_action_redirect: Option<String>,
    /// The policy's `content-length-range` (inclusive), already enforced by the
    /// returned [`FileStream`]. `None` for anonymous forms and policies without one.
    pub content_length_range: Option<(u64, u64)>,
}

impl PostForm {
    /// The value of a field, by case-insensitive name.
    #[cfg(test)]
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A failed POST Object request, with the S3 error it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PostError {
    /// The request is not `multipart/form-data`. S3 answers 412 `PreconditionFailed`
    /// (its error table says `RequestIsNotMultiPartContent`, which it does not send).
    NotMultipart,
    /// The body is not well-formed `multipart/form-data` (also: no boundary parameter,
    /// a field value that is not UTF-8, or the body ending before the file part).
    MalformedPostRequest,
    /// More than [`MAX_PRE_DATA_LENGTH`] bytes came before the file's content.
    MaxPostPreDataLengthExceeded,
    /// A required field is missing, e.g. `key`, `X-Amz-Signature`, `AWSAccessKeyId`.
    /// S3 sends 400 `InvalidArgument` (not its table's `UserKeyMustBeSpecified`).
    MissingField { name: &'static str },
    /// The form closed without a `file` part. S3 sends 400 `InvalidArgument` with
    /// the message of `IncorrectNumberOfFilesInPostRequest`.
    NoFile,
    /// Any other 400 `InvalidArgument` (credential, date or algorithm malformed).
    InvalidArgument {
        message: String,
        argument_name: &'static str,
        argument_value: String,
    },
    /// The access key is unknown to the lookup.
    InvalidAccessKeyId { access_key: String },
    /// The signature does not match the policy as sent.
    SignatureDoesNotMatch {
        access_key: String,
        string_to_sign: String,
        signature_provided: String,
    },
    /// The policy document cannot be read (400 `InvalidPolicyDocument`).
    InvalidPolicyDocument { message: String },
    /// The policy's expiration has passed (403 `AccessDenied`).
    PolicyExpired,
    /// A policy condition is not met (403 `AccessDenied`); `condition` is the
    /// condition as S3 prints it, e.g. `["eq", "$key", "a.txt"]`.
    ConditionFailed { condition: String },
    /// A form field no condition covers (403 `AccessDenied`); `name` as sent.
    ExtraInputField { name: String },
    /// The file is longer than the policy's `content-length-range` allows.
    /// `proposed_size` is the count when the limit was passed (the stream stops there).
    EntityTooLarge {
        proposed_size: u64,
        max_size_allowed: u64,
    },
    /// The file is shorter than the policy's `content-length-range` allows.
    EntityTooSmall {
        proposed_size: u64,
        min_size_allowed: u64,
    },
    /// The body ended inside the file, before its closing boundary.
    IncompleteBody,
    /// The body stream itself failed; `detail` is its error, for logs only.
    BodyRead { detail: String },
}

impl PostError {
    /// The S3 error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotMultipart => "PreconditionFailed",
            Self::MalformedPostRequest => "MalformedPOSTRequest",
            Self::MaxPostPreDataLengthExceeded => "MaxPostPreDataLengthExceeded",
            Self::MissingField { .. } | Self::NoFile | Self::InvalidArgument { .. } => {
                "InvalidArgument"
            }
            Self::InvalidAccessKeyId { .. } => "InvalidAccessKeyId",
            Self::SignatureDoesNotMatch { .. } => "SignatureDoesNotMatch",
            Self::InvalidPolicyDocument { .. } => "InvalidPolicyDocument",
            Self::PolicyExpired | Self::ConditionFailed { .. } | Self::ExtraInputField { .. } => {
                "AccessDenied"
            }
            Self::EntityTooLarge { .. } => "EntityTooLarge",
            Self::EntityTooSmall { .. } => "EntityTooSmall",
            Self::IncompleteBody | Self::BodyRead { .. } => "IncompleteBody",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotMultipart => StatusCode::PRECONDITION_FAILED,
            Self::InvalidAccessKeyId { .. }
            | Self::SignatureDoesNotMatch { .. }
            | Self::PolicyExpired
            | Self::ConditionFailed { .. }
            | Self::ExtraInputField { .. } => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The error message, as S3 words it.
    pub fn message(&self) -> Cow<'static, str> {
        match self {
            Self::NotMultipart => {
                Cow::Borrowed("At least one of the pre-conditions you specified did not hold")
            }
            Self::MalformedPostRequest => Cow::Borrowed(
                "The body of your POST request is not well-formed multipart/form-data.",
            ),
            // The misspelling and grammar are S3's.
            Self::MaxPostPreDataLengthExceeded => {
                Cow::Borrowed("Your POST request fields preceeding the upload file was too large.")
            }
            // Two spaces after the first period, as S3 sends it.
            Self::MissingField { name } => Cow::Owned(format!(
                "Bucket POST must contain a field named '{name}'.  If it is specified, please check the order of the fields."
            )),
            Self::NoFile => Cow::Borrowed("POST requires exactly one file upload per request."),
            Self::InvalidArgument { message, .. } => Cow::Owned(message.clone()),
            Self::InvalidAccessKeyId { .. } => {
                Cow::Borrowed("The AWS Access Key Id you provided does not exist in our records.")
            }
            Self::SignatureDoesNotMatch { .. } => Cow::Borrowed(
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            ),
            Self::InvalidPolicyDocument { message } => Cow::Owned(message.clone()),
            Self::PolicyExpired => Cow::Borrowed("Invalid according to Policy: Policy expired."),
            Self::ConditionFailed { condition } => Cow::Owned(format!(
                "Invalid according to Policy: Policy Condition failed: {condition}"
            )),
            Self::ExtraInputField { name } => Cow::Owned(format!(
                "Invalid according to Policy: Extra input fields: {name}"
            )),
            Self::EntityTooLarge { .. } => {
                Cow::Borrowed("Your proposed upload exceeds the maximum allowed size")
            }
            Self::EntityTooSmall { .. } => {
                Cow::Borrowed("Your proposed upload is smaller than the minimum allowed size")
            }
            Self::IncompleteBody | Self::BodyRead { .. } => {
                Cow::Borrowed("The request body terminated unexpectedly")
            }
        }
    }

    /// Extra elements S3 puts in the `<Error>` document after `Code` and `Message`,
    /// in order, values unescaped.
    pub fn extra_elements(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::NotMultipart => vec![(
                "Condition",
                "Bucket POST must be of the enclosure-type multipart/form-data".to_owned(),
            )],
            Self::MaxPostPreDataLengthExceeded => {
                vec![("MaxPostPreDataLengthBytes", MAX_PRE_DATA_LENGTH.to_string())]
            }
            Self::MissingField { name } => vec![
                ("ArgumentName", (*name).to_owned()),
                ("ArgumentValue", String::new()),
            ],
            Self::NoFile => vec![
                ("ArgumentName", "file".to_owned()),
                ("ArgumentValue", "0".to_owned()),
            ],
            Self::InvalidArgument {
                argument_name,
                argument_value,
                ..
            } => vec![
                ("ArgumentName", (*argument_name).to_owned()),
                ("ArgumentValue", argument_value.clone()),
            ],
            Self::InvalidAccessKeyId { access_key } => {
                vec![("AWSAccessKeyId", access_key.clone())]
            }
            Self::SignatureDoesNotMatch {
                access_key,
                string_to_sign,
                signature_provided,
            } => vec![
                ("AWSAccessKeyId", access_key.clone()),
                ("StringToSign", string_to_sign.clone()),
                ("SignatureProvided", signature_provided.clone()),
                ("StringToSignBytes", spaced_hex(string_to_sign.as_bytes())),
            ],
            Self::EntityTooLarge {
                proposed_size,
                max_size_allowed,
            } => vec![
                ("ProposedSize", proposed_size.to_string()),
                ("MaxSizeAllowed", max_size_allowed.to_string()),
            ],
            Self::EntityTooSmall {
                proposed_size,
                min_size_allowed,
            } => vec![
                ("ProposedSize", proposed_size.to_string()),
                ("MinSizeAllowed", min_size_allowed.to_string()),
            ],
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for PostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for PostError {}

/// Reads and checks a POST Object form.
///
/// `content_type` is the request's `Content-Type` header, `bucket` the bucket the
/// request was sent to, `now` the current time, and `lookup` maps an access key to
/// its secret. On success the form is returned with the file's content as a stream
/// positioned at its first byte; the rest of the body is never read past the file.
pub async fn parse<S, E>(
    content_type: &str,
    body: S,
    bucket: &str,
    now: SystemTime,
    lookup: &(dyn Fn(&str) -> Option<String> + Send + Sync),
) -> Result<(PostForm, FileStream<S>), PostError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: fmt::Display,
{
    let boundary = boundary_of(content_type)?;
    let mut delimiter = Vec::with_capacity(boundary.len() + 4);
    delimiter.extend_from_slice(b"\r\n--");
    delimiter.extend_from_slice(boundary.as_bytes());

    let mut reader = PreDataReader {
        body,
        // A CRLF is put in front so that a body starting with the boundary (as all
        // clients send it) and one with a preamble are searched alike.
        buf: BytesMut::from(&b"\r\n"[..]),
        consumed: 0,
        limit: MAX_PRE_DATA_LENGTH + 2,
    };
    let pre = reader.read(&delimiter).await?;
    let form = check_form(pre, bucket, now, lookup)?;
    let file = FileStream {
        body: reader.body,
        buf: reader.buf,
        delimiter,
        range: form.content_length_range,
        count: 0,
        state: FileState::Streaming,
    };
    Ok((form, file))
}

/// The response to a successful POST Object: `(status, Location header, XML body)`.
///
/// A `success_action_redirect` S3 can interpret (an absolute URL) gives 303 to it
/// with `bucket`, `key` and `etag` appended as form-encoded query parameters; one it
/// cannot is ignored. Otherwise `success_action_status` 200 and 204 give an empty
/// answer, 201 a `<PostResponse>` document, and anything else 204. `location_url` is
/// the object's URL (key percent-encoded), sent as `Location` in all three cases.
pub fn success_response(
    status: Option<u16>,
    redirect: Option<&str>,
    bucket: &str,
    key: &str,
    etag: &str,
    location_url: &str,
) -> (u16, Option<String>, Option<String>) {
    let etag = if etag.len() >= 2 && etag.starts_with('"') && etag.ends_with('"') {
        etag.to_owned()
    } else {
        format!("\"{etag}\"")
    };
    if let Some(base) = redirect.and_then(redirect_base) {
        let (before_fragment, fragment) = match base.find('#') {
            Some(i) => base.split_at(i),
            None => (base.as_str(), ""),
        };
        let separator = if before_fragment.ends_with('?') || before_fragment.ends_with('&') {
            ""
        } else if before_fragment.contains('?') {
            "&"
        } else {
            "?"
        };
        let location = format!(
            "{before_fragment}{separator}bucket={}&key={}&etag={}{fragment}",
            form_urlencode(bucket),
            form_urlencode(key),
            form_urlencode(&etag),
        );
        return (303, Some(location), None);
    }
    match status {
        Some(201) => {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></PostResponse>",
                xml_escape(location_url),
                xml_escape(bucket),
                xml_escape(key),
                xml_escape(&etag),
            );
            (201, Some(location_url.to_owned()), Some(body))
        }
        Some(200) => (200, Some(location_url.to_owned()), None),
        _ => (204, Some(location_url.to_owned()), None),
    }
}

// ---------------------------------------------------------------------------------
// The file stream

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileState {
    Streaming,
    Finished,
    Failed,
}

/// The content of the form's `file` part, as it arrives.
///
/// Yields the file's bytes and ends at its closing boundary. Ends with an error when
/// the body ends or fails first ([`PostError::IncompleteBody`],
/// [`PostError::BodyRead`]) or the policy's `content-length-range` is broken
/// ([`PostError::EntityTooLarge`] as soon as the count passes the maximum,
/// [`PostError::EntityTooSmall`] at the end). Holds at most one body chunk plus a
/// boundary's length in memory.
pub struct FileStream<S> {
    body: S,
    buf: BytesMut,
    delimiter: Vec<u8>,
    range: Option<(u64, u64)>,
    count: u64,
    state: FileState,
}

impl<S> FileStream<S> {
    /// Bytes of the file yielded so far.
    #[cfg(test)]
    pub fn bytes_read(&self) -> u64 {
        self.count
    }

    /// Whether the closing boundary was reached and every byte yielded.
    #[cfg(test)]
    pub fn is_finished(&self) -> bool {
        self.state == FileState::Finished
    }

    /// Bytes held back (a possible partial boundary, or an unread body chunk).
    #[cfg(test)]
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    fn fail(&mut self, error: PostError) -> Poll<Option<Result<Bytes, PostError>>> {
        self.state = FileState::Failed;
        self.buf = BytesMut::new();
        Poll::Ready(Some(Err(error)))
    }

    fn too_large(&mut self, total: u64) -> Option<PostError> {
        match self.range {
            Some((_, max)) if total > max => Some(PostError::EntityTooLarge {
                proposed_size: total,
                max_size_allowed: max,
            }),
            _ => None,
        }
    }
}

impl<S> fmt::Debug for FileStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStream")
            .field("count", &self.count)
            .field("buffered", &self.buf.len())
            .field("range", &self.range)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<S, E> Stream for FileStream<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: fmt::Display,
{
    type Item = Result<Bytes, PostError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.state != FileState::Streaming {
                return Poll::Ready(None);
            }
            if let Some(end) = find(&this.buf, &this.delimiter, 0) {
                let total = this.count + end as u64;
                if let Some(error) = this.too_large(total) {
                    return this.fail(error);
                }
                if let Some((min, _)) = this.range
                    && total < min
                {
                    return this.fail(PostError::EntityTooSmall {
                        proposed_size: total,
                        min_size_allowed: min,
                    });
                }
                let last = this.buf.split_to(end).freeze();
                this.buf = BytesMut::new();
                this.count = total;
                this.state = FileState::Finished;
                return Poll::Ready((!last.is_empty()).then_some(Ok(last)));
            }
            // No full delimiter: everything before a CR that might begin one is file.
            let tail = this.buf.len().saturating_sub(this.delimiter.len() - 1);
            let safe = this.buf[tail..]
                .iter()
                .position(|&b| b == b'\r')
                .map_or(this.buf.len(), |p| tail + p);
            if safe > 0 {
                let total = this.count + safe as u64;
                if let Some(error) = this.too_large(total) {
                    return this.fail(error);
                }
                this.count = total;
                return Poll::Ready(Some(Ok(this.buf.split_to(safe).freeze())));
            }
            match this.body.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => this.buf.extend_from_slice(&chunk),
                Poll::Ready(Some(Err(e))) => {
                    return this.fail(PostError::BodyRead {
                        detail: e.to_string(),
                    });
                }
                Poll::Ready(None) => return this.fail(PostError::IncompleteBody),
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Reading the fields before the file

/// A form field as sent.
#[derive(Debug)]
struct RawField {
    name: String,
    lname: String,
    value: String,
}

/// Everything before the file's content.
#[derive(Debug)]
struct PreData {
    fields: Vec<RawField>,
    file_name: Option<String>,
    file_content_type: Option<String>,
}

struct PreDataReader<S> {
    body: S,
    buf: BytesMut,
    /// Bytes taken off the front of `buf` so far.
    consumed: usize,
    limit: usize,
}

impl<S, E> PreDataReader<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: fmt::Display,
{
    /// Waits for more of the body, when what is buffered is not enough.
    async fn more(&mut self) -> Result<(), PostError> {
        // Whatever is buffered belongs to the incomplete element, so it is pre-data.
        if self.consumed + self.buf.len() > self.limit {
            return Err(PostError::MaxPostPreDataLengthExceeded);
        }
        loop {
            match self.body.next().await {
                Some(Ok(chunk)) if chunk.is_empty() => {}
                Some(Ok(chunk)) => {
                    self.buf.extend_from_slice(&chunk);
                    return Ok(());
                }
                Some(Err(e)) => {
                    return Err(PostError::BodyRead {
                        detail: e.to_string(),
                    });
                }
                None => return Err(PostError::MalformedPostRequest),
            }
        }
    }

    fn take(&mut self, n: usize) -> Result<Bytes, PostError> {
        self.consumed += n;
        if self.consumed > self.limit {
            return Err(PostError::MaxPostPreDataLengthExceeded);
        }
        Ok(self.buf.split_to(n).freeze())
    }

    /// Takes everything up to `needle` (returned) and the needle itself.
    async fn take_until(&mut self, needle: &[u8]) -> Result<Bytes, PostError> {
        let mut from = 0;
        loop {
            if let Some(i) = find(&self.buf, needle, from) {
                let mut taken = self.take(i + needle.len())?;
                taken.truncate(i);
                return Ok(taken);
            }
            from = self.buf.len().saturating_sub(needle.len() - 1);
            self.more().await?;
        }
    }

    async fn read(&mut self, delimiter: &[u8]) -> Result<PreData, PostError> {
        // The preamble, if any, and the first boundary.
        self.take_until(delimiter).await?;
        let mut fields: Vec<RawField> = Vec::new();
        loop {
            // After a boundary: "--" closes the body; otherwise optional transport
            // padding and a CRLF.
            loop {
                let buf = &self.buf[..];
                if buf.starts_with(b"--") {
                    return Err(PostError::NoFile);
                }
                if let Some(i) = find(buf, b"\r\n", 0) {
                    if !buf[..i].iter().all(|&b| b == b' ' || b == b'\t') {
                        return Err(PostError::MalformedPostRequest);
                    }
                    self.take(i + 2)?;
                    break;
                }
                let padding = buf.strip_suffix(b"\r").unwrap_or(buf);
                if buf != b"-" && !padding.iter().all(|&b| b == b' ' || b == b'\t') {
                    return Err(PostError::MalformedPostRequest);
                }
                self.more().await?;
            }
            // The part's headers.
            let headers = loop {
                if self.buf.starts_with(b"\r\n") {
                    self.take(2)?;
                    break Bytes::new();
                }
                if self.buf.len() >= 2 {
                    break self.take_until(b"\r\n\r\n").await?;
                }
                self.more().await?;
            };
            let part = PartHeaders::parse(&headers)?;
            if part.is_file() {
                return Ok(PreData {
                    fields,
                    file_name: part.filename,
                    file_content_type: part.content_type,
                });
            }
            let value = self.take_until(delimiter).await?;
            let value =
                String::from_utf8(value.to_vec()).map_err(|_| PostError::MalformedPostRequest)?;
            let lname = part.name.to_ascii_lowercase();
            match fields.iter_mut().find(|f| f.lname == lname) {
                // S3 joins repeated fields with commas (its policy docs say a condition
                // must then match "Ninja,Stallman").
                Some(field) => {
                    field.value.push(',');
                    field.value.push_str(&value);
                }
                None => fields.push(RawField {
                    name: part.name,
                    lname,
                    value,
                }),
            }
        }
    }
}

/// The headers of one form part.
#[derive(Debug)]
struct PartHeaders {
    disposition: String,
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
}

impl PartHeaders {
    fn parse(raw: &[u8]) -> Result<Self, PostError> {
        let text = String::from_utf8_lossy(raw);
        let mut lines: Vec<String> = Vec::new();
        for line in text.split("\r\n") {
            if line.starts_with([' ', '\t'])
                && let Some(last) = lines.last_mut()
            {
                last.push(' ');
                last.push_str(line.trim_start());
                continue;
            }
            if !line.is_empty() {
                lines.push(line.to_owned());
            }
        }
        let mut disposition = None;
        let mut content_type = None;
        for line in &lines {
            let (name, value) = line
                .split_once(':')
                .ok_or(PostError::MalformedPostRequest)?;
            let name = name.trim();
            if name.eq_ignore_ascii_case("content-disposition") && disposition.is_none() {
                disposition = Some(value.trim().to_owned());
            } else if name.eq_ignore_ascii_case("content-type") && content_type.is_none() {
                content_type = Some(value.trim().to_owned());
            }
        }
        let disposition = disposition.ok_or(PostError::MalformedPostRequest)?;
        let (kind, params) = split_params(&disposition);
        let param = |wanted: &str| {
            params
                .iter()
                .find(|(n, _)| n == wanted)
                .map(|(_, v)| v.clone())
        };
        Ok(Self {
            disposition: kind.trim().to_owned(),
            name: param("name").ok_or(PostError::MalformedPostRequest)?,
            filename: param("filename"),
            content_type,
        })
    }

    /// Only a `form-data` part named `file` is the file; a `filename` parameter on
    /// another part does not make it one (s3-tests sends one on every part).
    fn is_file(&self) -> bool {
        self.disposition.eq_ignore_ascii_case("form-data") && self.name.eq_ignore_ascii_case("file")
    }
}

/// Splits `value; a=b; c="d"` into `value` and lowercase-named parameters.
fn split_params(header: &str) -> (&str, Vec<(String, String)>) {
    let (head, mut rest) = header.split_once(';').unwrap_or((header, ""));
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            break;
        }
        let end = rest.find(['=', ';']).unwrap_or(rest.len());
        let name = rest[..end].trim().to_ascii_lowercase();
        rest = &rest[end..];
        let value = match rest.strip_prefix('=') {
            Some(after) => {
                let after = after.trim_start_matches([' ', '\t']);
                if let Some(quoted) = after.strip_prefix('"') {
                    let (value, remainder) = unquote(quoted);
                    rest = remainder;
                    value
                } else {
                    let end = after.find(';').unwrap_or(after.len());
                    rest = &after[end..];
                    after[..end].trim_end().to_owned()
                }
            }
            None => String::new(),
        };
        if !params.iter().any(|(n, _)| *n == name) {
            params.push((name, value));
        }
    }
    (head, params)
}

/// Reads a quoted string after its opening quote. `\"` and `\\` are unescaped; any
/// other backslash is kept, since browsers send Windows paths unescaped.
fn unquote(s: &str) -> (String, &str) {
    let mut out = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (out, &s[i + 1..]),
            '\\' => match chars.peek() {
                Some(&(_, next)) if next == '"' || next == '\\' => {
                    out.push(next);
                    chars.next();
                }
                _ => out.push('\\'),
            },
            _ => out.push(c),
        }
    }
    (out, "")
}

/// The boundary from a `multipart/form-data` content type.
fn boundary_of(content_type: &str) -> Result<String, PostError> {
    let (mime, params) = split_params(content_type);
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return Err(PostError::NotMultipart);
    }
    let boundary = params
        .into_iter()
        .find(|(n, _)| n == "boundary")
        .map(|(_, v)| v)
        .ok_or(PostError::MalformedPostRequest)?;
    if boundary.is_empty() || boundary.len() > MAX_BOUNDARY_LENGTH {
        return Err(PostError::MalformedPostRequest);
    }
    Ok(boundary)
}

/// The first `needle` in `hay` at or after `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let (&first, _) = needle.split_first()?;
    let last_start = hay.len().checked_sub(needle.len())?;
    let mut i = from;
    while i <= last_start {
        let offset = hay[i..=last_start].iter().position(|&b| b == first)?;
        let start = i + offset;
        if hay[start..start + needle.len()] == *needle {
            return Some(start);
        }
        i = start + 1;
    }
    None
}

// ---------------------------------------------------------------------------------
// Authentication and the policy

fn check_form(
    pre: PreData,
    bucket: &str,
    now: SystemTime,
    lookup: &(dyn Fn(&str) -> Option<String> + Send + Sync),
) -> Result<PostForm, PostError> {
    let PreData {
        mut fields,
        file_name,
        file_content_type,
    } = pre;

    // "${filename}" is expanded in every field before the policy is checked. With no
    // filename parameter at all S3 leaves it as it is.
    let file_name = file_name.map(|name| {
        let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
        base.to_owned()
    });
    if let Some(name) = &file_name {
        for field in &mut fields {
            if field.value.contains("${filename}") {
                field.value = field.value.replace("${filename}", name);
            }
        }
    }
    let get = |lname: &str| {
        fields
            .iter()
            .find(|f| f.lname == lname)
            .map(|f| f.value.as_str())
    };

    let key = match get("key") {
        Some(key) if !key.is_empty() => key.to_owned(),
        _ => return Err(PostError::MissingField { name: "key" }),
    };

    let v4 = [
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-signature",
    ]
    .iter()
    .any(|n| get(n).is_some());
    let v2 = get("awsaccesskeyid").is_some() || get("signature").is_some();
    let require =
        |lname: &str, name: &'static str| get(lname).ok_or(PostError::MissingField { name });

    let (auth, policy) = if v4 {
        let algorithm = require("x-amz-algorithm", "X-Amz-Algorithm")?;
        let credential = require("x-amz-credential", "X-Amz-Credential")?;
        let date = require("x-amz-date", "X-Amz-Date")?;
        let signature = require("x-amz-signature", "X-Amz-Signature")?;
        let policy = require("policy", "Policy")?;
        if algorithm != SIGV4_ALGORITHM {
            return Err(PostError::InvalidArgument {
                message: format!("X-Amz-Algorithm only supports \"{SIGV4_ALGORITHM}\""),
                argument_name: "X-Amz-Algorithm",
                argument_value: algorithm.to_owned(),
            });
        }
        let scope = Credential::parse(credential)?;
        if !is_amz_date(date) {
            return Err(PostError::InvalidArgument {
                message: "X-Amz-Date must be formated via ISO8601 Long format".to_owned(),
                argument_name: "X-Amz-Date",
                argument_value: date.to_owned(),
            });
        }
        let secret = lookup(scope.access_key).ok_or_else(|| PostError::InvalidAccessKeyId {
            access_key: scope.access_key.to_owned(),
        })?;
        let expected = sigv4_signature(&secret, scope.date, scope.region, policy);
        let provided = hex::decode(signature).unwrap_or_default();
        if !bool::from(provided.as_slice().ct_eq(expected.as_slice())) {
            return Err(PostError::SignatureDoesNotMatch {
                access_key: scope.access_key.to_owned(),
                string_to_sign: policy.to_owned(),
                signature_provided: signature.to_owned(),
            });
        }
        let auth = Auth::V4 {
            access_key: scope.access_key.to_owned(),
            region: scope.region.to_owned(),
        };
        (auth, Some(policy))
    } else if v2 {
        let access_key = require("awsaccesskeyid", "AWSAccessKeyId")?;
        let signature = require("signature", "Signature")?;
        let policy = require("policy", "Policy")?;
        let secret = lookup(access_key).ok_or_else(|| PostError::InvalidAccessKeyId {
            access_key: access_key.to_owned(),
        })?;
        let expected = sigv2_signature(&secret, policy);
        if !bool::from(signature.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(PostError::SignatureDoesNotMatch {
                access_key: access_key.to_owned(),
                string_to_sign: policy.to_owned(),
                signature_provided: signature.to_owned(),
            });
        }
        let auth = Auth::V2 {
            access_key: access_key.to_owned(),
        };
        (auth, Some(policy))
    } else {
        // S3 takes a form with a policy but no signature fields as anonymous too.
        (Auth::Anonymous, None)
    };

    let content_length_range = match policy {
        Some(policy) => {
            let policy = Policy::decode(policy)?;
            if OffsetDateTime::from(now) > policy.expiration {
                return Err(PostError::PolicyExpired);
            }
            policy.check(&fields, bucket)?
        }
        None => None,
    };

    let success_action_status = get("success_action_status")
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| matches!(s, 200 | 201 | 204));
    let success_action_redirect = get("success_action_redirect")
        .or_else(|| get("redirect"))
        .map(str::to_owned);

    Ok(PostForm {
        fields: fields.into_iter().map(|f| (f.lname, f.value)).collect(),
        auth,
        key,
        file_name,
        file_content_type,
        success_action_status,
        success_action_redirect,
        content_length_range,
    })
}

/// A SigV4 credential: `<AKID>/<yyyymmdd>/<region>/s3/aws4_request`.
struct Credential<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
}

impl<'a> Credential<'a> {
    fn parse(credential: &'a str) -> Result<Self, PostError> {
        let invalid = |message: String| PostError::InvalidArgument {
            message,
            argument_name: "X-Amz-Credential",
            argument_value: credential.to_owned(),
        };
        let parts: Vec<&str> = credential.split('/').collect();
        let [access_key, date, region, service, terminal] = parts[..] else {
            return Err(invalid(
                "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
                    .to_owned(),
            ));
        };
        if access_key.is_empty() {
            return Err(invalid(
                "a non-empty Access Key (AKID) must be provided in the credential.".to_owned(),
            ));
        }
        if !is_yyyymmdd(date) {
            return Err(invalid(format!(
                "incorrect date format \"{date}\". This date in the credential must be in the format \"yyyyMMdd\"."
            )));
        }
        if region.is_empty() {
            return Err(invalid(
                "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\"."
                    .to_owned(),
            ));
        }
        if service != "s3" {
            return Err(invalid(format!(
                "incorrect service \"{service}\". This endpoint belongs to \"s3\"."
            )));
        }
        if terminal != "aws4_request" {
            return Err(invalid(format!(
                "incorrect terminal \"{terminal}\". This endpoint uses \"aws4_request\"."
            )));
        }
        Ok(Self {
            access_key,
            date,
            region,
        })
    }
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn calendar_date(year: &str, month: &str, day: &str) -> Option<Date> {
    let year = i32::try_from(digits(year)?).ok()?;
    let month = Month::try_from(u8::try_from(digits(month)?).ok()?).ok()?;
    Date::from_calendar_date(year, month, u8::try_from(digits(day)?).ok()?).ok()
}

fn is_yyyymmdd(s: &str) -> bool {
    s.len() == 8 && s.is_ascii() && calendar_date(&s[0..4], &s[4..6], &s[6..8]).is_some()
}

/// `yyyymmddThhmmssZ`.
fn is_amz_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 16 || !s.is_ascii() || b[8] != b'T' || b[15] != b'Z' || !is_yyyymmdd(&s[..8]) {
        return false;
    }
    let field = |r: std::ops::Range<usize>| digits(&s[r]).and_then(|v| u8::try_from(v).ok());
    matches!(
        (field(9..11), field(11..13), field(13..15)),
        (Some(h), Some(m), Some(sec)) if Time::from_hms(h, m, sec).is_ok()
    )
}

/// A policy `expiration`: `yyyy-mm-ddThh:mm:ss[.fff]Z`, UTC only (S3 refuses an
/// offset or a space for the `T`).
fn parse_expiration(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if !s.is_ascii() || b.len() < 20 {
        return None;
    }
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let date = calendar_date(&s[0..4], &s[5..7], &s[8..10])?;
    let two = |r: std::ops::Range<usize>| digits(&s[r]).and_then(|v| u8::try_from(v).ok());
    let rest = s[19..].strip_suffix('Z')?;
    let nanos = match rest.strip_prefix('.') {
        None if rest.is_empty() => 0,
        Some(fraction) if (1..=9).contains(&fraction.len()) => {
            let value = digits(fraction)?;
            value * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let time = Time::from_hms_nano(two(11..13)?, two(14..16)?, two(17..19)?, nanos).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length; an empty result would only fail the comparison.
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The SigV4 POST signature: the policy text as sent (base64), signed with the
/// credential scope's key.
fn sigv4_signature(secret: &str, date: &str, region: &str, policy: &str) -> Vec<u8> {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, b"s3");
    let k_signing = hmac_sha256(&k_service, b"aws4_request");
    hmac_sha256(&k_signing, policy.as_bytes())
}

/// The SigV2 POST signature: base64 of HMAC-SHA1 over the policy text as sent.
fn sigv2_signature(secret: &str, policy: &str) -> String {
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(policy.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn invalid_policy(message: impl Into<String>) -> PostError {
    PostError::InvalidPolicyDocument {
        message: message.into(),
    }
}

fn invalid_json() -> PostError {
    invalid_policy("Invalid Policy: Invalid JSON.")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchKind {
    Eq,
    StartsWith,
}

#[derive(Debug)]
enum Condition {
    /// `{"field": "value"}`, `["eq", "$field", "value"]` or `["starts-with", ...]`.
    Match {
        kind: MatchKind,
        /// As written, `$` included (S3 fails a condition whose name lacks it).
        field: String,
        value: String,
        shown: String,
    },
    /// `["content-length-range", min, max]`; `None` when a bound is a string that is
    /// not a number, which S3 reports as a failed condition.
    LengthRange {
        bounds: Option<(u64, u64)>,
        shown: String,
    },
}

#[derive(Debug)]
struct Policy {
    expiration: OffsetDateTime,
    conditions: Vec<Condition>,
}

impl Policy {
    fn decode(encoded: &str) -> Result<Self, PostError> {
        let lenient = GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
        );
        let compact: Vec<u8> = encoded
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        let json = lenient
            .decode(compact)
            .map_err(|_| invalid_policy("Invalid Policy: invalid Base64 encoding."))?;
        let Ok(Value::Object(document)) = serde_json::from_slice::<Value>(&json) else {
            return Err(invalid_json());
        };
        // The top-level names are case-sensitive: "EXPIRATION" is not "expiration".
        if let Some(other) = document
            .keys()
            .find(|k| *k != "expiration" && *k != "conditions")
        {
            return Err(invalid_policy(format!(
                "Invalid Policy: Unexpected: '{}'",
                other.to_lowercase()
            )));
        }
        let expiration = match document.get("expiration") {
            None => return Err(invalid_policy("Invalid Policy: Policy missing expiration.")),
            Some(Value::String(s)) => parse_expiration(s).ok_or_else(|| {
                invalid_policy(format!("Invalid Policy: Invalid 'expiration' value: '{s}'"))
            })?,
            Some(other) => {
                return Err(invalid_policy(format!(
                    "Invalid Policy: Invalid 'expiration' value: '{other}'"
                )));
            }
        };
        let conditions = match document.get("conditions") {
            None => return Err(invalid_policy("Invalid Policy: Policy missing conditions.")),
            Some(Value::Array(list)) => list
                .iter()
                .map(Condition::decode)
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => {
                return Err(invalid_policy(
                    "Invalid Policy: Invalid 'conditions' value: must be a List.",
                ));
            }
        };
        Ok(Self {
            expiration,
            conditions,
        })
    }

    /// Checks the conditions in order, then that every field is covered by one.
    /// Returns the content-length range.
    fn check(&self, fields: &[RawField], bucket: &str) -> Result<Option<(u64, u64)>, PostError> {
        let mut covered: HashSet<String> = HashSet::new();
        let mut range: Option<(u64, u64)> = None;
        for condition in &self.conditions {
            match condition {
                Condition::Match {
                    kind,
                    field,
                    value,
                    shown,
                } => {
                    let failed = || PostError::ConditionFailed {
                        condition: shown.clone(),
                    };
                    let name = field
                        .strip_prefix('$')
                        .ok_or_else(failed)?
                        .to_ascii_lowercase();
                    // The bucket is the one the request went to, not a form field.
                    let actual = if name == "bucket" {
                        Some(bucket)
                    } else {
                        fields
                            .iter()
                            .find(|f| f.lname == name)
                            .map(|f| f.value.as_str())
                    };
                    // A condition on an absent field fails, even `starts-with ""`.
                    let actual = actual.ok_or_else(failed)?;
                    let met = match kind {
                        MatchKind::Eq => actual == value,
                        // A Content-Type list passes when every entry does.
                        MatchKind::StartsWith if name == "content-type" => actual
                            .split(',')
                            .all(|entry| entry.trim().starts_with(value.as_str())),
                        MatchKind::StartsWith => actual.starts_with(value.as_str()),
                    };
                    if !met {
                        return Err(failed());
                    }
                    covered.insert(name);
                }
                Condition::LengthRange { bounds, shown } => {
                    let (min, max) = bounds.ok_or_else(|| PostError::ConditionFailed {
                        condition: shown.clone(),
                    })?;
                    range = Some(match range {
                        Some((lo, hi)) => (lo.max(min), hi.min(max)),
                        None => (min, max),
                    });
                }
            }
        }
        let exempt = |lname: &str| {
            matches!(
                lname,
                "policy" | "x-amz-signature" | "signature" | "awsaccesskeyid" | "file"
            ) || lname.starts_with("x-ignore-")
        };
        if let Some(extra) = fields
            .iter()
            .find(|f| !exempt(&f.lname) && !covered.contains(&f.lname))
        {
            return Err(PostError::ExtraInputField {
                name: extra.name.clone(),
            });
        }
        Ok(range)
    }
}

impl Condition {
    fn decode(condition: &Value) -> Result<Self, PostError> {
        match condition {
            Value::Object(map) => {
                let mut entries = map.iter();
                let (Some((name, value)), None) = (entries.next(), entries.next()) else {
                    return Err(invalid_policy(
                        "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.",
                    ));
                };
                let value = match value {
                    Value::String(s) => s.clone(),
                    Value::Null => return Err(invalid_json()),
                    _ => {
                        return Err(invalid_policy(
                            "Invalid Policy: Invalid Simple-Condition: value must be a string.",
                        ));
                    }
                };
                // S3 prints a simple condition as the `eq` it stands for.
                let field = format!("${name}");
                let shown = format!(
                    "[\"eq\", {}, {}]",
                    Value::String(field.clone()),
                    Value::String(value.clone())
                );
                Ok(Self::Match {
                    kind: MatchKind::Eq,
                    field,
                    value,
                    shown,
                })
            }
            Value::Array(items) => {
                let Some(Value::String(operation)) = items.first() else {
                    return Err(invalid_policy(
                        "Invalid Policy: Invalid Condition: missing operation identifier.",
                    ));
                };
                let shown = format!(
                    "[{}]",
                    items
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let operation = operation.to_ascii_lowercase();
                let kind = match operation.as_str() {
                    "eq" => Some(MatchKind::Eq),
                    "starts-with" => Some(MatchKind::StartsWith),
                    "content-length-range" => None,
                    _ => {
                        return Err(invalid_policy(format!(
                            "Invalid Policy: Invalid Condition: unknown operation '{operation}'."
                        )));
                    }
                };
                let [_, first, second] = &items[..] else {
                    return Err(invalid_policy(format!(
                        "Invalid Policy: Invalid {operation}: wrong number of arguments."
                    )));
                };
                match kind {
                    Some(kind) => {
                        let (Value::String(field), Value::String(value)) = (first, second) else {
                            return Err(invalid_json());
                        };
                        Ok(Self::Match {
                            kind,
                            field: field.clone(),
                            value: value.clone(),
                            shown,
                        })
                    }
                    None => {
                        let bounds = match (range_bound(first)?, range_bound(second)?) {
                            (Some(min), Some(max)) => Some((min, max)),
                            _ => None,
                        };
                        Ok(Self::LengthRange { bounds, shown })
                    }
                }
            }
            _ => Err(invalid_policy(
                "Invalid Policy: Invalid condition test: must be a List or Object.",
            )),
        }
    }
}

/// A `content-length-range` bound: a non-negative integer, or a string holding one
/// (S3 accepts `"5"`; a string that is no number fails the condition instead).
fn range_bound(value: &Value) -> Result<Option<u64>, PostError> {
    match value {
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(v), _) => Ok(Some(v)),
            (None, Some(_)) => Err(invalid_policy(
                "Invalid Policy: Invalid content-length-range: bounds must not be negative.",
            )),
            // S3 answers a fractional bound with "Invalid JSON."
            (None, None) => Err(invalid_json()),
        },
        Value::String(s) => Ok(s.trim().parse::<u64>().ok()),
        _ => Err(invalid_json()),
    }
}

// ---------------------------------------------------------------------------------
// Small encoders

fn spaced_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn xml_escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>']) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;"),
    )
}

fn form_urlencode(s: &str) -> String {
    utf8_percent_encode(s, FORM_URLENCODED)
        .to_string()
        .replace("%20", "+")
}

/// A `success_action_redirect` S3 can use: an absolute URL (`scheme://host...`).
/// Anything else is treated as absent. Non-ASCII is percent-encoded so the result
/// is a valid header value; control characters make the URL unusable.
fn redirect_base(url: &str) -> Option<String> {
    let url = url.trim();
    if url.chars().any(char::is_control) {
        return None;
    }
    let (scheme, rest) = url.split_once("://")?;
    let mut scheme_chars = scheme.chars();
    let scheme_ok = scheme_chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme_chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if !scheme_ok || host.is_empty() || host.contains(' ') {
        return None;
    }
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut utf8 = [0u8; 4];
            for b in c.encode_utf8(&mut utf8).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, UNIX_EPOCH};

    const BOUNDARY: &str = "9431149156168";
    const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const CREDENTIAL: &str = "AKIAIOSFODNN7EXAMPLE/20231114/us-east-1/s3/aws4_request";
    const AMZ_DATE: &str = "20231114T000000Z";
    const BUCKET: &str = "bucket";

    /// 2023-11-14T22:13:20Z.
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn lookup(access_key: &str) -> Option<String> {
        (access_key == AKID).then(|| SECRET.to_owned())
    }

    fn content_type() -> String {
        format!("multipart/form-data; boundary={BOUNDARY}")
    }

    #[derive(Clone, Default)]
    struct Form {
        fields: Vec<(String, String)>,
        file: Option<(Option<String>, Vec<u8>)>,
        after: Vec<(String, String)>,
        /// Put `filename="<name>"` on every field, as python-requests does for s3-tests.
        filename_on_fields: bool,
    }

    impl Form {
        fn new() -> Self {
            Self::default()
        }
        fn field(mut self, name: &str, value: &str) -> Self {
            self.fields.push((name.to_owned(), value.to_owned()));
            self
        }
        fn without(mut self, name: &str) -> Self {
            self.fields.retain(|(n, _)| n != name);
            self
        }
        fn file(mut self, filename: Option<&str>, data: &[u8]) -> Self {
            self.file = Some((filename.map(str::to_owned), data.to_vec()));
            self
        }
        fn after(mut self, name: &str, value: &str) -> Self {
            self.after.push((name.to_owned(), value.to_owned()));
            self
        }
        fn bytes(&self) -> Vec<u8> {
            let mut out = Vec::new();
            for (name, value) in &self.fields {
                let filename = self.filename_on_fields.then_some(name.as_str());
                part(&mut out, name, filename, value.as_bytes());
            }
            if let Some((filename, data)) = &self.file {
                out.extend_from_slice(
                    format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"")
                        .as_bytes(),
                );
                if let Some(filename) = filename {
                    out.extend_from_slice(format!("; filename=\"{filename}\"").as_bytes());
                }
                out.extend_from_slice(b"\r\nContent-Type: application/octet-stream\r\n\r\n");
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
            }
            for (name, value) in &self.after {
                part(&mut out, name, None, value.as_bytes());
            }
            out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
            out
        }
    }

    fn part(out: &mut Vec<u8>, name: &str, filename: Option<&str>, value: &[u8]) {
        out.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes(),
        );
        if let Some(filename) = filename {
            out.extend_from_slice(format!("; filename=\"{filename}\"").as_bytes());
        }
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }

    fn policy_json(expiration: &str, conditions: &[&str]) -> String {
        format!(
            "{{\"expiration\": \"{expiration}\", \"conditions\": [{}]}}",
            conditions.join(", ")
        )
    }

    /// A SigV4 policy: the bucket, the three x-amz fields, then `extra`.
    fn v4_policy(extra: &[&str]) -> String {
        let credential = format!("{{\"x-amz-credential\": \"{CREDENTIAL}\"}}");
        let date = format!("{{\"x-amz-date\": \"{AMZ_DATE}\"}}");
        let mut conditions = vec![
            "{\"bucket\": \"bucket\"}",
            "{\"x-amz-algorithm\": \"AWS4-HMAC-SHA256\"}",
            credential.as_str(),
            date.as_str(),
        ];
        conditions.extend_from_slice(extra);
        policy_json("2030-01-01T00:00:00.000Z", &conditions)
    }

    /// s3-tests' base policy C0.
    fn c0_policy() -> String {
        policy_json(
            "2030-01-01T00:00:00Z",
            &[
                "{\"bucket\": \"bucket\"}",
                "[\"starts-with\", \"$key\", \"foo\"]",
                "{\"acl\": \"private\"}",
                "[\"starts-with\", \"$Content-Type\", \"text/plain\"]",
                "[\"content-length-range\", 0, 1024]",
            ],
        )
    }

    fn sign_v4(form: Form, policy: &str) -> Form {
        let encoded = STANDARD.encode(policy);
        let signature = hex::encode(sigv4_signature(SECRET, "20231114", "us-east-1", &encoded));
        form.field("X-Amz-Algorithm", SIGV4_ALGORITHM)
            .field("X-Amz-Credential", CREDENTIAL)
            .field("X-Amz-Date", AMZ_DATE)
            .field("Policy", &encoded)
            .field("X-Amz-Signature", &signature)
    }

    /// A signed SigV4 form with key, Content-Type and a file.
    fn v4_form(extra: &[&str]) -> Form {
        let form = Form::new()
            .field("key", "user/${filename}")
            .field("Content-Type", "text/plain");
        let mut conditions = vec![
            "[\"starts-with\", \"$key\", \"user/\"]",
            "[\"starts-with\", \"$Content-Type\", \"text/\"]",
        ];
        conditions.extend_from_slice(extra);
        sign_v4(form, &v4_policy(&conditions)).file(Some("hello.txt"), b"hello world")
    }

    /// s3-tests' base form F0 (SigV2), as python-requests encodes it.
    fn f0_form() -> Form {
        let policy = c0_policy();
        let encoded = STANDARD.encode(&policy);
        let mut form = Form::new()
            .field("key", "foo.txt")
            .field("AWSAccessKeyId", AKID)
            .field("acl", "private")
            .field("signature", &sigv2_signature(SECRET, &encoded))
            .field("policy", &encoded)
            .field("Content-Type", "text/plain")
            .file(Some("file"), b"bar");
        form.filename_on_fields = true;
        form
    }

    type Body = stream::Iter<std::vec::IntoIter<Result<Bytes, String>>>;

    fn chunked(body: &[u8], size: usize) -> Body {
        let chunks: Vec<Result<Bytes, String>> = body
            .chunks(size.max(1))
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        stream::iter(chunks)
    }

    fn split_at(body: &[u8], at: usize) -> Body {
        let (a, b) = body.split_at(at);
        stream::iter(vec![
            Ok(Bytes::copy_from_slice(a)),
            Ok(Bytes::copy_from_slice(b)),
        ])
    }

    async fn drain<S>(mut file: FileStream<S>) -> Result<Vec<u8>, PostError>
    where
        S: Stream<Item = Result<Bytes, String>> + Unpin,
    {
        let mut data = Vec::new();
        while let Some(chunk) = file.next().await {
            data.extend_from_slice(&chunk?);
        }
        assert!(file.is_finished());
        Ok(data)
    }

    async fn run_stream(body: Body) -> Result<(PostForm, Vec<u8>), PostError> {
        let (form, file) = parse(&content_type(), body, BUCKET, now(), &lookup).await?;
        let data = drain(file).await?;
        Ok((form, data))
    }

    async fn run(form: &Form) -> Result<(PostForm, Vec<u8>), PostError> {
        run_stream(chunked(&form.bytes(), 4096)).await
    }

    async fn error_of(form: &Form) -> PostError {
        match run(form).await {
            Ok((form, _)) => panic!("accepted: {form:?}"),
            Err(error) => error,
        }
    }

    /// Where the file's content starts: the pre-data length.
    fn file_content_start(body: &[u8]) -> usize {
        let at = find(body, b"name=\"file\"", 0).expect("file part");
        find(body, b"\r\n\r\n", at).expect("file headers") + 4
    }

    #[test]
    fn sigv4_signature_matches_aws_documented_examples() {
        // sigv4-post-example: the example policy (CRLF line ends) and its signature.
        let aws_policy = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
        assert_eq!(
            hex::encode(sigv4_signature(SECRET, "20151229", "us-east-1", aws_policy)),
            "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
        );
        // botocore generate_presigned_post with a fixed clock (same credentials).
        let boto_policy = "eyJleHBpcmF0aW9uIjogIjIwMTUtMTItMjlUMDE6MDA6MDBaIiwgImNvbmRpdGlvbnMiOiBbeyJidWNrZXQiOiAic2lndjRleGFtcGxlYnVja2V0In0sIHsia2V5IjogInVzZXIvdXNlcjEvcGhvdG8uanBnIn0sIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwgeyJ4LWFtei1jcmVkZW50aWFsIjogIkFLSUFJT1NGT0ROTjdFWEFNUExFLzIwMTUxMjI5L3VzLWVhc3QtMS9zMy9hd3M0X3JlcXVlc3QifSwgeyJ4LWFtei1kYXRlIjogIjIwMTUxMjI5VDAwMDAwMFoifV19";
        assert_eq!(
            hex::encode(sigv4_signature(
                SECRET,
                "20151229",
                "us-east-1",
                boto_policy
            )),
            "3364624b39010d9b06f5d9b8c9a18a6e478d261c048159c92f2fd6fa885f14e6"
        );
        // Both decode as policies.
        assert!(Policy::decode(aws_policy).is_ok());
        assert!(Policy::decode(boto_policy).is_ok());
    }

    #[test]
    fn sigv2_signature_is_base64_hmac_sha1() {
        // RFC 2202 test case 2.
        assert_eq!(
            sigv2_signature("Jefe", "what do ya want for nothing?"),
            STANDARD.encode(hex::decode("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79").unwrap())
        );
    }

    #[tokio::test]
    async fn accepts_a_signed_v4_form() {
        let form = v4_form(&[
            "{\"acl\": \"public-read\"}",
            "{\"x-amz-meta-uuid\": \"14365123651274\"}",
            "[\"content-length-range\", 1, 100]",
        ])
        .field("acl", "public-read")
        .field("x-amz-meta-UUID", "14365123651274")
        .after("submit", "Upload to Amazon S3");
        let (post, data) = run(&form).await.unwrap();
        assert_eq!(data, b"hello world");
        assert_eq!(
            post.auth,
            Auth::V4 {
                access_key: AKID.to_owned(),
                region: "us-east-1".to_owned()
            }
        );
        assert_eq!(post.key, "user/hello.txt");
        assert_eq!(post.file_name.as_deref(), Some("hello.txt"));
        assert_eq!(
            post.file_content_type.as_deref(),
            Some("application/octet-stream")
        );
        assert_eq!(post.content_length_range, Some((1, 100)));
        assert_eq!(post.field("CONTENT-TYPE"), Some("text/plain"));
        assert_eq!(post.field("key"), Some("user/hello.txt"));
        assert!(
            post.fields
                .contains(&("x-amz-meta-uuid".to_owned(), "14365123651274".to_owned()))
        );
        assert!(post.fields.iter().all(|(n, _)| *n == n.to_lowercase()));
        assert_eq!(
            post.field("submit"),
            None,
            "fields after the file are ignored"
        );
        assert_eq!(post.success_action_status, None);
        assert_eq!(post.success_action_redirect, None);
    }

    #[tokio::test]
    async fn accepts_s3_tests_v2_forms() {
        let (post, data) = run(&f0_form()).await.unwrap();
        assert_eq!(data, b"bar");
        assert_eq!(
            post.auth,
            Auth::V2 {
                access_key: AKID.to_owned()
            }
        );
        assert_eq!(post.key, "foo.txt");
        assert_eq!(post.file_name.as_deref(), Some("file"));
        assert_eq!(post.content_length_range, Some((0, 1024)));

        // test_post_object_case_insensitive_condition_fields
        let policy = policy_json(
            "2030-01-01T00:00:00Z",
            &[
                "{\"bUcKeT\": \"bucket\"}",
                "[\"StArTs-WiTh\", \"$KeY\", \"foo\"]",
                "{\"AcL\": \"private\"}",
                "[\"StArTs-WiTh\", \"$CoNtEnT-TyPe\", \"text/plain\"]",
                "[\"content-length-range\", 0, 1024]",
            ],
        );
        let encoded = STANDARD.encode(&policy);
        let form = Form::new()
            .field("kEy", "foo.txt")
            .field("AWSAccessKeyId", AKID)
            .field("aCl", "private")
            .field("signature", &sigv2_signature(SECRET, &encoded))
            .field("pOLICy", &encoded)
            .field("Content-Type", "text/plain")
            .file(Some("file"), b"bar");
        assert!(run(&form).await.is_ok());

        // test_post_object_ignored_header, test_post_object_escaped_field_values
        let form = f0_form().without("file").field("x-ignore-foo", "bar");
        assert!(run(&form).await.is_ok());
        let policy = c0_policy().replace("\"foo\"", "\"\\\\$foo\"");
        let encoded = STANDARD.encode(&policy);
        let form = f0_form()
            .without("key")
            .without("signature")
            .without("policy")
            .field("key", "\\$foo.txt")
            .field("signature", &sigv2_signature(SECRET, &encoded))
            .field("policy", &encoded);
        let (post, _) = run(&form).await.unwrap();
        assert_eq!(post.key, "\\$foo.txt");
    }

    #[tokio::test]
    async fn accepts_anonymous_forms() {
        let form = Form::new()
            .field("key", "foo.txt")
            .field("acl", "public-read")
            .field("Content-Type", "text/plain")
            .field("success_action_status", "201")
            .file(None, b"bar");
        let (post, data) = run(&form).await.unwrap();
        assert_eq!(post.auth, Auth::Anonymous);
        assert_eq!(data, b"bar");
        assert_eq!(post.success_action_status, Some(201));
        assert_eq!(post.content_length_range, None);
        assert_eq!(post.file_name, None);

        // A policy without any signature field is anonymous too; it is not applied.
        let form = form
            .field("policy", &STANDARD.encode(c0_policy()))
            .field("success_action_status", "404");
        let (post, _) = run(&form).await.unwrap();
        assert_eq!(post.auth, Auth::Anonymous);
        assert_eq!(post.content_length_range, None);
        assert_eq!(post.success_action_status, None, "201,404 is not valid");
    }

    #[tokio::test]
    async fn reports_each_failed_condition_as_s3_does() {
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case<'_>] = &[
            (
                &["[\"eq\", \"$acl\", \"private\"]"],
                &[("acl", "public-read")],
                "[\"eq\", \"$acl\", \"private\"]",
            ),
            (
                &["{\"acl\": \"private\"}"],
                &[("acl", "public-read")],
                "[\"eq\", \"$acl\", \"private\"]",
            ),
            (
                &["{\"acl\": \"Public-Read\"}"],
                &[("acl", "public-read")],
                "[\"eq\", \"$acl\", \"Public-Read\"]",
            ),
            (
                &["[\"starts-with\", \"$x-amz-meta-foo\", \"bar\"]"],
                &[("x-amz-meta-foo", "baz")],
                "[\"starts-with\", \"$x-amz-meta-foo\", \"bar\"]",
            ),
            (
                &["[\"starts-with\", \"$x-amz-meta-foo\", \"\"]"],
                &[],
                "[\"starts-with\", \"$x-amz-meta-foo\", \"\"]",
            ),
            (
                &["[\"eq\", \"$x-amz-meta-foo\", \"\"]"],
                &[("x-amz-meta-foo", "barclamp")],
                "[\"eq\", \"$x-amz-meta-foo\", \"\"]",
            ),
            (
                &["[\"eq\", \"acl\", \"public-read\"]"],
                &[("acl", "public-read")],
                "[\"eq\", \"acl\", \"public-read\"]",
            ),
            (
                &["[\"content-length-range\", \"test\", \"10\"]"],
                &[],
                "[\"content-length-range\", \"test\", \"10\"]",
            ),
            (
                &["{\"x-amz-meta-q\": \"say \\\"hi\\\"\"}"],
                &[("x-amz-meta-q", "say hi")],
                "[\"eq\", \"$x-amz-meta-q\", \"say \\\"hi\\\"\"]",
            ),
        ];
        for (conditions, fields, shown) in cases {
            let mut form = Form::new()
                .field("key", "user/a")
                .field("Content-Type", "text/plain");
            for (name, value) in *fields {
                form = form.field(name, value);
            }
            let mut all = vec![
                "[\"starts-with\", \"$key\", \"user/\"]",
                "[\"starts-with\", \"$Content-Type\", \"text/\"]",
            ];
            all.extend_from_slice(conditions);
            let form = sign_v4(form, &v4_policy(&all)).file(None, b"x");
            let error = error_of(&form).await;
            assert_eq!(
                error,
                PostError::ConditionFailed {
                    condition: (*shown).to_owned()
                },
                "{conditions:?}"
            );
            assert_eq!(error.status(), StatusCode::FORBIDDEN);
            assert_eq!(error.code(), "AccessDenied");
            assert_eq!(
                error.message(),
                format!("Invalid according to Policy: Policy Condition failed: {shown}")
            );
        }
    }

    #[tokio::test]
    async fn checks_key_bucket_and_content_type_conditions() {
        // The key does not start with the prefix.
        let form = sign_v4(
            Form::new().field("key", "other/a"),
            &v4_policy(&["[\"starts-with\", \"$key\", \"user/\"]"]),
        )
        .file(None, b"x");
        assert_eq!(
            error_of(&form).await.message(),
            "Invalid according to Policy: Policy Condition failed: [\"starts-with\", \"$key\", \"user/\"]"
        );

        // test_post_object_wrong_bucket: a `bucket` field does not stand in for the
        // bucket the request went to.
        let policy = v4_policy(&["{\"key\": \"a\"}"])
            .replace("\"bucket\": \"bucket\"", "\"bucket\": \"other\"");
        let form = sign_v4(
            Form::new().field("key", "a").field("bucket", "other"),
            &policy,
        )
        .file(None, b"x");
        assert_eq!(
            error_of(&form).await,
            PostError::ConditionFailed {
                condition: "[\"eq\", \"$bucket\", \"other\"]".to_owned()
            }
        );

        // Content-Type lists: every entry must match.
        let conditions = [
            "{\"key\": \"a\"}",
            "[\"starts-with\", \"$Content-Type\", \"image/\"]",
        ];
        let ok = sign_v4(
            Form::new()
                .field("key", "a")
                .field("Content-Type", "image/jpg, image/png,image/gif"),
            &v4_policy(&conditions),
        )
        .file(None, b"x");
        assert!(run(&ok).await.is_ok());
        let bad = sign_v4(
            Form::new()
                .field("key", "a")
                .field("Content-Type", "image/jpg,text/plain"),
            &v4_policy(&conditions),
        )
        .file(None, b"x");
        assert!(matches!(
            error_of(&bad).await,
            PostError::ConditionFailed { .. }
        ));
    }

    #[tokio::test]
    async fn rejects_fields_no_condition_covers() {
        let form = v4_form(&[]).field("X-Custom-Thing", "1");
        let error = error_of(&form).await;
        assert_eq!(
            error,
            PostError::ExtraInputField {
                name: "X-Custom-Thing".to_owned()
            }
        );
        assert_eq!(
            error.message(),
            "Invalid according to Policy: Extra input fields: X-Custom-Thing"
        );
        assert_eq!(error.status(), StatusCode::FORBIDDEN);

        // A `bucket` field is a field like any other: covered only by a bucket condition.
        let policy = v4_policy(&["{\"key\": \"a\"}"]).replace("{\"bucket\": \"bucket\"}, ", "");
        let form = sign_v4(
            Form::new().field("key", "a").field("bucket", "bucket"),
            &policy,
        )
        .file(None, b"x");
        assert_eq!(
            error_of(&form).await,
            PostError::ExtraInputField {
                name: "bucket".to_owned()
            }
        );

        // x-ignore-* fields and anything after the file need no condition.
        let form = v4_form(&[])
            .field("x-ignore-flash", "1")
            .after("Filename", "f")
            .after("submit", "go");
        assert!(run(&form).await.is_ok());
    }

    #[tokio::test]
    async fn rejects_expired_policies() {
        let policy = v4_policy(&["{\"key\": \"a\"}"])
            .replace("2030-01-01T00:00:00.000Z", "2023-11-14T22:13:19Z");
        let form = sign_v4(Form::new().field("key", "a"), &policy).file(None, b"x");
        let error = error_of(&form).await;
        assert_eq!(error, PostError::PolicyExpired);
        assert_eq!(error.code(), "AccessDenied");
        assert_eq!(error.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            error.message(),
            "Invalid according to Policy: Policy expired."
        );

        // Still valid at the expiration instant itself.
        let policy = v4_policy(&["{\"key\": \"a\"}"])
            .replace("2030-01-01T00:00:00.000Z", "2023-11-14T22:13:20.000Z");
        let form = sign_v4(Form::new().field("key", "a"), &policy).file(None, b"x");
        assert!(run(&form).await.is_ok());
    }

    #[tokio::test]
    async fn rejects_bad_signatures() {
        let mut form = v4_form(&[]);
        for (name, value) in &mut form.fields {
            if name == "X-Amz-Signature" {
                *value = value.replace('a', "b").replace('0', "1");
            }
        }
        let error = error_of(&form).await;
        let PostError::SignatureDoesNotMatch {
            access_key,
            string_to_sign,
            ..
        } = &error
        else {
            panic!("{error:?}");
        };
        assert_eq!(access_key, AKID);
        assert_eq!(
            Some(string_to_sign.as_str()),
            form.fields
                .iter()
                .find(|(n, _)| n == "Policy")
                .map(|(_, v)| v.as_str())
        );
        assert_eq!(error.status(), StatusCode::FORBIDDEN);
        let extra = error.extra_elements();
        assert_eq!(extra[0].0, "AWSAccessKeyId");
        // The bytes of the policy as sent (base64 text starting "eyJ").
        assert!(extra[3].1.starts_with("65 79 4a "), "{}", extra[3].1);

        // A policy changed after signing.
        let mut form = v4_form(&[]);
        for (name, value) in &mut form.fields {
            if name == "Policy" {
                value.truncate(value.len() - 2);
            }
        }
        assert!(matches!(
            error_of(&form).await,
            PostError::SignatureDoesNotMatch { .. }
        ));

        // test_post_object_invalid_signature: SigV2 signature reversed.
        let mut form = f0_form();
        for (name, value) in &mut form.fields {
            if name == "signature" {
                *value = value.chars().rev().collect();
            }
        }
        assert_eq!(error_of(&form).await.code(), "SignatureDoesNotMatch");
    }

    #[tokio::test]
    async fn rejects_unknown_access_keys() {
        let mut form = v4_form(&[]);
        for (name, value) in &mut form.fields {
            if name == "X-Amz-Credential" {
                *value = value.replace(AKID, "AKIDUNKNOWN");
            }
        }
        let error = error_of(&form).await;
        assert_eq!(
            error,
            PostError::InvalidAccessKeyId {
                access_key: "AKIDUNKNOWN".to_owned()
            }
        );
        assert_eq!(error.status(), StatusCode::FORBIDDEN);

        // test_post_object_authenticated_request_bad_access_key
        let mut form = f0_form();
        for (name, value) in &mut form.fields {
            if name == "AWSAccessKeyId" {
                *value = "foo".to_owned();
            }
        }
        assert_eq!(error_of(&form).await.code(), "InvalidAccessKeyId");
    }

    #[tokio::test]
    async fn requires_a_key_field_before_the_file() {
        let message = "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.";
        let error = error_of(&Form::new().file(None, b"x")).await;
        assert_eq!(error, PostError::MissingField { name: "key" });
        assert_eq!(error.code(), "InvalidArgument");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert_eq!(error.message(), message);
        assert_eq!(
            error.extra_elements(),
            vec![
                ("ArgumentName", "key".to_owned()),
                ("ArgumentValue", String::new())
            ]
        );
        // After the file it is ignored.
        let form = Form::new().file(None, b"x").after("key", "a");
        assert_eq!(
            error_of(&form).await,
            PostError::MissingField { name: "key" }
        );
        // test_post_object_no_key_specified
        let form = f0_form().without("key");
        assert_eq!(
            error_of(&form).await,
            PostError::MissingField { name: "key" }
        );
    }

    #[tokio::test]
    async fn substitutes_the_file_name() {
        let anonymous = |filename: Option<&str>| {
            Form::new()
                .field("key", "uploads/${filename}")
                .field("x-amz-meta-from", "${filename}!")
                .file(filename, b"x")
        };
        let cases = [
            (Some("photo.jpg"), "uploads/photo.jpg"),
            (
                Some("C:\\Users\\me\\photo one.jpg"),
                "uploads/photo one.jpg",
            ),
            (Some("/home/me/a.txt"), "uploads/a.txt"),
            (Some(""), "uploads/"),
            (None, "uploads/${filename}"),
        ];
        for (filename, key) in cases {
            let (post, _) = run(&anonymous(filename)).await.unwrap();
            assert_eq!(post.key, key, "{filename:?}");
            let expected_name = key.strip_prefix("uploads/").unwrap();
            if filename.is_some() {
                assert_eq!(post.file_name.as_deref(), Some(expected_name));
                assert_eq!(
                    post.field("x-amz-meta-from"),
                    Some(format!("{expected_name}!").as_str())
                );
            } else {
                assert_eq!(post.file_name, None);
            }
        }
        // test_post_object_set_key_from_filename: conditions see the expanded key.
        let form = f0_form()
            .without("key")
            .field("key", "${filename}")
            .file(Some("foo.txt"), b"bar");
        let (post, _) = run(&form).await.unwrap();
        assert_eq!(post.key, "foo.txt");
    }

    #[tokio::test]
    async fn parses_the_same_whatever_the_chunking() {
        // File content with CRs, LFs and partial boundaries.
        let content = b"a\r\n--9431149156\r\r\n-\r\n--943114915616\rz\r\n";
        let form = v4_form(&[])
            .field("x-ignore-note", "line1\r\nline2 --943114915616")
            .file(Some("hello.txt"), content)
            .after("submit", "go");
        let body = form.bytes();
        let (expected, data) = run_stream(chunked(&body, body.len())).await.unwrap();
        assert_eq!(data, content);
        assert_eq!(
            expected.field("x-ignore-note"),
            Some("line1\r\nline2 --943114915616")
        );
        for at in 0..=body.len() {
            let (post, data) = run_stream(split_at(&body, at)).await.unwrap();
            assert_eq!(post, expected, "split at {at}");
            assert_eq!(data, content, "split at {at}");
        }
        let (post, data) = run_stream(chunked(&body, 1)).await.unwrap();
        assert_eq!(post, expected);
        assert_eq!(data, content);
    }

    #[tokio::test]
    async fn tolerates_preamble_padding_and_quoted_boundaries() {
        let body = format!(
            "preamble line\r\n--{BOUNDARY}  \r\ncontent-disposition: form-data;\r\n name=key\r\n\r\na\r\n--{BOUNDARY}\t\r\nContent-Disposition: form-data; name=\"FILE\"; filename=\"x\\\"y.txt\"\r\n\r\nbody\r\n--{BOUNDARY}--"
        );
        let ct = format!("Multipart/Form-Data; charset=utf-8; boundary=\"{BOUNDARY}\"");
        let (post, file) = parse(&ct, chunked(body.as_bytes(), 7), BUCKET, now(), &lookup)
            .await
            .unwrap();
        assert_eq!(post.key, "a");
        assert_eq!(post.file_name.as_deref(), Some("x\"y.txt"));
        assert_eq!(drain(file).await.unwrap(), b"body");
    }

    #[tokio::test]
    async fn fails_the_file_stream_when_the_body_is_cut_short() {
        let body = v4_form(&[]).file(Some("a"), &[b'z'; 1000]).bytes();
        let start = file_content_start(&body);
        // Inside the file: the bytes so far come through, then the error.
        let cut = &body[..start + 600];
        let (_, mut file) = parse(&content_type(), chunked(cut, 100), BUCKET, now(), &lookup)
            .await
            .unwrap();
        let mut got = 0;
        let error = loop {
            match file.next().await {
                Some(Ok(chunk)) => got += chunk.len(),
                Some(Err(error)) => break error,
                None => panic!("ended without error"),
            }
        };
        assert_eq!(got, 600);
        assert_eq!(error, PostError::IncompleteBody);
        assert_eq!(error.code(), "IncompleteBody");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert!(file.next().await.is_none());

        // Right before the closing boundary, and within it.
        let end = find(&body, format!("\r\n--{BOUNDARY}--").as_bytes(), start).unwrap();
        for cut in [end, end + 3] {
            let result = run_stream(chunked(&body[..cut], 64)).await;
            assert_eq!(result.unwrap_err(), PostError::IncompleteBody);
        }
        // A stream error is passed on.
        let mut chunks: Vec<Result<Bytes, String>> =
            vec![Ok(Bytes::copy_from_slice(&body[..start + 10]))];
        chunks.push(Err("connection reset".to_owned()));
        let result = run_stream(stream::iter(chunks)).await;
        assert_eq!(
            result.unwrap_err(),
            PostError::BodyRead {
                detail: "connection reset".to_owned()
            }
        );
        // Cut before the file: the form is malformed.
        let result = run_stream(chunked(&body[..start - 10], 64)).await;
        assert_eq!(result.unwrap_err(), PostError::MalformedPostRequest);
    }

    #[tokio::test]
    async fn enforces_content_length_range_while_streaming() {
        let form = |data: &[u8], range: &str| {
            sign_v4(
                Form::new().field("key", "a"),
                &v4_policy(&["{\"key\": \"a\"}", range]),
            )
            .file(None, data)
        };
        let range = "[\"content-length-range\", 5, 10]";
        for len in [5, 7, 10] {
            let (post, data) = run(&form(&vec![b'x'; len], range)).await.unwrap();
            assert_eq!(data.len(), len);
            assert_eq!(post.content_length_range, Some((5, 10)));
        }
        let error = run(&form(&[b'x'; 12], range)).await.unwrap_err();
        assert_eq!(
            error,
            PostError::EntityTooLarge {
                proposed_size: 12,
                max_size_allowed: 10
            }
        );
        assert_eq!(error.code(), "EntityTooLarge");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            error.message(),
            "Your proposed upload exceeds the maximum allowed size"
        );
        assert_eq!(
            error.extra_elements(),
            vec![
                ("ProposedSize", "12".to_owned()),
                ("MaxSizeAllowed", "10".to_owned())
            ]
        );
        let error = run(&form(b"x", range)).await.unwrap_err();
        assert_eq!(
            error,
            PostError::EntityTooSmall {
                proposed_size: 1,
                min_size_allowed: 5
            }
        );
        assert_eq!(
            error.message(),
            "Your proposed upload is smaller than the minimum allowed size"
        );

        // Fed a byte at a time, no more than the maximum comes out before the error.
        let body = form(&[b'x'; 12], range).bytes();
        let (_, mut file) = parse(&content_type(), chunked(&body, 1), BUCKET, now(), &lookup)
            .await
            .unwrap();
        let mut got = 0;
        let error = loop {
            match file.next().await {
                Some(Ok(chunk)) => got += chunk.len(),
                Some(Err(error)) => break error,
                None => panic!("no error"),
            }
        };
        assert_eq!(got, 10);
        assert_eq!(
            error,
            PostError::EntityTooLarge {
                proposed_size: 11,
                max_size_allowed: 10
            }
        );

        // String bounds are accepted; several ranges narrow each other.
        let (post, _) = run(&form(
            b"123456",
            "[\"content-length-range\", \"5\", \"10\"], [\"content-length-range\", 0, 8]",
        ))
        .await
        .unwrap();
        assert_eq!(post.content_length_range, Some((5, 8)));
        // test_post_object_upload_size_limit_exceeded
        let policy = c0_policy().replace("0, 1024", "0, 0");
        let encoded = STANDARD.encode(&policy);
        let form = f0_form()
            .without("signature")
            .without("policy")
            .field("signature", &sigv2_signature(SECRET, &encoded))
            .field("policy", &encoded);
        assert_eq!(error_of(&form).await.code(), "EntityTooLarge");
    }

    #[tokio::test]
    async fn limits_the_data_before_the_file() {
        let form = |pad: usize| {
            Form::new()
                .field("key", "a")
                .field("x-ignore-pad", &"p".repeat(pad))
                .file(Some("f"), b"data")
        };
        let base = file_content_start(&form(0).bytes());
        let at_limit = form(MAX_PRE_DATA_LENGTH - base);
        assert_eq!(file_content_start(&at_limit.bytes()), MAX_PRE_DATA_LENGTH);
        assert!(run(&at_limit).await.is_ok());
        assert!(run_stream(chunked(&at_limit.bytes(), 1)).await.is_ok());

        let over = form(MAX_PRE_DATA_LENGTH - base + 1);
        for size in [1, 1000, 1 << 20] {
            let error = run_stream(chunked(&over.bytes(), size)).await.unwrap_err();
            assert_eq!(
                error,
                PostError::MaxPostPreDataLengthExceeded,
                "chunks of {size}"
            );
            assert_eq!(error.code(), "MaxPostPreDataLengthExceeded");
            assert_eq!(
                error.message(),
                "Your POST request fields preceeding the upload file was too large."
            );
            assert_eq!(
                error.extra_elements(),
                vec![("MaxPostPreDataLengthBytes", "20480".to_owned())]
            );
        }
        // A body that never reaches a boundary is stopped at the limit too.
        let endless = stream::iter(std::iter::repeat_with(|| {
            Ok::<_, String>(Bytes::from_static(&[b'a'; 1000]))
        }));
        let result = parse(&content_type(), endless, BUCKET, now(), &lookup).await;
        assert_eq!(result.unwrap_err(), PostError::MaxPostPreDataLengthExceeded);
    }

    #[tokio::test]
    async fn streams_a_50_mib_file_without_buffering_it() {
        const SIZE: usize = 50 * 1024 * 1024;
        const CHUNK: usize = 64 * 1024;
        let template = Form::new()
            .field("key", "big")
            .file(Some("big.bin"), b"")
            .bytes();
        let start = file_content_start(&template);
        let head = template[..start].to_vec();
        let tail = template[start..].to_vec();
        let total = head.len() + SIZE + tail.len();
        let pattern = |i: usize| (i % 251) as u8;

        let produced = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&produced);
        let body = Box::pin(stream::unfold(0usize, move |offset| {
            let counter = Arc::clone(&counter);
            let head = head.clone();
            let tail = tail.clone();
            async move {
                if offset >= total {
                    return None;
                }
                let end = (offset + CHUNK).min(total);
                let chunk: Vec<u8> = (offset..end)
                    .map(|i| {
                        if i < head.len() {
                            head[i]
                        } else if i < head.len() + SIZE {
                            pattern(i - head.len())
                        } else {
                            tail[i - head.len() - SIZE]
                        }
                    })
                    .collect();
                counter.store(end, Ordering::SeqCst);
                Some((Ok::<_, String>(Bytes::from(chunk)), end))
            }
        }));

        let (post, mut file) = parse(&content_type(), body, BUCKET, now(), &lookup)
            .await
            .unwrap();
        assert_eq!(post.key, "big");
        let mut seen = 0usize;
        let mut first_at = None;
        let mut largest = 0;
        while let Some(chunk) = file.next().await {
            let chunk = chunk.unwrap();
            if first_at.is_none() {
                first_at = Some(produced.load(Ordering::SeqCst));
            }
            largest = largest.max(chunk.len());
            assert!(file.buffered_len() < BOUNDARY.len() + 4);
            for (k, &b) in chunk.iter().enumerate() {
                assert_eq!(b, pattern(seen + k));
            }
            seen += chunk.len();
        }
        assert_eq!(seen, SIZE);
        assert_eq!(file.bytes_read(), SIZE as u64);
        // The first bytes came out after two body chunks, long before the end.
        assert!(first_at.unwrap() <= 2 * CHUNK, "{first_at:?}");
        assert!(largest <= CHUNK + BOUNDARY.len() + 4, "{largest}");
    }

    #[tokio::test]
    async fn rejects_malformed_policy_documents() {
        let cases: &[(&str, &str)] = &[
            (
                "{\"conditions\": [{\"key\": \"a\"}]}",
                "Invalid Policy: Policy missing expiration.",
            ),
            (
                "{\"expiration\": \"2030-01-01T00:00:00Z\"}",
                "Invalid Policy: Policy missing conditions.",
            ),
            (
                "{\"expiration\": \"2030-01-01T00:00:00Z\", \"CONDITIONS\": [{\"key\": \"a\"}]}",
                "Invalid Policy: Unexpected: 'conditions'",
            ),
            (
                "{\"EXPIRATION\": \"2030-01-01T00:00:00Z\", \"conditions\": [{\"key\": \"a\"}]}",
                "Invalid Policy: Unexpected: 'expiration'",
            ),
            (
                "{\"expiration\": \"2030-01-01 00:00:00.000000+00:00\", \"conditions\": [{\"key\": \"a\"}]}",
                "Invalid Policy: Invalid 'expiration' value: '2030-01-01 00:00:00.000000+00:00'",
            ),
            (
                "{\"expiration\": \"2030-01-01T00:00:00+02:00\", \"conditions\": [{\"key\": \"a\"}]}",
                "Invalid Policy: Invalid 'expiration' value: '2030-01-01T00:00:00+02:00'",
            ),
            (
                "{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": {\"key\": \"a\"}}",
                "Invalid Policy: Invalid 'conditions' value: must be a List.",
            ),
            (
                "{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [{}]}",
                "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.",
            ),
            (
                "{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [{\"key\": \"a\", \"acl\": \"b\"}]}",
                "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.",
            ),
            (
                "{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [{\"Content-Length\": 6199034}]}",
                "Invalid Policy: Invalid Simple-Condition: value must be a string.",
            ),
            (
                "{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [{\"key\": null}]}",
                "Invalid Policy: Invalid JSON.",
            ),
            (
                "{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [[\"content-length-range\", 0]]}",
                "Invalid Policy: Invalid content-length-range: wrong number of arguments.",
            ),
            (
                "{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [[\"content-length-range\", -1, 0]]}",
                "Invalid Policy: Invalid content-length-range: bounds must not be negative.",
            ),
            (
                "{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [[\"content-length-range\", 0, 512.0]]}",
                "Invalid Policy: Invalid JSON.",
            ),
            (
                "{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [[\"ends-with\", \"$key\", \"a\"]]}",
                "Invalid Policy: Invalid Condition: unknown operation 'ends-with'.",
            ),
            (
                "{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [[]]}",
                "Invalid Policy: Invalid Condition: missing operation identifier.",
            ),
            (
                "{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [\"key\"]}",
                "Invalid Policy: Invalid condition test: must be a List or Object.",
            ),
            (
                "{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [[\"eq\", \"$key\", 5]]}",
                "Invalid Policy: Invalid JSON.",
            ),
            (
                "{\"expiration\": \"2030-01-01T00:00:00Z\", \"conditions\": [[\"starts-with\", \"$key\", \"a\"],]}",
                "Invalid Policy: Invalid JSON.",
            ),
            ("not json", "Invalid Policy: Invalid JSON."),
        ];
        for (policy, message) in cases {
            let form = sign_v4(Form::new().field("key", "a"), policy).file(None, b"x");
            let error = error_of(&form).await;
            assert_eq!(
                error,
                PostError::InvalidPolicyDocument {
                    message: (*message).to_owned()
                },
                "{policy}"
            );
            assert_eq!(error.status(), StatusCode::BAD_REQUEST);
            assert_eq!(error.code(), "InvalidPolicyDocument");
        }
        // A policy that is not base64, signed as sent.
        let encoded = "%%%not-base64%%%";
        let signature = hex::encode(sigv4_signature(SECRET, "20231114", "us-east-1", encoded));
        let form = Form::new()
            .field("key", "a")
            .field("x-amz-algorithm", SIGV4_ALGORITHM)
            .field("x-amz-credential", CREDENTIAL)
            .field("x-amz-date", AMZ_DATE)
            .field("policy", encoded)
            .field("x-amz-signature", &signature)
            .file(None, b"x");
        assert_eq!(
            error_of(&form).await.message(),
            "Invalid Policy: invalid Base64 encoding."
        );
    }

    #[tokio::test]
    async fn requires_every_signature_field() {
        let named = |name: &'static str| PostError::MissingField { name };
        assert_eq!(
            error_of(&v4_form(&[]).without("X-Amz-Signature")).await,
            named("X-Amz-Signature")
        );
        assert_eq!(
            error_of(
                &v4_form(&[])
                    .without("X-Amz-Algorithm")
                    .without("X-Amz-Credential")
            )
            .await,
            named("X-Amz-Algorithm")
        );
        assert_eq!(
            error_of(&v4_form(&[]).without("X-Amz-Date")).await,
            named("X-Amz-Date")
        );
        assert_eq!(
            error_of(&v4_form(&[]).without("Policy")).await,
            named("Policy")
        );
        // test_post_object_missing_signature
        let error = error_of(&f0_form().without("signature")).await;
        assert_eq!(error, named("Signature"));
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            error.message(),
            "Bucket POST must contain a field named 'Signature'.  If it is specified, please check the order of the fields."
        );
        assert_eq!(
            error_of(&f0_form().without("AWSAccessKeyId")).await,
            named("AWSAccessKeyId")
        );
    }

    #[tokio::test]
    async fn validates_the_sigv4_credential_and_date() {
        let with = |name: &str, value: &str| {
            let mut form = v4_form(&[]);
            for (n, v) in &mut form.fields {
                if n == name {
                    *v = value.to_owned();
                }
            }
            form
        };
        let cases = [
            (
                "X-Amz-Algorithm",
                "AWS4-HMAC-SHA1",
                "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
            ),
            (
                "X-Amz-Credential",
                "AKIAIOSFODNN7EXAMPLE/20231114/us-east-1/s3",
                "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
            ),
            (
                "X-Amz-Credential",
                "/20231114/us-east-1/s3/aws4_request",
                "a non-empty Access Key (AKID) must be provided in the credential.",
            ),
            (
                "X-Amz-Credential",
                "AKIAIOSFODNN7EXAMPLE/2023-11-14/us-east-1/s3/aws4_request",
                "incorrect date format \"2023-11-14\". This date in the credential must be in the format \"yyyyMMdd\".",
            ),
            (
                "X-Amz-Credential",
                "AKIAIOSFODNN7EXAMPLE/20231114/us-east-1/ec2/aws4_request",
                "incorrect service \"ec2\". This endpoint belongs to \"s3\".",
            ),
            (
                "X-Amz-Credential",
                "AKIAIOSFODNN7EXAMPLE/20231114/us-east-1/s3/aws5_request",
                "incorrect terminal \"aws5_request\". This endpoint uses \"aws4_request\".",
            ),
            (
                "X-Amz-Date",
                "20231114",
                "X-Amz-Date must be formated via ISO8601 Long format",
            ),
            (
                "X-Amz-Date",
                "20231314T000000Z",
                "X-Amz-Date must be formated via ISO8601 Long format",
            ),
        ];
        for (name, value, message) in cases {
            let error = error_of(&with(name, value)).await;
            assert_eq!(error.code(), "InvalidArgument", "{value}");
            assert_eq!(error.message(), message);
            assert_eq!(
                error.extra_elements(),
                vec![
                    ("ArgumentName", name.to_owned()),
                    ("ArgumentValue", value.to_owned())
                ]
            );
        }
    }

    #[tokio::test]
    async fn rejects_requests_that_are_not_form_uploads() {
        let body = Form::new().field("key", "a").file(None, b"x").bytes();
        let error = parse("text/plain", chunked(&body, 100), BUCKET, now(), &lookup)
            .await
            .unwrap_err();
        assert_eq!(error, PostError::NotMultipart);
        assert_eq!(error.status(), StatusCode::PRECONDITION_FAILED);
        assert_eq!(error.code(), "PreconditionFailed");
        assert_eq!(
            error.extra_elements(),
            vec![(
                "Condition",
                "Bucket POST must be of the enclosure-type multipart/form-data".to_owned()
            )]
        );
        for ct in [
            "multipart/form-data".to_owned(),
            "multipart/form-data; boundary=".to_owned(),
            format!("multipart/form-data; boundary={}", "b".repeat(71)),
        ] {
            let error = parse(&ct, chunked(&body, 100), BUCKET, now(), &lookup)
                .await
                .unwrap_err();
            assert_eq!(error, PostError::MalformedPostRequest, "{ct}");
            assert_eq!(error.code(), "MalformedPOSTRequest");
        }
        // A boundary that does not match the body.
        let ct = "multipart/form-data; boundary=other";
        let error = parse(ct, chunked(&body, 100), BUCKET, now(), &lookup)
            .await
            .unwrap_err();
        assert_eq!(error, PostError::MalformedPostRequest);
        // Garbage after a boundary, a part without Content-Disposition, bad UTF-8.
        for bad in [
            format!("--{BOUNDARY}xyz\r\n\r\nv\r\n--{BOUNDARY}--"),
            format!("--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nv\r\n--{BOUNDARY}--"),
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; filename=a\r\n\r\nv\r\n--{BOUNDARY}--"
            ),
        ] {
            let error = parse(
                &content_type(),
                chunked(bad.as_bytes(), 5),
                BUCKET,
                now(),
                &lookup,
            )
            .await
            .unwrap_err();
            assert_eq!(error, PostError::MalformedPostRequest, "{bad:?}");
        }
        let mut bad_utf8 =
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=key\r\n\r\n")
                .into_bytes();
        bad_utf8.extend_from_slice(&[0xff, 0xfe]);
        bad_utf8.extend_from_slice(format!("\r\n--{BOUNDARY}--").as_bytes());
        let error = parse(
            &content_type(),
            chunked(&bad_utf8, 5),
            BUCKET,
            now(),
            &lookup,
        )
        .await
        .unwrap_err();
        assert_eq!(error, PostError::MalformedPostRequest);
    }

    #[tokio::test]
    async fn requires_a_file_part() {
        let form = Form::new().field("key", "a").field("submit", "go");
        let error = error_of(&form).await;
        assert_eq!(error, PostError::NoFile);
        assert_eq!(error.code(), "InvalidArgument");
        assert_eq!(
            error.message(),
            "POST requires exactly one file upload per request."
        );
        assert_eq!(
            error.extra_elements(),
            vec![
                ("ArgumentName", "file".to_owned()),
                ("ArgumentValue", "0".to_owned())
            ]
        );
        // A part with a filename but another name is a field, not the file.
        let mut form = Form::new().field("key", "a").field("upload", "content");
        form.filename_on_fields = true;
        assert_eq!(error_of(&form).await, PostError::NoFile);
    }

    #[tokio::test]
    async fn joins_repeated_fields_with_commas() {
        let form = sign_v4(
            Form::new()
                .field("key", "a")
                .field("x-amz-meta-tag", "Ninja")
                .field("X-Amz-Meta-Tag", "Stallman"),
            &v4_policy(&[
                "{\"key\": \"a\"}",
                "{\"x-amz-meta-tag\": \"Ninja,Stallman\"}",
            ]),
        )
        .file(None, b"x");
        let (post, _) = run(&form).await.unwrap();
        assert_eq!(post.field("x-amz-meta-tag"), Some("Ninja,Stallman"));
        assert_eq!(
            post.fields
                .iter()
                .filter(|(n, _)| n == "x-amz-meta-tag")
                .count(),
            1
        );
    }

    #[tokio::test]
    async fn reads_success_action_fields() {
        let form = Form::new()
            .field("key", "a")
            .field("redirect", "https://example.com/done")
            .field("success_action_status", "200")
            .file(None, b"x");
        let (post, _) = run(&form).await.unwrap();
        assert_eq!(
            post.success_action_redirect.as_deref(),
            Some("https://example.com/done")
        );
        assert_eq!(post.success_action_status, Some(200));
        let form = form.field("success_action_redirect", "https://example.com/preferred");
        let (post, _) = run(&form).await.unwrap();
        assert_eq!(
            post.success_action_redirect.as_deref(),
            Some("https://example.com/preferred")
        );
    }

    #[test]
    fn builds_success_responses() {
        let url = "https://bucket.s3.amazonaws.com/dir%2Fa%20b.txt";
        let etag = "\"d41d8cd98f00b204e9800998ecf8427e\"";
        let response = |status, redirect| {
            success_response(status, redirect, "bucket", "dir/a b.txt", etag, url)
        };

        assert_eq!(response(None, None), (204, Some(url.to_owned()), None));
        assert_eq!(response(Some(204), None), (204, Some(url.to_owned()), None));
        assert_eq!(response(Some(404), None), (204, Some(url.to_owned()), None));
        assert_eq!(response(Some(200), None), (200, Some(url.to_owned()), None));
        let (status, location, body) = response(Some(201), None);
        assert_eq!((status, location.as_deref()), (201, Some(url)));
        assert_eq!(
            body.unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Location>https://bucket.s3.amazonaws.com/dir%2Fa%20b.txt</Location><Bucket>bucket</Bucket><Key>dir/a b.txt</Key><ETag>\"d41d8cd98f00b204e9800998ecf8427e\"</ETag></PostResponse>"
        );
        // Redirects win over the status, and are appended to an existing query.
        assert_eq!(
            response(Some(201), Some("http://localhost:8000/bucket")),
            (
                303,
                Some("http://localhost:8000/bucket?bucket=bucket&key=dir%2Fa+b.txt&etag=%22d41d8cd98f00b204e9800998ecf8427e%22".to_owned()),
                None
            )
        );
        assert_eq!(
            response(None, Some("https://example.com/done?x=1 2#top"))
                .1
                .unwrap(),
            "https://example.com/done?x=1 2&bucket=bucket&key=dir%2Fa+b.txt&etag=%22d41d8cd98f00b204e9800998ecf8427e%22#top"
        );
        assert_eq!(
            response(None, Some("https://example.com/é")).1.unwrap(),
            "https://example.com/%C3%A9?bucket=bucket&key=dir%2Fa+b.txt&etag=%22d41d8cd98f00b204e9800998ecf8427e%22"
        );
        // A URL S3 cannot interpret is ignored.
        for bad in [
            "/wrong/redirect/relative",
            "",
            "example.com/x",
            "https:///x",
            "http://a\r\nb/",
        ] {
            assert_eq!(response(Some(201), Some(bad)).0, 201, "{bad:?}");
            assert_eq!(response(None, Some(bad)).0, 204, "{bad:?}");
        }
        // An unquoted ETag is quoted.
        let (_, location, _) = success_response(None, Some("http://h/"), "b", "k", "abc", "u");
        assert_eq!(location.unwrap(), "http://h/?bucket=b&key=k&etag=%22abc%22");
        // XML special characters are escaped.
        let (_, _, body) = success_response(
            Some(201),
            None,
            "b",
            "a&<b>",
            "\"e\"",
            "http://h/a%26%3Cb%3E?x=1&y=2",
        );
        assert!(body.unwrap().contains("<Location>http://h/a%26%3Cb%3E?x=1&amp;y=2</Location><Bucket>b</Bucket><Key>a&amp;&lt;b&gt;</Key>"));
    }

    #[test]
    fn parses_expirations_strictly() {
        let ok = |s: &str| parse_expiration(s).is_some();
        assert!(ok("2030-01-01T00:00:00Z"));
        assert!(ok("2030-01-01T00:00:00.000Z"));
        assert!(ok("2030-01-01T23:59:59.123456789Z"));
        assert!(ok("2024-02-29T12:00:00Z"));
        for bad in [
            "2023-02-29T12:00:00Z",
            "2030-01-01T00:00:00",
            "2030-01-01T24:00:00Z",
            "2030-01-01t00:00:00z",
            "2030-01-01T00:00:00.Z",
            "2030-01-01T00:00:00.1234567890Z",
            "2030-1-01T00:00:00Z",
            "+030-01-01T00:00:00Z",
            "2030-01-01T00:00:00.000+00:00",
        ] {
            assert!(!ok(bad), "{bad}");
        }
        assert_eq!(
            parse_expiration("2023-11-14T22:13:20Z"),
            Some(OffsetDateTime::from(now()))
        );
    }

    #[test]
    fn error_accessors_are_consistent() {
        let errors = [
            PostError::NotMultipart,
            PostError::MalformedPostRequest,
            PostError::MaxPostPreDataLengthExceeded,
            PostError::MissingField { name: "key" },
            PostError::NoFile,
            PostError::InvalidAccessKeyId {
                access_key: "a".to_owned(),
            },
            PostError::PolicyExpired,
            PostError::IncompleteBody,
            PostError::BodyRead {
                detail: "x".to_owned(),
            },
        ];
        for error in errors {
            assert!(!error.message().is_empty());
            assert_eq!(
                error.to_string(),
                format!("{}: {}", error.code(), error.message())
            );
            assert!(error.status().is_client_error());
        }
    }

    #[test]
    fn parse_future_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        let body = chunked(b"", 1);
        let ct = content_type();
        let future = parse(&ct, body, BUCKET, now(), &lookup);
        assert_send(&future);
    }
}
