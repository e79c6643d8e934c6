//! One access line per request (request id, method, path, principal, status, error code,
//! milliseconds; target `access`, as `log.access_every` decides) and the `x-request-id`
//! response header.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;

use crate::AdminState;
use crate::error::ErrorCode;

/// Request ids: a random per-process prefix and a counter, as on the S3 gateway.
pub struct RequestIds {
    instance: u32,
    seq: AtomicU64,
}

impl RequestIds {
    pub fn new() -> Self {
        let mut r = [0u8; 4];
        // Without randomness ids are still unique within the process.
        let _ = getrandom::fill(&mut r);
        RequestIds {
            instance: u32::from_le_bytes(r),
            seq: AtomicU64::new(0),
        }
    }

    fn next(&self) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("{:08X}{:08X}", self.instance, n)
    }
}

/// Where authentication leaves the principal's name for the log line.
#[derive(Clone, Default)]
pub struct WhoSlot(Arc<Mutex<Option<String>>>);

impl WhoSlot {
    pub fn set(&self, name: &str) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(name.to_string());
    }

    fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

pub async fn log_request(
    State(state): State<AdminState>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = state.ids.next();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    // The route template, not the path, labels metrics (bounded cardinality).
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let bytes_in = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let who = WhoSlot::default();
    req.extensions_mut().insert(who.clone());
    // Everything logged while handling carries the request id.
    let span = tracing::info_span!("admin", request_id = %id);
    let mut resp = {
        use tracing::Instrument as _;
        next.run(req).instrument(span).await
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let status = resp.status().as_u16();
    let code = resp.extensions().get::<ErrorCode>().map_or("-", |c| c.0);
    state
        .store
        .metrics()
        .record(gatehouse_store::metrics::RequestRecord {
            protocol: "admin",
            op: &format!("{method} {route}"),
            status,
            error: (code != "-").then_some(code),
            latency: started.elapsed(),
            bytes_in,
            bytes_out: resp
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        });
    // Scrapes and health probes arrive every few seconds: logged at debug unless they fail.
    let routine = matches!(route.as_str(), "/metrics" | "/api/health") && status < 400;
    // The access line (`log.access_every`; target `access`, apart from the operational log).
    if !state.store.metrics().access_line(status) {
        return resp;
    }
    macro_rules! line {
        ($level:ident) => {
            tracing::$level!(
                target: "access",
                request_id = %id,
                method = %method,
                path = %path,
                principal = who.get().as_deref().unwrap_or("-"),
                status,
                error = code,
                ms = started.elapsed().as_millis() as u64,
                "admin"
            )
        };
    }
    if routine {
        line!(debug);
    } else {
        line!(info);
    }
    resp
}
