//! Response bodies of our own: `Chunks`, shared chunks (cached responses are
//! served as the list of their parts, no concatenation, no copy, with an
//! exact length); `Channel`, chunks a task sends as it makes them (streamed
//! exports, event streams).

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub struct Chunks {
    parts: Arc<Vec<Bytes>>,
    next: usize,
    remaining: u64,
}

impl Chunks {
    pub fn new(parts: Arc<Vec<Bytes>>) -> Chunks {
        let remaining = parts.iter().map(|p| p.len() as u64).sum();
        Chunks {
            parts,
            next: 0,
            remaining,
        }
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        while this.next < this.parts.len() {
            let part = this.parts[this.next].clone();
            this.next += 1;
            if !part.is_empty() {
                this.remaining -= part.len() as u64;
                return Poll::Ready(Some(Ok(Frame::data(part))));
            }
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// A body fed through a channel by a task; it ends when the task drops its
/// sender, and the task learns the client left when sending fails.
pub struct Channel(pub tokio::sync::mpsc::Receiver<Bytes>);

impl Body for Channel {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}
