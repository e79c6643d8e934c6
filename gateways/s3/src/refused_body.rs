//! The unread rest of a refused request's body. A write refused before its body is read (a
//! quota known from `Content-Length`, a failed condition, a denial) used to be answered while
//! the client was still sending: the connection then closed with bytes unread, the kernel reset
//! it, and a client that does not wait for `100 Continue` (aws-sdk-s3, most SDKs) saw a broken
//! pipe instead of the error, and retried. So the gateway hands the body to handlers through
//! [`Returning`], which gives back what a handler dropped unfinished, and [`drain`] reads a
//! bounded rest of it before the error goes out; past the bound the connection is closed.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt as _;

/// Most bytes read and discarded after a refusal (two default-size multipart parts).
pub const MAX_DRAIN: u64 = 16 << 20;
/// Longest wait for them.
const DRAIN_TIME: Duration = Duration::from_secs(10);
/// Longest pause between two pieces of them: a client that sends nothing more is not waited on.
const DRAIN_IDLE: Duration = Duration::from_secs(1);

/// Where a body dropped unfinished is left for [`drain`].
pub type Slot = Arc<Mutex<Option<Body>>>;

/// A request body that, dropped before its end, puts itself back into its [`Slot`].
pub struct Returning {
    inner: Option<Body>,
    slot: Slot,
}

impl Returning {
    pub fn wrap(body: Body) -> (Body, Slot) {
        let slot = Slot::default();
        let wrapped = Returning {
            inner: Some(body),
            slot: slot.clone(),
        };
        (Body::new(wrapped), slot)
    }
}

impl http_body::Body for Returning {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match self.inner.as_mut() {
            Some(b) => Pin::new(b).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        if let Some(b) = self.inner.take()
            && !b.is_end_stream()
            && let Ok(mut slot) = self.slot.lock()
        {
            *slot = Some(b);
        }
    }
}

/// Reads and discards what the handler left of the body, at most [`MAX_DRAIN`] bytes within
/// [`DRAIN_TIME`], pausing at most [`DRAIN_IDLE`]. `true` when the body was read to its end
/// (the connection can stay open); `false` when it was cut short, or not begun because the
/// declared `Content-Length` is over the bound (close the connection). Nothing left: `true`.
pub async fn drain(slot: &Slot, declared: u64) -> bool {
    let Some(mut body) = slot.lock().ok().and_then(|mut s| s.take()) else {
        return true;
    };
    if declared > MAX_DRAIN {
        return false;
    }
    let read = async {
        let mut left = MAX_DRAIN;
        loop {
            match tokio::time::timeout(DRAIN_IDLE, body.frame()).await {
                Err(_) | Ok(Some(Err(_))) => return false,
                Ok(None) => return true,
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        let n = data.len() as u64;
                        if n > left {
                            return false;
                        }
                        left -= n;
                    }
                }
            }
        }
    };
    tokio::time::timeout(DRAIN_TIME, read)
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_dropped_unfinished_is_given_back_and_drained() {
        let (body, slot) = Returning::wrap(Body::from(vec![7u8; 1000]));
        drop(body);
        assert!(slot.lock().unwrap().is_some());
        assert!(drain(&slot, 1000).await);
        assert!(slot.lock().unwrap().is_none());

        // Read to the end: nothing to give back.
        let (body, slot) = Returning::wrap(Body::from(vec![7u8; 10]));
        let bytes = axum::body::to_bytes(body, 100).await.unwrap();
        assert_eq!(bytes.len(), 10);
        assert!(slot.lock().unwrap().is_none());

        // Over the bound: cut short, so the caller closes the connection.
        let (body, slot) = Returning::wrap(Body::from(vec![0u8; MAX_DRAIN as usize + 1]));
        drop(body);
        assert!(!drain(&slot, 0).await);
        // Declared over the bound: not read at all.
        let (body, slot) = Returning::wrap(Body::from(vec![0u8; 10]));
        drop(body);
        assert!(!drain(&slot, MAX_DRAIN + 1).await);
    }
}
