//! `GET /api/backup`: a consistent online backup as a tar stream (admin only).

use std::io::Write;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

use crate::AdminState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};

pub async fn backup(State(st): State<AdminState>, c: Caller) -> ApiResult<Response> {
    let store = st.store.clone();
    let p = c.principal.clone();
    let snap = tokio::task::spawn_blocking(move || store.backup_snapshot(&p))
        .await
        .map_err(|e| ApiError::internal(&e.to_string()))??;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        let res = snap.write_tar(&mut w);
        if let Err(e) = res {
            tracing::warn!(error = %e, "backup stream failed");
            // The client sees the body cut off, never a short archive that looks whole.
            let _ =
                w.tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"gatehouse-backup.tar\""),
    );
    Ok(resp)
}

const CHUNK: usize = 256 << 10;

/// Sends what is written as body frames of up to [`CHUNK`] bytes.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let frame = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(frame)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}
