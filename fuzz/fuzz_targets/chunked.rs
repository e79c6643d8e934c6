//! The aws-chunked body decoder (signed, signed with trailers, unsigned with trailers).
//!
//! Input: byte 0 picks the mode, byte 1 the declared decoded length (`x-amz-decoded-content-
//! length`; 0xff: none, else that many bytes), byte 2 how the body is cut into network reads;
//! the rest is the body. The body is decoded twice, whole and cut up: the decoded bytes, the
//! trailers and the outcome must not depend on how the bytes arrived.
#![no_main]
use std::convert::Infallible;

use bytes::Bytes;
use futures_util::FutureExt;
use gatehouse_fuzz::chunk_context;
use gatehouse_s3::auth::{ChunkedDecoder, PayloadMode};
use libfuzzer_sys::fuzz_target;

type Outcome = (Vec<u8>, Vec<(String, String)>, Result<(), String>);

fn decode(pieces: Vec<Bytes>, mode: &PayloadMode, declared: Option<u64>) -> Outcome {
    let stream = futures_util::stream::iter(pieces.into_iter().map(Ok::<_, Infallible>));
    let mut d = ChunkedDecoder::new(stream, mode, declared);
    let mut data = Vec::new();
    loop {
        // The body is all there: a decoder that waits now would wait forever.
        let Some(next) = d.next_data().now_or_never() else {
            panic!("decoder pending on a complete body");
        };
        match next {
            Ok(Some(b)) => {
                assert!(!b.is_empty(), "empty data piece");
                data.extend_from_slice(&b);
            }
            Ok(None) => return (data, d.trailers().to_vec(), Ok(())),
            Err(e) => return (data, d.trailers().to_vec(), Err(e.to_string())),
        }
    }
}

fn cut(body: &[u8], seed: u8) -> Vec<Bytes> {
    if seed == 0 {
        return body.chunks(1).map(Bytes::copy_from_slice).collect();
    }
    let mut out = Vec::new();
    let (mut at, mut x) = (0usize, u32::from(seed));
    while at < body.len() {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let n = 1 + (x >> 16) as usize % 64;
        let end = (at + n).min(body.len());
        out.push(Bytes::copy_from_slice(&body[at..end]));
        at = end;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let [m, len, seed, body @ ..] = data else {
        return;
    };
    let mode = match m % 3 {
        0 => PayloadMode::StreamingUnsignedTrailer,
        1 => PayloadMode::StreamingSigned {
            trailer: false,
            ctx: chunk_context(),
        },
        _ => PayloadMode::StreamingSigned {
            trailer: true,
            ctx: chunk_context(),
        },
    };
    let declared = (*len != 0xff).then_some(u64::from(*len));
    let whole = decode(vec![Bytes::copy_from_slice(body)], &mode, declared);
    assert!(whole.0.len() <= body.len(), "decoded more than was sent");
    if let (Some(n), Ok(())) = (declared, &whole.2) {
        assert_eq!(
            whole.0.len() as u64,
            n,
            "decoded length differs from the declared one"
        );
    }
    let pieces = decode(cut(body, *seed), &mode, declared);
    assert_eq!(
        whole, pieces,
        "the outcome depends on how the body was cut into reads"
    );
});
