//! The TCP stream of one WebSocket, shared by its reader and its writers.
//!
//! The connection task reads client frames through tungstenite over a [`SocketIo`];
//! every server frame is written by us ([`super::wire`]) — by a producer's direct write
//! or by the connection task ([`write_all`]). Anything tungstenite itself wants to send
//! (a pong, the answer to a close) goes into the socket's queue as raw bytes, so it can
//! never cut into a frame another writer has half written.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::{Outbound, Outbox};
use crate::config::MAX_FRAME_BYTES;

/// Bytes tungstenite reads from the socket at a time. tungstenite zero-fills the whole
/// buffer, so it is resident memory every idle socket pays for; Phoenix frames
/// (heartbeats, inputs) are around 100 bytes, and a larger frame grows the buffer
/// to its own length.
const READ_BUFFER: usize = 256;

/// tungstenite only writes control answers (pongs), and those go to the socket's queue
/// at once (see this module): it needs no write buffer.
const WRITE_BUFFER: usize = 0;

/// How tungstenite reads client frames: a small read buffer, no write buffer, and the
/// frame size limit (a larger frame closes the socket with 1009).
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_frame_size(Some(MAX_FRAME_BYTES))
        .max_message_size(Some(MAX_FRAME_BYTES))
}

/// Most frames handed to one `writev`.
const MAX_IOVECS: usize = 64;

/// Bytes the kernel may hold for a socket before it refuses more (`TCP_NOTSENT_LOWAT`):
/// without it Linux buffers up to `tcp_wmem` (megabytes, about a minute of ticks) for
/// a client that stopped reading, and the socket's own bound never sees a full queue.
/// 8 KiB is under a second of 60 Hz ticks; past it frames wait in the socket's queue,
/// where [`crate::config::RESYNC_QUEUE`] bounds them.
pub const KERNEL_UNSENT_BYTES: u32 = 8 * 1024;

/// Applies the per-socket kernel bound; a failure only loses the bound, so it is logged.
pub fn bound_kernel_buffer(stream: &TcpStream) {
    if let Err(error) = socket2::SockRef::from(stream).set_tcp_notsent_lowat(KERNEL_UNSENT_BYTES) {
        tracing::debug!(%error, "could not set TCP_NOTSENT_LOWAT");
    }
}

/// What tungstenite reads from and "writes" to.
pub struct SocketIo {
    pub stream: Arc<TcpStream>,
    pub outbox: Outbox,
}

impl AsyncRead for SocketIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.stream.poll_read_ready(cx))?;
            match self.stream.try_read(buf.initialize_unfilled()) {
                Ok(read) => {
                    buf.advance(read);
                    return Poll::Ready(Ok(()));
                }
                // The readiness was stale; try_read cleared it, so poll again.
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

impl AsyncWrite for SocketIo {
    /// Queues tungstenite's frame behind whatever is queued already.
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self
            .outbox
            .send(Outbound::Wire(Bytes::copy_from_slice(buf)))
        {
            Poll::Ready(Ok(buf.len()))
        } else {
            Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Writes every frame in `frames`, in order, gathering up to [`MAX_IOVECS`] per
/// `writev`. Only the socket's current writer may call this (see `outbound`). Fails
/// with `TimedOut` when the kernel accepts no byte for `no_progress`: the peer stopped
/// reading. A slow peer that takes a byte now and then keeps the write alive.
pub async fn write_all(
    stream: &TcpStream,
    frames: &mut Vec<Bytes>,
    no_progress: Duration,
) -> io::Result<()> {
    frames.retain(|frame| !frame.is_empty());
    let mut first = 0;
    let mut deadline = Instant::now() + no_progress;
    while first < frames.len() {
        match tokio::time::timeout_at(deadline, stream.writable()).await {
            Ok(ready) => ready?,
            Err(_) => return Err(io::ErrorKind::TimedOut.into()),
        }
        let slices: Vec<IoSlice<'_>> = frames[first..]
            .iter()
            .take(MAX_IOVECS)
            .map(|frame| IoSlice::new(frame))
            .collect();
        match stream.try_write_vectored(&slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(mut written) => {
                deadline = Instant::now() + no_progress;
                while written > 0 {
                    let frame = &mut frames[first];
                    if written >= frame.len() {
                        written -= frame.len();
                        first += 1;
                    } else {
                        frame.advance(written);
                        written = 0;
                    }
                }
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
            Err(error) => return Err(error),
        }
    }
    frames.clear();
    Ok(())
}
