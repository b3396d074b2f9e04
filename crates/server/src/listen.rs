//! The accept loop: TCP (or TLS) connections served by hyper with the
//! bounds a hostile client must not get around — how many connections are
//! open, how big and how slow request headers may be, how long a request
//! body may take, how long a connection may sit idle — and the graceful
//! shutdown that lets requests in flight (and their writes) finish.
//!
//! Responses are never timed: long polls and event streams stay open as
//! long as they need; a connection counts as busy while a response body is
//! still being sent.

use crate::tls::Tls;
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::Request;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// Bounds on connections (the `serve` flags of the same names).
#[derive(Clone, Debug)]
pub struct Limits {
    /// Connections open at once; beyond it new ones wait in the listen
    /// backlog until one closes.
    pub max_connections: usize,
    /// Largest request head (request line and headers), in bytes; at least
    /// 8192 (hyper's smallest read buffer).
    pub max_header_bytes: usize,
    /// Most header fields in a request (HTTP/1.1).
    pub max_headers: usize,
    /// How long a request's headers (and a TLS handshake) may take to arrive.
    pub header_timeout: Duration,
    /// How long a connection with no request in flight stays open.
    pub idle_timeout: Duration,
    /// How long a request body may take to arrive, from its headers on.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(60),
        }
    }
}

/// How a request reached cohort, next to `ConnectInfo<SocketAddr>` in its
/// extensions.
#[derive(Clone, Copy, Debug)]
pub struct Transport {
    pub tls: bool,
}

/// Serve `state` on `listener` until `shutdown` resolves, then stop
/// accepting, set `state.closing` (event streams end), let every open
/// connection finish what it is doing, and return.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    limits: Limits,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = crate::app(state.clone());
    let builder = Arc::new(builder(&limits));
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let (stop, stopping) = watch::channel(false);
    let limits = Arc::new(limits);
    tokio::pin!(shutdown);
    loop {
        // At the cap, no accept: new connections wait in the kernel's
        // backlog and are served as soon as one closes.
        let slot = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before
                    // it was accepted: wait a little rather than spin.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Small answers go out at once instead of waiting on Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            app: app.clone(),
            builder: builder.clone(),
            limits: limits.clone(),
            peer,
            stopping: stopping.clone(),
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            connection.serve(stream, tls).await;
            drop(slot);
        });
    }
    drop(listener);
    state.closing.send_replace(true);
    stop.send_replace(true);
    // Every connection gives its slot back when it is done.
    let _all = slots.acquire_many(max as u32).await;
    Ok(())
}

fn builder(limits: &Limits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // hyper starts this timer whenever the connection waits for a
        // request head: a slow head is closed, and so is a kept-alive
        // connection that sends nothing for this long.
        .header_read_timeout(limits.header_timeout)
        .max_headers(limits.max_headers)
        // A head that does not fit is answered 431 and the connection closed.
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// One accepted connection and what serving it needs.
struct Connection {
    app: axum::Router,
    builder: Arc<Builder<TokioExecutor>>,
    limits: Arc<Limits>,
    peer: SocketAddr,
    stopping: watch::Receiver<bool>,
}

impl Connection {
    async fn serve(self, stream: TcpStream, tls: Option<Arc<Tls>>) {
        let Some(tls) = tls else {
            return self.http(stream, false).await;
        };
        // Plain HTTP on the TLS port gets a plain answer saying so instead
        // of a TLS alert it cannot read.
        let mut first = [0u8; 1];
        match tokio::time::timeout(self.limits.header_timeout, stream.peek(&mut first)).await {
            Ok(Ok(1)) if first[0] != 0x16 => return refuse_plain(stream).await,
            Ok(Ok(1)) => {}
            _ => return,
        }
        let handshake = tls.acceptor().accept(stream);
        match tokio::time::timeout(self.limits.header_timeout, handshake).await {
            Ok(Ok(stream)) => self.http(stream, true).await,
            Ok(Err(err)) => {
                tracing::debug!(peer = %self.peer, error = %err, "TLS handshake failed")
            }
            Err(_) => tracing::debug!(peer = %self.peer, "TLS handshake timed out"),
        }
    }

    async fn http<I>(mut self, io: I, tls: bool)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::default());
        let service = {
            let activity = activity.clone();
            let app = self.app.clone();
            let peer = self.peer;
            let body_timeout = self.limits.body_timeout;
            hyper::service::service_fn(move |request: Request<Incoming>| {
                let busy = Busy::new(activity.clone());
                let app = app.clone();
                async move {
                    let mut request = request.map(|body| {
                        if http_body::Body::is_end_stream(&body) {
                            Body::new(body)
                        } else {
                            Body::new(Deadline::new(body, body_timeout))
                        }
                    });
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request.extensions_mut().insert(Transport { tls });
                    let response = app.oneshot(request).await?;
                    Ok::<_, Infallible>(response.map(|body| Tracked { body, _busy: busy }))
                }
            })
        };
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(io), service);
        tokio::pin!(connection);
        let (idle, header) = (self.limits.idle_timeout, self.limits.header_timeout);
        let mut closing = false;
        loop {
            let deadline = activity.idle_deadline(idle, header);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(peer = %self.peer, error = %err, "connection ended");
                    }
                    break;
                }
                _ = self.stopping.changed(), if !closing => {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
                _ = activity.changed.notified(), if !closing => {}
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(far_future)), if !closing && deadline.is_some() => {
                    if activity.idle_deadline(idle, header).is_some_and(|d| d <= Instant::now()) {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365)
}

async fn refuse_plain(mut stream: TcpStream) {
    const BODY: &str = "This port speaks HTTPS; use an https:// URL.\n";
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Whether a connection has a request in flight, and since when it has had
/// none.
struct Activity {
    in_flight: AtomicUsize,
    /// Whether a first request arrived: until then the header timeout
    /// bounds the wait (hyper's own header timer starts only once it knows
    /// the protocol, which a client sending nothing never lets it learn).
    served: AtomicBool,
    idle_since: Mutex<Instant>,
    /// Woken when the last request in flight finishes.
    changed: Notify,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since: Mutex::new(Instant::now()),
            changed: Notify::new(),
        }
    }
}

impl Activity {
    /// When the connection is to be closed for idleness (none while busy):
    /// `header` after accepting it if no request came yet, `idle` after the
    /// last response otherwise.
    fn idle_deadline(&self, idle: Duration, header: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = *self.idle_since.lock().unwrap_or_else(|e| e.into_inner());
        if self.served.load(Ordering::Acquire) {
            Some(since + idle)
        } else {
            Some(since + header.min(idle))
        }
    }
}

/// Held from a request's arrival until its response body is sent (or
/// dropped): the connection is busy meanwhile.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(activity: Arc<Activity>) -> Busy {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.served.store(true, Ordering::Release);
        activity.changed.notify_one();
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self.0.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_one();
    }
}

/// A response body that keeps its connection busy until it is done.
struct Tracked {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A request body that must arrive by a deadline; after it, reading fails
/// (the face answers with its bad-request error and the connection closes).
struct Deadline {
    body: Incoming,
    timer: Pin<Box<Sleep>>,
}

impl Deadline {
    fn new(body: Incoming, within: Duration) -> Deadline {
        Deadline {
            body,
            timer: Box::pin(tokio::time::sleep(within)),
        }
    }
}

#[derive(Debug)]
struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
