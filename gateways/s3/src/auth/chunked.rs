//! `aws-chunked` body decoding (STREAMING-* payloads) and the matching client-side encoder.
//!
//! Wire form: `<hex-size>[;chunk-signature=<64hex>]\r\n<data>\r\n` repeated, then a zero-size
//! chunk, then optional trailer lines `name:value\r\n` (signed bodies end them with
//! `x-amz-trailer-signature:<64hex>\r\n`), then an empty line. We are lenient only where real
//! clients differ (whitespace around chunk extensions, missing final empty line / CRLF at EOF after
//! the zero chunk or its trailers) and strict everywhere else.
//!
//! Errors: a body that ends early or whose decoded length is wrong is `IncompleteBody`; broken
//! framing is `InvalidChunk`; a bad or missing signature is `SignatureDoesNotMatch`.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use futures_core::Stream;
use subtle::ConstantTimeEq;

use super::sigv4::{AuthError, PayloadMode, StreamingContext};

/// Largest signed chunk we accept: signed chunks are held whole until verified, so this caps
/// memory. Unsigned chunks stream through and have no cap of their own.
const MAX_CHUNK: u64 = 16 << 20;
/// Longest chunk-header or trailer line; real ones are < 200 bytes.
const MAX_LINE: usize = 4096;
/// Cap on trailer lines, so a hostile trailer section cannot grow memory without bound.
const MAX_TRAILERS: usize = 32;
const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";

enum State {
    /// Expecting a chunk-header line.
    Header,
    /// Inside a chunk with `left` data bytes (then CRLF) to go; `sig` is set for signed bodies.
    Data {
        left: usize,
        sig: Option<[u8; 32]>,
    },
    /// After the zero-size chunk: trailer lines until an empty line or EOF.
    Trailers,
    /// Everything decoded; the rest of the stream must be empty.
    Drain,
    Done,
    Failed(AuthError),
}

enum Step {
    Data(Bytes),
    NeedInput,
    Continue,
    End,
}

fn invalid(msg: &str) -> AuthError {
    AuthError::InvalidChunk(msg.to_string())
}

/// Streams decoded payload out of an aws-chunked body. Holds at most one chunk (plus one network
/// read) in memory; with signatures, a chunk's bytes are released only after it verified.
pub struct ChunkedDecoder<S> {
    body: S,
    buf: BytesMut,
    eof: bool,
    state: State,
    /// Context and previous signature of the chain; `None` for unsigned bodies.
    chain: Option<(StreamingContext, String)>,
    trailer_allowed: bool,
    expected_len: Option<u64>,
    decoded: u64,
    trailers: Vec<(String, String)>,
    trailer_sig: Option<String>,
}

impl<S, E> ChunkedDecoder<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    /// `mode` must be `StreamingSigned` or `StreamingUnsignedTrailer`; any other mode makes the
    /// first read fail, because such a body is not aws-chunked. `decoded_content_length` is
    /// `x-amz-decoded-content-length`, when sent.
    pub fn new(body: S, mode: &PayloadMode, decoded_content_length: Option<u64>) -> Self {
        let (state, chain, trailer_allowed) = match mode {
            PayloadMode::StreamingSigned { trailer, ctx } => (
                State::Header,
                Some((ctx.clone(), ctx.seed_signature().to_string())),
                *trailer,
            ),
            PayloadMode::StreamingUnsignedTrailer => (State::Header, None, true),
            PayloadMode::Signed(_) | PayloadMode::Unsigned => {
                let e = AuthError::InvalidArgument("payload is not aws-chunked".into());
                (State::Failed(e), None, false)
            }
        };
        Self {
            body,
            buf: BytesMut::new(),
            eof: false,
            state,
            chain,
            trailer_allowed,
            expected_len: decoded_content_length,
            decoded: 0,
            trailers: Vec::new(),
            trailer_sig: None,
        }
    }

    /// Next piece of decoded payload (up to one chunk); `None` at the clean end of the body.
    pub async fn next_data(&mut self) -> Result<Option<Bytes>, AuthError> {
        std::future::poll_fn(|cx| self.poll_data(cx)).await
    }

    /// Trailing headers (lowercase name, trimmed value) once `next_data` returned `None`;
    /// `x-amz-trailer-signature` is consumed, not listed.
    pub fn trailers(&self) -> &[(String, String)] {
        &self.trailers
    }

    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, AuthError>> {
        loop {
            let err = match self.step() {
                Ok(Step::Data(b)) => return Poll::Ready(Ok(Some(b))),
                Ok(Step::End) => return Poll::Ready(Ok(None)),
                Ok(Step::Continue) => continue,
                Ok(Step::NeedInput) if !self.eof => {
                    match ready!(Pin::new(&mut self.body).poll_next(cx)) {
                        Some(Ok(b)) => self.buf.extend_from_slice(&b),
                        None => self.eof = true,
                        // A transport error means we will never see the rest of the body.
                        Some(Err(_)) => {
                            self.eof = true;
                            self.buf.clear();
                        }
                    }
                    continue;
                }
                Ok(Step::NeedInput) => AuthError::IncompleteBody,
                Err(e) => e,
            };
            self.state = State::Failed(err.clone());
            return Poll::Ready(Err(err));
        }
    }

    /// Makes as much progress as the buffered bytes allow.
    fn step(&mut self) -> Result<Step, AuthError> {
        match self.state {
            State::Header => {
                let Some(line) = self.take_line()? else {
                    return Ok(Step::NeedInput);
                };
                let (size, sig) = parse_chunk_header(&line, self.chain.is_some())?;
                if self
                    .expected_len
                    .is_some_and(|n| self.decoded.checked_add(size).is_none_or(|end| end > n))
                {
                    return Err(AuthError::IncompleteBody);
                }
                if size > 0 {
                    let left = usize::try_from(size).map_err(|_| invalid("bad chunk size"))?;
                    self.state = State::Data { left, sig };
                    return Ok(Step::Continue);
                }
                if let Some(sig) = sig {
                    self.verify_chunk(&sig, b"")?;
                }
                if self.expected_len.is_some_and(|n| n != self.decoded) {
                    return Err(AuthError::IncompleteBody);
                }
                self.state = State::Trailers;
                Ok(Step::Continue)
            }
            State::Data {
                left,
                sig: Some(sig),
            } => {
                if self.buf.len() < left + 2 {
                    return Ok(Step::NeedInput);
                }
                if &self.buf[left..left + 2] != b"\r\n" {
                    return Err(invalid("missing CRLF after chunk data"));
                }
                let data = self.buf.split_to(left).freeze();
                self.buf.advance(2);
                self.verify_chunk(&sig, &data)?;
                self.decoded += left as u64;
                self.state = State::Header;
                Ok(Step::Data(data))
            }
            State::Data { left: 0, sig: None } => {
                if self.buf.len() < 2 {
                    return Ok(Step::NeedInput);
                }
                if &self.buf[..2] != b"\r\n" {
                    return Err(invalid("missing CRLF after chunk data"));
                }
                self.buf.advance(2);
                self.state = State::Header;
                Ok(Step::Continue)
            }
            State::Data { left, sig: None } => {
                if self.buf.is_empty() {
                    return Ok(Step::NeedInput);
                }
                let n = left.min(self.buf.len());
                self.state = State::Data {
                    left: left - n,
                    sig: None,
                };
                self.decoded += n as u64;
                Ok(Step::Data(self.buf.split_to(n).freeze()))
            }
            State::Trailers => {
                match self.take_line()? {
                    Some(line) if line.is_empty() => self.finish_trailers()?,
                    Some(line) => self.add_trailer(&line)?,
                    None if self.eof => {
                        // Tolerated: the last trailer line or the final empty line cut at EOF.
                        if !self.buf.is_empty() {
                            let line = self.buf.split();
                            self.add_trailer(&line)?;
                        }
                        self.finish_trailers()?;
                    }
                    None => return Ok(Step::NeedInput),
                }
                Ok(Step::Continue)
            }
            State::Drain if !self.buf.is_empty() => Err(invalid("data after the final chunk")),
            State::Drain if self.eof => {
                self.state = State::Done;
                Ok(Step::End)
            }
            State::Drain => Ok(Step::NeedInput),
            State::Done => Ok(Step::End),
            State::Failed(ref e) => Err(e.clone()),
        }
    }

    /// Removes one CRLF-terminated line from the buffer, without its CRLF.
    fn take_line(&mut self) -> Result<Option<BytesMut>, AuthError> {
        let window = &self.buf[..self.buf.len().min(MAX_LINE + 2)];
        match window.windows(2).position(|w| w == b"\r\n") {
            Some(pos) => {
                let line = self.buf.split_to(pos);
                self.buf.advance(2);
                Ok(Some(line))
            }
            None if self.buf.len() > MAX_LINE => Err(invalid("line too long")),
            None => Ok(None),
        }
    }

    fn verify_chunk(&mut self, sig: &[u8; 32], data: &[u8]) -> Result<(), AuthError> {
        let Some((ctx, previous)) = &mut self.chain else {
            return Ok(());
        };
        let expected = ctx.chunk_signature(previous, data);
        if !bool::from(expected.ct_eq(sig)) {
            return Err(AuthError::SignatureDoesNotMatch);
        }
        *previous = hex::encode(sig);
        Ok(())
    }

    fn add_trailer(&mut self, line: &[u8]) -> Result<(), AuthError> {
        let line = std::str::from_utf8(line).map_err(|_| invalid("trailer is not UTF-8"))?;
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid("trailer without ':'"))?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_string());
        if name.is_empty() || self.trailer_sig.is_some() || self.trailers.len() >= MAX_TRAILERS {
            return Err(invalid("malformed trailer section"));
        }
        if name == TRAILER_SIGNATURE {
            self.trailer_sig = Some(value);
        } else {
            self.trailers.push((name, value));
        }
        Ok(())
    }

    /// Signed trailers: we accept the lines in wire order or sorted by name, since SDKs differ
    /// and both are unambiguous; the signature chains on the zero chunk's signature.
    fn finish_trailers(&mut self) -> Result<(), AuthError> {
        if !self.trailer_allowed && (!self.trailers.is_empty() || self.trailer_sig.is_some()) {
            return Err(invalid(
                "trailers sent but not announced in x-amz-content-sha256",
            ));
        }
        if let (Some((ctx, previous)), true) = (&self.chain, self.trailer_allowed) {
            let mut sig = [0u8; 32];
            let given = self.trailer_sig.as_deref().unwrap_or("");
            hex::decode_to_slice(given, &mut sig).map_err(|_| AuthError::SignatureDoesNotMatch)?;
            let canonical = |list: &[(String, String)]| -> String {
                list.iter().map(|(n, v)| format!("{n}:{v}\n")).collect()
            };
            let mut sorted = self.trailers.clone();
            sorted.sort();
            let ok = [canonical(&self.trailers), canonical(&sorted)]
                .iter()
                .any(|c| bool::from(ctx.trailer_signature(previous, c.as_bytes()).ct_eq(&sig)));
            if !ok {
                return Err(AuthError::SignatureDoesNotMatch);
            }
        }
        self.state = State::Drain;
        Ok(())
    }
}

/// `<hex-size>[;ext[=value]]*`; returns the size and, for signed bodies, the chunk signature.
fn parse_chunk_header(line: &[u8], signed: bool) -> Result<(u64, Option<[u8; 32]>), AuthError> {
    let line = std::str::from_utf8(line).map_err(|_| invalid("chunk header is not ASCII"))?;
    let mut parts = line.split(';');
    let size = parts.next().unwrap_or("").trim();
    if size.is_empty() || size.len() > 16 || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid("bad chunk size"));
    }
    let size = u64::from_str_radix(size, 16).map_err(|_| invalid("bad chunk size"))?;
    // Only a signed chunk is held whole (until its signature is checked); an unsigned one
    // streams through in pieces, whatever its size (aws-sdk-js v3 sends a stream's whole
    // buffer as one chunk).
    if signed && size > MAX_CHUNK {
        return Err(invalid("signed chunk larger than 16 MiB"));
    }
    let mut sig = None;
    for ext in parts {
        let (k, v) = ext.split_once('=').unwrap_or((ext, ""));
        if signed && k.trim() == "chunk-signature" {
            let mut s = [0u8; 32];
            hex::decode_to_slice(v.trim(), &mut s).map_err(|_| AuthError::SignatureDoesNotMatch)?;
            sig = Some(s);
        }
    }
    if signed && sig.is_none() {
        return Err(AuthError::SignatureDoesNotMatch);
    }
    Ok((size, sig))
}

impl<S, E> Stream for ChunkedDecoder<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    type Item = Result<Bytes, AuthError>;

    /// Ends (`None`) after the first error, as body consumers expect.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if matches!(this.state, State::Failed(_) | State::Done) {
            return Poll::Ready(None);
        }
        this.poll_data(cx).map(Result::transpose)
    }
}

/// Client side: frames and signs an aws-chunked body (load generator, tests).
pub struct ChunkSigner {
    ctx: StreamingContext,
    previous: String,
}

impl ChunkSigner {
    pub fn new(ctx: StreamingContext) -> Self {
        let previous = ctx.seed_signature().to_string();
        Self { ctx, previous }
    }

    fn sign(&mut self, data: &[u8]) -> String {
        self.previous = hex::encode(self.ctx.chunk_signature(&self.previous, data));
        format!("{:x};chunk-signature={}\r\n", data.len(), self.previous)
    }

    /// One framed data chunk; empty input frames nothing (the empty chunk ends the body).
    pub fn chunk(&mut self, data: &[u8]) -> Vec<u8> {
        if data.is_empty() {
            return Vec::new();
        }
        let mut out = self.sign(data).into_bytes();
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        out
    }

    /// The zero chunk, then `trailers` (signed with `x-amz-trailer-signature` when non-empty),
    /// then the closing empty line.
    pub fn finish(&mut self, trailers: &[(&str, &str)]) -> Vec<u8> {
        let mut out = self.sign(b"");
        if !trailers.is_empty() {
            let canonical: String = trailers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
            let sig = self
                .ctx
                .trailer_signature(&self.previous, canonical.as_bytes());
            out.push_str(&canonical.replace('\n', "\r\n"));
            out.push_str(&format!("{TRAILER_SIGNATURE}:{}\r\n", hex::encode(sig)));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::super::sigv4::tests::{SK, headers, run, t0};
    use super::*;
    use futures_util::StreamExt;
    use std::convert::Infallible;

    const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";

    /// The AWS streaming PUT example, authenticated: yields the context its body chains from.
    fn doc_mode() -> PayloadMode {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;\
             x-amz-decoded-content-length;x-amz-storage-class,Signature={SEED}"
        );
        let h = headers(&[
            ("host", "s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("authorization", &auth),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("content-length", "66824"),
        ]);
        run("PUT", "/examplebucket/chunkObject.txt", None, &h, t0())
            .unwrap()
            .payload
    }

    fn ctx() -> StreamingContext {
        StreamingContext::new(SK, t0(), "us-east-1", SEED)
    }

    fn trailer_mode() -> PayloadMode {
        PayloadMode::StreamingSigned {
            trailer: true,
            ctx: ctx(),
        }
    }

    /// The body as a stream of `piece`-byte network reads.
    fn feed(body: &[u8], piece: usize) -> impl Stream<Item = Result<Bytes, Infallible>> + Unpin {
        let items: Vec<_> = body
            .chunks(piece)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures_util::stream::iter(items)
    }

    async fn decode(
        body: &[u8],
        piece: usize,
        mode: &PayloadMode,
        len: Option<u64>,
    ) -> Result<(Vec<u8>, Vec<(String, String)>), AuthError> {
        let mut dec = ChunkedDecoder::new(feed(body, piece), mode, len);
        let mut out = Vec::new();
        while let Some(b) = dec.next_data().await? {
            out.extend_from_slice(&b);
        }
        Ok((out, dec.trailers().to_vec()))
    }

    fn doc_body() -> (Vec<u8>, Vec<u8>) {
        let mut signer = ChunkSigner::new(ctx());
        let data = vec![b'a'; 65_536 + 1024];
        let mut body = signer.chunk(&data[..65_536]);
        body.extend(signer.chunk(&data[65_536..]));
        body.extend(signer.finish(&[]));
        (data, body)
    }

    #[tokio::test]
    async fn doc_streaming_example() {
        let mode = doc_mode();
        assert_eq!(
            mode,
            PayloadMode::StreamingSigned {
                trailer: false,
                ctx: ctx()
            }
        );
        let (data, body) = doc_body();
        assert_eq!(body.len(), 66_824);
        let text = String::from_utf8_lossy(&body);
        for sig in [
            "10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n",
            "400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n",
            "0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n",
        ] {
            assert!(text.contains(sig), "{sig}");
        }
        for piece in [1, 7, 4096, body.len()] {
            let (out, trailers) = decode(&body, piece, &mode, Some(66_560)).await.unwrap();
            assert!(out == data && trailers.is_empty(), "piece {piece}");
        }
        // As a body stream.
        let dec = ChunkedDecoder::new(feed(&body, 1000), &mode, None);
        let pieces: Vec<_> = dec.collect().await;
        assert_eq!(
            pieces
                .into_iter()
                .map(Result::unwrap)
                .collect::<Vec<_>>()
                .concat(),
            data
        );
    }

    /// An unsigned chunk streams through whatever its size (aws-sdk-js v3 sends a stream's
    /// whole buffer as one); a size no body could reach is refused without overflowing.
    #[tokio::test]
    async fn unsigned_chunks_have_no_size_cap_of_their_own() {
        let mode = PayloadMode::StreamingUnsignedTrailer;
        let data = vec![b'z'; (20 << 20) + 3];
        let mut body = format!("{:x}\r\n", data.len()).into_bytes();
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\r\n0\r\n\r\n");
        let (out, _) = decode(&body, 1 << 20, &mode, Some(data.len() as u64))
            .await
            .expect("one 20 MiB chunk");
        assert!(out == data);
        let huge = b"ffffffffffffffff\r\nabc";
        assert_eq!(
            decode(huge, 7, &mode, Some(3)).await.err(),
            Some(AuthError::IncompleteBody)
        );
    }

    #[tokio::test]
    async fn errors_are_detected() {
        let mode = doc_mode();
        let (_, body) = doc_body();
        let mut tampered = body.clone();
        tampered[200] = b'b';
        let mut dec = ChunkedDecoder::new(feed(&tampered, 1), &mode, None);
        // Nothing of the tampered chunk may come out before the error.
        assert_eq!(dec.next_data().await, Err(AuthError::SignatureDoesNotMatch));
        assert_eq!(dec.next_data().await, Err(AuthError::SignatureDoesNotMatch));
        for cut in [10, 100, 65_700, body.len() - 90] {
            let got = decode(&body[..cut], 3, &mode, None).await;
            assert_eq!(got.map(|_| ()), Err(AuthError::IncompleteBody), "cut {cut}");
        }
        for len in [Some(66_559), Some(66_561), Some(0)] {
            let got = decode(&body, 512, &mode, len).await;
            assert_eq!(got.map(|_| ()), Err(AuthError::IncompleteBody), "{len:?}");
        }
        let unsigned = PayloadMode::StreamingUnsignedTrailer;
        for bad in [
            &b"zz\r\nhello\r\n0\r\n\r\n"[..],
            b"5\r\nhelloXX0\r\n\r\n",
            b"5\r\nhello\r\n0\r\n\r\ngarbage",
            b"0\r\nno-colon\r\n\r\n",
        ] {
            let got = decode(bad, 2, &unsigned, None).await;
            assert!(matches!(got, Err(AuthError::InvalidChunk(_))), "{got:?}");
        }
        // A chunk past 16 MiB is no error unsigned (see below); cut short, the body is.
        let got = decode(b"1000001\r\n", 2, &unsigned, None).await;
        assert_eq!(got.map(|_| ()), Err(AuthError::IncompleteBody));
        let got = decode(b"1000001\r\n", 2, &mode, None).await;
        assert!(
            matches!(got, Err(AuthError::InvalidChunk(_))),
            "signed: capped"
        );
        let no_sig = b"5\r\nhello\r\n0\r\n\r\n";
        let got = decode(no_sig, 5, &mode, None).await;
        assert_eq!(got.map(|_| ()), Err(AuthError::SignatureDoesNotMatch));
        let got = decode(no_sig, 5, &PayloadMode::Unsigned, None).await;
        assert!(matches!(got, Err(AuthError::InvalidArgument(_))));
    }

    #[tokio::test]
    async fn signed_trailer() {
        let mut signer = ChunkSigner::new(ctx());
        let mut body = signer.chunk(b"hello world");
        body.extend(signer.finish(&[("x-amz-checksum-crc32c", "sOO8/Q==")]));
        // Reference values computed independently (Python hmac/hashlib) at development time.
        let text = String::from_utf8_lossy(&body).into_owned();
        assert!(text.contains(
            "b;chunk-signature=658a49ee7b49af44c11311d3461346a5688fb3ce5daa61dd95377587f0149255\r\n"
        ));
        assert!(text.ends_with(
            "0;chunk-signature=1172018d76cd25eb7956fc92d1935d976024a1d96841533ea7b72efe5e8d7463\r\n\
             x-amz-checksum-crc32c:sOO8/Q==\r\n\
             x-amz-trailer-signature:b3512376c157482c0f1bb530435c8eb3f934d8938fd771445b21f56e7d2d941e\r\n\r\n"
        ));
        let want = (
            b"hello world".to_vec(),
            vec![("x-amz-checksum-crc32c".into(), "sOO8/Q==".into())],
        );
        let mode = trailer_mode();
        for end in [body.len(), body.len() - 2, body.len() - 4] {
            assert_eq!(
                decode(&body[..end], 1, &mode, Some(11)).await,
                Ok(want.clone())
            );
        }
        let tampered = text.replace("sOO8/Q==", "sOO8/Q=A");
        let got = decode(tampered.as_bytes(), 64, &mode, None).await;
        assert_eq!(got, Err(AuthError::SignatureDoesNotMatch));
        let renamed = text.replace("x-amz-trailer-signature", "x-amz-other");
        let got = decode(renamed.as_bytes(), 64, &mode, None).await;
        assert_eq!(got, Err(AuthError::SignatureDoesNotMatch));
        let late = format!("{}\r\nx-late:1\r\n\r\n", text.trim_end());
        let got = decode(late.as_bytes(), 64, &mode, None).await;
        assert!(matches!(got, Err(AuthError::InvalidChunk(_))));
        let cut = text.rsplit_once("x-amz-trailer-signature").unwrap().0;
        let got = decode(cut.as_bytes(), 64, &mode, None).await;
        assert_eq!(got, Err(AuthError::SignatureDoesNotMatch));
        // A trailer in a body whose header did not announce one.
        let got = decode(
            &body,
            64,
            &PayloadMode::StreamingSigned {
                trailer: false,
                ctx: ctx(),
            },
            None,
        )
        .await;
        assert!(matches!(got, Err(AuthError::InvalidChunk(_))));
    }

    #[tokio::test]
    async fn unsigned_trailer() {
        let body =
            b"5 ; ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let mode = PayloadMode::StreamingUnsignedTrailer;
        let want = (
            b"hello world".to_vec(),
            vec![("x-amz-checksum-crc32".into(), "DUoRhQ==".into())],
        );
        for end in [body.len(), body.len() - 2, body.len() - 4] {
            for piece in [1, 3, 100] {
                assert_eq!(
                    decode(&body[..end], piece, &mode, Some(11)).await,
                    Ok(want.clone())
                );
            }
        }
        let plain = b"b\r\nhello world\r\n0\r\n\r\n";
        assert_eq!(
            decode(plain, 1, &mode, None).await,
            Ok((b"hello world".to_vec(), vec![]))
        );
    }

    #[tokio::test]
    async fn garbage_never_panics() {
        let (_, body) = doc_body();
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = b"0123456789abcdefx;=\r\n:- ";
        for round in 0..300 {
            let mut input = body[..(rand() % 400) as usize].to_vec();
            for _ in 0..rand() % 8 {
                let i = (rand() % (input.len() as u64 + 1)) as usize;
                input.insert(i, alphabet[(rand() % alphabet.len() as u64) as usize]);
            }
            let piece = 1 + (rand() % 9) as usize;
            let modes = [
                doc_mode(),
                trailer_mode(),
                PayloadMode::StreamingUnsignedTrailer,
            ];
            // Only "does not panic" is asserted: inputs are arbitrary.
            let _ = decode(&input, piece, &modes[round % 3], None).await;
        }
    }
}
