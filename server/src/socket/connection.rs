//! One task per WebSocket: read frames, hand them to the socket's [`Session`], write
//! what actors queued.
//!
//! The task `select!`s over the server shutting down, the idle deadline, its outbound
//! queue and the next client frame. A client that falls behind is resynced, not
//! dropped (see `outbound`); it is closed only when a write makes no progress for
//! [`NO_PROGRESS_TIMEOUT`], or when what cannot be discarded passes its bound (a
//! write watches for that too, so it is noticed even while a write is stuck). Most
//! broadcasts never reach this task: producers write them straight into the stream (see
//! `outbound`). What is queued goes out in batches, one `writev` for everything already
//! waiting.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use kurve_shared::phoenix::{self, Vsn};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use super::session::{End, Outgoing, Session, close};
use crate::app::App;
use crate::auth::User;
use crate::config::{NO_PROGRESS_TIMEOUT, RESYNC_QUEUE};
use crate::metrics;
use crate::outbound::io::{self, SocketIo, websocket_config};
use crate::outbound::wire::{self, Opcode};
use crate::outbound::{Inbox, OutKind, OutMessage, Outbound, Payload, direct_outbox};

/// Most queued frames gathered into one `writev`.
const WRITE_BATCH: usize = 64;

/// Most batches written before the task looks at the client's side again.
const BATCHES_PER_TURN: usize = 4;

/// Runs one accepted WebSocket until it ends. `read` holds bytes the HTTP server had
/// already read past the upgrade request.
pub async fn run(stream: TcpStream, read: Vec<u8>, app: App, user: User, vsn: Vsn, client: IpAddr) {
    io::bound_kernel_buffer(&stream);
    let stream = Arc::new(stream);
    let (outbox, inbox) = direct_outbox(RESYNC_QUEUE, stream.clone(), vsn);
    let reader = SocketIo {
        stream: stream.clone(),
        outbox: outbox.clone(),
    };
    let mut ws =
        WebSocketStream::from_partially_read(reader, read, Role::Server, Some(websocket_config()))
            .await;
    let mut conn = Session::new(app.clone(), user, vsn, client, outbox);
    let id = conn.socket().id;
    let hot = metrics::hot();
    hot.sockets_open.increment(1.0);
    metrics::count_accepted();
    tracing::debug!(socket = id, user = %conn.socket().user.id, "socket connected");

    let shutdown = app.shutdown.clone();
    // Made once: a fresh cancellation future per loop turn costs a lock per frame.
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    let idle_timeout = app.config.idle_timeout();
    let idle = sleep_until(Instant::now() + idle_timeout);
    tokio::pin!(idle);

    let end = loop {
        tokio::select! {
            biased;
            _ = &mut cancelled => break End::Shutdown,
            _ = &mut idle => {
                metrics::count_idle_closed();
                break End::Close(close::GOING_AWAY, "idle timeout");
            }
            item = inbox.recv() => {
                // Boxed: a write is in flight briefly, while this future lives as long as
                // the socket; keeping the write's state out of it keeps idle sockets small.
                if let Err(end) = Box::pin(write_queued(&mut conn, &stream, &inbox, item)).await {
                    break end;
                }
            }
            frame = ws.next() => {
                idle.as_mut().reset(Instant::now() + idle_timeout);
                match frame {
                    Some(Ok(message)) => {
                        if let Some(end) = on_frame(&mut conn, message) {
                            break end;
                        }
                    }
                    Some(Err(error)) => break classify_read_error(error),
                    None => break End::Gone,
                }
            }
        }
    };

    // From here on nobody else writes: what is still owed goes before the close frame.
    let mut last = inbox.close();
    let close = match end {
        End::Shutdown => {
            last.extend(
                conn.goodbye()
                    .iter()
                    .filter_map(|m| encode_message(conn.vsn(), m)),
            );
            Some(wire::close_frame(close::RESTART, "server shutting down"))
        }
        End::Close(code, reason) => Some(wire::close_frame(code, reason)),
        End::Gone | End::Abort => None,
    };
    if let Some(close) = close {
        last.push(close);
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            io::write_all(&stream, &mut last, NO_PROGRESS_TIMEOUT),
        )
        .await;
    }
    drop(ws);
    conn.leave_all();
    hot.sockets_open.decrement(1.0);
    tracing::debug!(socket = id, "socket closed");
}

/// Awaits a write to the client unless the client proves too slow first: the write
/// made no progress for [`NO_PROGRESS_TIMEOUT`], or what it cannot discard passed its
/// bound.
async fn write_or_give_up(
    write: impl Future<Output = std::io::Result<()>>,
    inbox: &Inbox,
) -> Result<(), End> {
    tokio::select! {
        result = write => match result {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {
                metrics::slow_client_disconnected(metrics::SlowClient::NoProgress);
                Err(End::Abort)
            }
            Err(_) => Err(End::Gone),
        },
        _ = inbox.overflowed() => {
            metrics::slow_client_disconnected(metrics::SlowClient::Memory);
            Err(End::Abort)
        }
    }
}

fn classify_read_error(error: WsError) -> End {
    use tokio_tungstenite::tungstenite::error::CapacityError;
    match error {
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => {
            metrics::count_malformed();
            End::Close(close::TOO_BIG, "frame too large")
        }
        WsError::Utf8(_) => End::Close(close::INVALID_DATA, "invalid utf-8"),
        _ => End::Gone,
    }
}

/// Writes `first` and whatever else is queued, a batch per `writev`, until the
/// queue is empty (the stream then goes back to direct writers) or this turn's
/// share is used up (the queue is still ours; the loop comes straight back).
async fn write_queued(
    conn: &mut Session,
    stream: &TcpStream,
    inbox: &Inbox,
    first: Outbound,
) -> Result<(), End> {
    let mut frames = Vec::new();
    let mut item = Some(first);
    let mut batches = 0;
    loop {
        while let Some(current) = item.take() {
            if let Some(frame) = encode(conn, current) {
                frames.push(frame);
            }
            if frames.len() < WRITE_BATCH {
                item = inbox.try_recv();
            }
        }
        write_or_give_up(
            io::write_all(stream, &mut frames, NO_PROGRESS_TIMEOUT),
            inbox,
        )
        .await?;
        batches += 1;
        // Nothing may be taken from the queue past this point unless it is written:
        // an item taken and then dropped at the end of the turn is a lost frame.
        if inbox.idle() || batches == BATCHES_PER_TURN {
            return Ok(());
        }
        item = inbox.try_recv();
    }
}

/// Turns a queued item into a WebSocket frame for this socket's serializer. None:
/// nothing to send.
fn encode(conn: &mut Session, item: Outbound) -> Option<Bytes> {
    let frame = match conn.take(item)? {
        Outgoing::Wire(bytes) => return Some(bytes),
        Outgoing::Message(message) => encode_message(conn.vsn(), &message),
        Outgoing::Broadcast(broadcast) => broadcast.wire(conn.vsn()).cloned(),
    }?;
    let hot = metrics::hot();
    hot.frames_out.increment(1);
    hot.bytes_out.increment(frame.len() as u64);
    Some(frame)
}

/// One message as a WebSocket frame: binary payloads as V2 binary frames, everything
/// else (and binary payloads to V1 sockets, in their JSON form) as text.
fn encode_message(vsn: Vsn, message: &OutMessage) -> Option<Bytes> {
    let join_ref = message.join_ref.as_deref();
    let msg_ref = message.msg_ref.as_deref();
    let encoded = match (vsn, &message.kind, &message.payload) {
        (Vsn::V2, OutKind::Push { event }, Payload::Binary(bytes)) => {
            phoenix::encode_binary_push(join_ref, &message.topic, event, bytes)
        }
        (Vsn::V2, OutKind::Reply { status }, Payload::Binary(bytes)) => {
            phoenix::encode_binary_reply(
                join_ref,
                msg_ref.unwrap_or(""),
                &message.topic,
                status,
                bytes,
            )
        }
        _ => {
            return message
                .text(vsn)
                .map(|text| wire::frame(Opcode::Text, text.as_bytes()));
        }
    };
    encoded
        .ok()
        .map(|encoded| wire::frame(Opcode::Binary, &encoded))
}

/// Handles one WebSocket message from the client. Some(end) closes the socket.
fn on_frame(conn: &mut Session, message: Message) -> Option<End> {
    match &message {
        Message::Text(text) => conn.on_text(text.as_str()),
        Message::Binary(data) => conn.on_binary(data),
        // tungstenite answers pings itself; a close is answered when we next write.
        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => None,
        Message::Close(_) => Some(End::Gone),
    }
}
