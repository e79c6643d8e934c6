//! The HTTP listeners (S3 and admin, plain or TLS) on our own accept loop, so every one is
//! bounded: at most `max_connections` connections at once (counting TLS handshakes; further
//! clients wait in the kernel's accept queue until one closes), a request header must arrive
//! complete within `header_timeout` of its first byte, and a connection with no request under
//! way that stays silent for `idle_timeout` is closed. While a request is under way the server
//! waits on the client at most `idle_timeout` at a time, as nginx's `client_body_timeout` and
//! `send_timeout`: a request body that stops arriving ends in an error the handler answers
//! (S3: 400), and a response the client stops reading closes the connection. A slow client
//! that keeps bytes moving is served: uploads and downloads have no overall deadline. Accept
//! errors (out of descriptors and the like) back off and keep serving. On the stop signal each
//! connection finishes the request under way and closes (or is closed `drain` after the
//! signal); the listener task ends when the last one has.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

/// An HTTP/1 connection's read buffer, at most: request headers must fit in it, and a body is
/// read through it. hyper's default (~400 KiB) is kept per connection once a body has grown it,
/// including while the connection idles between requests, and a new one is allocated for each
/// read while pieces of the last are still held (a body's frames wait for the MD5 thread): 10–12
/// MiB over eight uploads (heaptrack, docs/BENCHMARKS.md session 28). 64 KiB holds any request
/// header S3 allows (8 KiB) many times over; a larger header block is answered 431.
pub const HTTP1_READ_BUFFER: usize = 64 << 10;

/// What one listener enforces (resolved from [`crate::config::HttpLimits`]).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    /// After the stop signal, how long requests under way may take to finish before their
    /// connections are closed anyway, so a stop ends in time (systemd's `TimeoutStopSec`).
    pub drain: Duration,
}

/// [`Limits::drain`] of the server: half of the unit's `TimeoutStopSec=60`, leaving the rest
/// for closing the store.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` (over TLS when `tls` is set) until `stop` turns true.
pub fn spawn(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<Arc<ServerConfig>>,
    limits: Limits,
    stop: watch::Receiver<bool>,
    what: &'static str,
) -> JoinHandle<()> {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let tls = tls.map(TlsAcceptor::from);
    tokio::spawn(async move {
        let mut rx = stop.clone();
        let (mut accept_errors, mut full) = (RateLimited::default(), RateLimited::default());
        loop {
            let permit = match slots.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    if full.ready() {
                        tracing::warn!(
                            limit = max,
                            "{what} listener at its connection limit: new clients wait to be accepted"
                        );
                    }
                    tokio::select! {
                        _ = stopped(&mut rx) => break,
                        p = slots.clone().acquire_owned() => match p {
                            Ok(p) => p,
                            Err(_) => break,
                        },
                    }
                }
            };
            let (sock, peer) = tokio::select! {
                _ = stopped(&mut rx) => break,
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of descriptors (EMFILE/ENFILE) and the like: the connections we
                        // hold time out and free some; back off rather than spin.
                        if accept_errors.ready() {
                            tracing::warn!(error = %e, "{what} accept failed; retrying");
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            // Replies go out as written: a streamed body's first piece must not wait behind
            // Nagle for the ACK of the headers, which a client delays by up to 40 ms.
            let _ = sock.set_nodelay(true);
            tokio::spawn(connection(
                sock,
                peer,
                app.clone(),
                tls.clone(),
                limits,
                stop.clone(),
                permit,
                what,
            ));
        }
        // Every connection holds a slot until it closes.
        let _ = slots.acquire_many(max as u32).await;
    })
}

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[allow(clippy::too_many_arguments)]
async fn connection(
    sock: tokio::net::TcpStream,
    peer: SocketAddr,
    app: axum::Router,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
    what: &'static str,
) {
    match tls {
        None => serve_io(sock, peer, false, app, limits, stop, what).await,
        Some(acceptor) => {
            // The handshake is part of the wait for the first request header.
            let bound = HANDSHAKE_TIMEOUT.min(limits.header_timeout);
            match tokio::time::timeout(bound, acceptor.accept(sock)).await {
                Ok(Ok(tls)) => serve_io(tls, peer, true, app, limits, stop, what).await,
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

async fn serve_io<I>(
    io: I,
    peer: SocketAddr,
    secure: bool,
    app: axum::Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    what: &'static str,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let act = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: io,
        act: act.clone(),
    });
    let svc = {
        let act = act.clone();
        hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
            let guard = InFlight::start(&act);
            // axum's ConnectInfo: web sign-in lockouts count per client address.
            req.extensions_mut().insert(ConnectInfo(peer));
            // Bucket policies' aws:SecureTransport.
            req.extensions_mut()
                .insert(gatehouse_s3::Transport { secure });
            let req = req.map(|body| Inbound::new(body, limits.idle_timeout));
            let mut app = app.clone();
            async move {
                let resp = tower::Service::call(&mut app, req).await;
                resp.map(|r| {
                    r.map(|body| Tracked {
                        body,
                        _guard: guard,
                    })
                })
            }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Our own header timeout below starts at a request's first byte; hyper's would also run
    // while the connection waits idle between requests.
    builder
        .http1()
        .header_read_timeout(None)
        .max_buf_size(HTTP1_READ_BUFFER);
    let conn = builder.serve_connection_with_upgrades(io, svc);
    tokio::pin!(conn);
    let mut draining = false;
    // Far off until the stop signal sets it.
    let drain_end = tokio::time::sleep(Duration::from_secs(86_400 * 365));
    tokio::pin!(drain_end);
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::trace!(%peer, error = %e, "{what} connection ended");
                }
                break;
            }
            _ = stopped(&mut stop), if !draining => {
                draining = true;
                drain_end.as_mut().reset(tokio::time::Instant::now() + limits.drain);
                conn.as_mut().graceful_shutdown();
            }
            _ = &mut drain_end, if draining => {
                tracing::info!(%peer, "{what}: stopping: closing a connection whose request did not finish in time");
                break;
            }
            why = act.expired(&limits) => {
                tracing::debug!(%peer, "{what}: closing the connection: {why}");
                break;
            }
        }
    }
}

/// Resolves once the stop signal is set (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// One connection's clock, kept by its I/O and its requests and read by its watchdog.
struct Activity {
    base: Instant,
    /// Milliseconds since `base` of the last byte read or written.
    last_io: AtomicU64,
    /// 1 + milliseconds since `base` of the first byte read while no request was under way
    /// (a request header arriving); 0 when there is none.
    head_started: AtomicU64,
    /// Requests whose header was read and whose response has not been sent yet.
    in_flight: AtomicU32,
    /// 1 + milliseconds since `base` of a write that could not go out (the client's receive
    /// window is full); 0 when writes are going out.
    write_blocked: AtomicU64,
    /// Told when a header starts arriving or a write blocks, so the watchdog takes up the
    /// new deadline.
    wake: Notify,
}

impl Activity {
    fn new() -> Self {
        Activity {
            base: Instant::now(),
            last_io: AtomicU64::new(0),
            // A new connection owes its first request header from the start.
            head_started: AtomicU64::new(1),
            in_flight: AtomicU32::new(0),
            write_blocked: AtomicU64::new(0),
            wake: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    fn at(&self, ms: u64) -> Instant {
        self.base + Duration::from_millis(ms)
    }

    fn read(&self, n: usize) {
        if n == 0 {
            return;
        }
        let now = self.now_ms();
        self.last_io.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0
            && self
                .head_started
                .compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.wake.notify_one();
        }
    }

    fn wrote(&self, n: usize) {
        self.write_blocked.store(0, Ordering::Release);
        if n > 0 {
            self.last_io.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    /// A write (or flush) found the connection full.
    fn write_pending(&self) {
        let now = self.now_ms();
        if self
            .write_blocked
            .compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            self.wake.notify_one();
        }
    }

    /// Notes a poll of the write side: progress, or a client not reading.
    fn write_poll<T>(&self, r: &Poll<std::io::Result<T>>, written: impl FnOnce(&T) -> usize) {
        match r {
            Poll::Ready(Ok(v)) => self.wrote(written(v)),
            Poll::Pending => self.write_pending(),
            Poll::Ready(Err(_)) => {}
        }
    }

    /// Resolves when the connection is past a deadline, with the reason.
    async fn expired(&self, limits: &Limits) -> &'static str {
        loop {
            let now = Instant::now();
            let (when, why) = if self.in_flight.load(Ordering::Acquire) > 0 {
                match self.write_blocked.load(Ordering::Acquire) {
                    // A request is under way: look again later (its body bounds its own waits).
                    0 => (now + limits.idle_timeout, None),
                    // The client has stopped taking the response.
                    t => (
                        self.at((t - 1).max(self.last_io.load(Ordering::Relaxed)))
                            + limits.idle_timeout,
                        Some("the client stopped reading the response"),
                    ),
                }
            } else {
                match self.head_started.load(Ordering::Acquire) {
                    0 => (
                        self.at(self.last_io.load(Ordering::Relaxed)) + limits.idle_timeout,
                        Some("idle"),
                    ),
                    t => (
                        self.at(t - 1) + limits.header_timeout,
                        Some("no complete request header in time"),
                    ),
                }
            };
            if let Some(why) = why
                && when <= now
            {
                return why;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(when.into()) => {}
                _ = self.wake.notified() => {}
            }
        }
    }
}

/// Counts a request as under way from its header until its response body is done (or dropped).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(act: &Arc<Activity>) -> Self {
        act.in_flight.fetch_add(1, Ordering::AcqRel);
        act.head_started.store(0, Ordering::Release);
        InFlight(act.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.last_io.store(self.0.now_ms(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as under way.
struct Tracked {
    body: axum::body::Body,
    _guard: InFlight,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A request body whose client may pause at most `timeout` between two pieces of it; then
/// the handler reading it gets an error (and the connection closes, its body unread).
struct Inbound {
    body: Incoming,
    timeout: Duration,
    /// The deadline for the next piece, made at the first wait and reset for each later one.
    wait: Option<Pin<Box<tokio::time::Sleep>>>,
    /// A wait is under way (the deadline is set for it).
    armed: bool,
    stalled: bool,
}

impl Inbound {
    fn new(body: Incoming, timeout: Duration) -> Self {
        Inbound {
            body,
            timeout,
            wait: None,
            armed: false,
            stalled: false,
        }
    }
}

/// What a handler reading a stalled request body gets.
#[derive(Debug)]
struct BodyStalled(Duration);

impl std::fmt::Display for BodyStalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no request body data for {} s: the socket was not read from within the timeout",
            self.0.as_secs()
        )
    }
}

impl std::error::Error for BodyStalled {}

impl http_body::Body for Inbound {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if self.stalled {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                self.armed = false;
                Poll::Ready(frame.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let this = &mut *self;
                let due = tokio::time::Instant::now() + timeout;
                let wait = match &mut this.wait {
                    Some(w) => {
                        if !this.armed {
                            w.as_mut().reset(due);
                        }
                        w
                    }
                    None => this.wait.insert(Box::pin(tokio::time::sleep_until(due))),
                };
                this.armed = true;
                if wait.as_mut().poll(cx).is_ready() {
                    this.stalled = true;
                    return Poll::Ready(Some(Err(Box::new(BodyStalled(timeout)))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.stalled || self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The connection's stream, noting when bytes move.
struct Watched<I> {
    inner: I,
    act: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            self.act.read(buf.filled().len() - before);
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.act.write_poll(&r, |n| *n);
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.act.write_poll(&r, |n| *n);
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.act.write_poll(&r, |_| 0);
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// At most one log line per second for a repeating error.
#[derive(Default)]
struct RateLimited(Option<Instant>);

impl RateLimited {
    fn ready(&mut self) -> bool {
        let now = Instant::now();
        if self
            .0
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return false;
        }
        self.0 = Some(now);
        true
    }
}
