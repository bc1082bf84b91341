//! Moving bytes through a [`Link`]: one direction ([`pipe`]) and a connection's two
//! ([`relay`]), over any tokio reader and writer so the tests can use in-memory pipes
//! and paused time.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::link::Link;
use super::{MAX_IN_FLIGHT, READ_CHUNK, SEGMENT};

/// Copies `from` to `to` through `link` until `from` ends, then shuts `to` down (the
/// end of the stream travels behind the last byte). Returns the bytes delivered.
///
/// Each read is stamped with its delivery time by the link and queued; at most
/// [`MAX_IN_FLIGHT`] bytes wait in the queue, and while it is full nothing is read, so
/// the sender's kernel buffer fills as it would behind a slow link. Chunks due at the
/// same time are written together. `delivered` counts bytes as they are written.
pub async fn pipe<R, W>(
    mut from: R,
    mut to: W,
    mut link: Link,
    delivered: &AtomicU64,
) -> io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut queue: VecDeque<(Instant, Bytes)> = VecDeque::new();
    let mut queued = 0usize;
    let mut end_at: Option<Instant> = None;
    let mut buf = vec![0u8; READ_CHUNK];
    let mut out = Vec::with_capacity(READ_CHUNK);
    let mut total = 0u64;
    // A capped link delivers a long read bit by bit, not all at once when its last
    // byte would arrive: reads are cut into segments, each scheduled on its own.
    let segment = if link.serialization(1).is_zero() {
        READ_CHUNK
    } else {
        SEGMENT
    };
    loop {
        // Write everything that is due. Time is read again afterwards, since the write
        // may have waited for the receiver.
        let now = Instant::now();
        out.clear();
        while let Some((at, _)) = queue.front()
            && *at <= now
        {
            let (_, chunk) = queue.pop_front().expect("the front exists");
            queued -= chunk.len();
            out.extend_from_slice(&chunk);
        }
        if !out.is_empty() {
            to.write_all(&out).await?;
            total += out.len() as u64;
            delivered.fetch_add(out.len() as u64, Relaxed);
            continue;
        }
        if queue.is_empty()
            && let Some(at) = end_at
            && at <= now
        {
            to.shutdown().await?;
            return Ok(total);
        }
        let next = queue.front().map(|(at, _)| *at).or(end_at);
        let can_read = end_at.is_none() && queued + READ_CHUNK <= MAX_IN_FLIGHT;
        tokio::select! {
            read = from.read(&mut buf), if can_read => {
                let n = read?;
                let now = Instant::now();
                if n == 0 {
                    end_at = Some(link.schedule(now, 0));
                    continue;
                }
                for piece in buf[..n].chunks(segment) {
                    let at = link.schedule(now, piece.len());
                    queue.push_back((at, Bytes::copy_from_slice(piece)));
                    queued += piece.len();
                }
            }
            () = tokio::time::sleep_until(next.unwrap_or(now)), if next.is_some() => {}
            else => return Ok(total),
        }
    }
}

/// Bytes delivered by a proxy, per direction, as they are written.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Client → server bytes.
    pub upstream_bytes: AtomicU64,
    /// Server → client bytes.
    pub downstream_bytes: AtomicU64,
}

/// Runs both directions of one connection: `client` → `server` through `up`, and back
/// through `down`. Ends when both directions have ended (each end propagated to the
/// other side as a shutdown) or at the first error, dropping both sides (so both peers
/// see the connection close).
pub async fn relay<CR, CW, SR, SW>(
    client_read: CR,
    client_write: CW,
    server_read: SR,
    server_write: SW,
    up: Link,
    down: Link,
    counters: &Counters,
) -> io::Result<()>
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    SR: AsyncRead + Unpin,
    SW: AsyncWrite + Unpin,
{
    tokio::try_join!(
        pipe(client_read, server_write, up, &counters.upstream_bytes),
        pipe(server_read, client_write, down, &counters.downstream_bytes),
    )?;
    Ok(())
}
