//! POST Object forms (`gateways/s3/src/post_form.rs`, through `gatehouse_s3::fuzzing`):
//! `parse` on a `multipart/form-data` body, the file's `FileStream` read to its end, and
//! `success_response` for what was accepted.
//!
//! Input: a first line, the request's `Content-Type`; a second line, the sizes of the pieces
//! the body arrives in, comma-separated decimals used in turn (`7,1,0,300`; 0 is an empty
//! piece); then the body, posted to bucket `fuzz` a minute after 20130524T000000Z by a client
//! who knows the one access key (`gatehouse_fuzz::AK`). `@SIG4@` / `@SIG2@` in the body are
//! replaced by the SigV4 / SigV2 signature of the form's own `policy` field first, so that a
//! changed policy still gets past the signature to its conditions.
//!
//! Oracles: no panic and never pending on a complete body; the outcome (form, file bytes,
//! error) is the same whether the body arrives whole or in the given pieces; no file piece is
//! longer than a body piece plus a boundary (the stream holds no more); the fields before the
//! file are at most `MAX_PRE_DATA_LENGTH` bytes; a file that streamed to its end is within the
//! policy's `content-length-range`; an anonymous form has no range; the stream stays ended.
#![no_main]
use std::convert::Infallible;

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use gatehouse_fuzz::{AK, POST_BUCKET, lookup, post_now, sign_post_form};
use gatehouse_s3::fuzzing::{Auth, PostError, PostForm, parse_post_form, success_response};
use libfuzzer_sys::fuzz_target;

/// `MAX_PRE_DATA_LENGTH` of post_form.rs.
const MAX_PRE_DATA: usize = 20 * 1024;
/// What a `FileStream` may hold beyond one body piece: the delimiter (CRLF, `--`, a boundary of
/// at most 70 bytes) and the CRLF the parser puts in front of the body.
const DELIMITER_SLACK: usize = 2 + 2 + 70 + 2;
const MAX_PIECE_SIZES: usize = 16;

/// The file's bytes when it streamed to its end, else the error's code.
type FileOutcome = Result<Vec<u8>, &'static str>;

fn touch(e: &PostError) {
    let _ = (
        e.code(),
        e.status(),
        e.message(),
        e.extra_elements(),
        e.to_string(),
    );
}

fn run(
    content_type: &str,
    pieces: Vec<Bytes>,
    max_piece: usize,
) -> Result<(PostForm, FileOutcome), PostError> {
    let body = futures_util::stream::iter(pieces.into_iter().map(Ok::<_, Infallible>));
    // The body is all there: a parser that waits now would wait forever.
    let Some(parsed) =
        parse_post_form(content_type, body, POST_BUCKET, post_now(), &lookup).now_or_never()
    else {
        panic!("parse pending on a complete body");
    };
    let (form, mut file) = parsed.inspect_err(touch)?;
    let mut data = Vec::new();
    let end = loop {
        let Some(next) = file.next().now_or_never() else {
            panic!("file stream pending on a complete body");
        };
        match next {
            None => break Ok(()),
            Some(Ok(b)) => {
                assert!(!b.is_empty(), "an empty file piece");
                assert!(
                    b.len() <= max_piece + DELIMITER_SLACK,
                    "a file piece of {} bytes from body pieces of at most {max_piece}",
                    b.len()
                );
                data.extend_from_slice(&b);
            }
            Some(Err(e)) => {
                touch(&e);
                break Err(e.code());
            }
        }
    };
    assert!(
        matches!(file.next().now_or_never(), Some(None)),
        "the file stream went on after its end"
    );
    Ok((form, end.map(|()| data)))
}

fn split(body: &[u8], sizes: &[usize]) -> (Vec<Bytes>, usize) {
    if sizes.iter().all(|&n| n == 0) {
        return (vec![Bytes::copy_from_slice(body)], body.len());
    }
    let (mut out, mut at, mut max) = (Vec::new(), 0, 0);
    for &n in sizes.iter().cycle() {
        if at >= body.len() {
            break;
        }
        let end = (at + n).min(body.len());
        out.push(Bytes::copy_from_slice(&body[at..end]));
        max = max.max(end - at);
        at = end;
    }
    (out, max)
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.splitn(3, |&b| b == b'\n');
    let (Some(content_type), Some(sizes), Some(body)) = (lines.next(), lines.next(), lines.next())
    else {
        return;
    };
    let content_type = String::from_utf8_lossy(content_type);
    let content_type = content_type.trim_end_matches('\r');
    let sizes: Vec<usize> = String::from_utf8_lossy(sizes)
        .split(',')
        .filter_map(|s| s.trim().parse::<usize>().ok())
        .map(|n| n.min(1 << 16))
        .take(MAX_PIECE_SIZES)
        .collect();
    let body = sign_post_form(body);

    let whole = run(
        content_type,
        vec![Bytes::copy_from_slice(&body)],
        body.len(),
    );
    let (pieces, max_piece) = split(&body, &sizes);
    let cut = run(content_type, pieces, max_piece);
    assert_eq!(
        whole, cut,
        "the outcome depends on how the body was cut into pieces"
    );

    let Ok((form, file)) = whole else {
        return;
    };
    assert!(!form.key.is_empty(), "an empty key");
    let pre: usize = form.fields.iter().map(|(n, v)| n.len() + v.len()).sum();
    assert!(pre <= MAX_PRE_DATA, "{pre} bytes of fields before the file");
    match &form.auth {
        Auth::Anonymous => assert_eq!(form.content_length_range, None),
        Auth::V4 { access_key, .. } | Auth::V2 { access_key } => assert_eq!(access_key, AK),
    }
    if let Ok(file) = &file {
        assert!(file.len() <= body.len());
        if let Some((min, max)) = form.content_length_range {
            let n = file.len() as u64;
            assert!(
                min <= n && n <= max,
                "a file of {n} bytes passed content-length-range [{min}, {max}]"
            );
        }
        let (status, location, xml) = success_response(
            form.success_action_status,
            form.success_action_redirect.as_deref(),
            POST_BUCKET,
            &form.key,
            "\"0123456789abcdef0123456789abcdef\"",
            "http://127.0.0.1/fuzz/key",
        );
        assert!(matches!(status, 200 | 201 | 204 | 303), "status {status}");
        assert!(location.is_some());
        assert_eq!(xml.is_some(), status == 201);
    }
});
