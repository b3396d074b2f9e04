//! The "same bytes, no work" floor: a minimal hyper server answering every
//! request with one body held in memory, with the same keep-alive behaviour
//! as cohort. What cohort does beyond this is its cost.

use anyhow::Result;
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{header, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use tokio::net::TcpListener;

pub async fn serve(listen: SocketAddr, body: Bytes) -> Result<()> {
    let listener = TcpListener::bind(listen).await?;
    println!("floor listening on {}", listener.local_addr()?);
    accept(listener, move |_request| {
        let body = body.clone();
        async move { body }
    })
    .await
}

/// The long-poll floor: every request is parked until `POST /trigger`, then
/// all parked requests are answered with the same body at once. `GET
/// /parked` says how many wait. What cohort does beyond this, answering one
/// change to as many waiting polls, is its cost.
pub async fn serve_long_polls(listen: SocketAddr, body: Bytes) -> Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = TcpListener::bind(listen).await?;
    println!("poll floor listening on {}", listener.local_addr()?);
    let trigger = Arc::new(tokio::sync::Notify::new());
    let parked = Arc::new(AtomicUsize::new(0));
    accept(listener, move |request| {
        let (body, trigger, parked) = (body.clone(), trigger.clone(), parked.clone());
        async move {
            match request.uri().path() {
                "/trigger" => {
                    trigger.notify_waiters();
                    Bytes::from_static(b"{}")
                }
                "/parked" => Bytes::from(parked.load(Ordering::SeqCst).to_string()),
                _ => {
                    let woken = trigger.notified();
                    tokio::pin!(woken);
                    woken.as_mut().enable();
                    parked.fetch_add(1, Ordering::SeqCst);
                    woken.await;
                    parked.fetch_sub(1, Ordering::SeqCst);
                    body
                }
            }
        }
    })
    .await
}

/// Serve every connection with keep-alive, answering each request with the
/// JSON body `answer` gives it.
async fn accept<F, Fut>(listener: TcpListener, answer: F) -> Result<()>
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Bytes> + Send + 'static,
{
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let answer = answer.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let body = answer(request);
                async move {
                    let mut response = Response::new(Full::new(body.await));
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        header::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
