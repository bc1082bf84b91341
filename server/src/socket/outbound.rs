//! What actors send to a socket, and the bounded queue it goes through.
//!
//! Every socket has one [`Outbox`]: a bounded queue its connection task drains into the
//! WebSocket. Actors (lobbies, rooms) and the pubsub hold clones of it. Sending never
//! waits: when the queue is full the client is not reading, so the socket is told to
//! close and counted as a slow client — nothing is buffered without bound.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

use crate::pubsub::Broadcast;

/// Identifies one WebSocket connection for the life of the process.
pub type SocketId = u64;

/// A payload as it goes to one client: JSON text, already serialized, or raw bytes
/// (MessagePack) that V2 sockets receive as a binary frame.
#[derive(Debug, Clone)]
pub enum Payload {
    /// Serialized JSON. `Arc` so one encoded payload (a presence state) can go to many
    /// joiners without being serialized again.
    Json(Arc<str>),
    /// Raw bytes, sent as a V2 binary frame. V1 has no binary frames; V1 sockets skip these.
    Binary(Bytes),
}

impl Payload {
    /// Serializes `value` as a JSON payload. Serializing our own wire types cannot fail;
    /// if it ever did, the client gets `{}` and the fault is logged.
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Payload {
        match serde_json::to_string(value) {
            Ok(text) => Payload::Json(text.into()),
            Err(error) => {
                tracing::error!(%error, "could not serialize a payload");
                Payload::Json("{}".into())
            }
        }
    }

    /// The empty object, the payload of most acknowledgements.
    pub fn empty() -> Payload {
        Payload::Json(Arc::from("{}"))
    }
}

/// Whether a message answers a client push or is pushed by the server.
#[derive(Debug, Clone)]
pub enum OutKind {
    /// `phx_reply` to the client frame whose ref is `msg_ref`.
    Reply { status: &'static str },
    /// A push of `event` to this client only.
    Push { event: Cow<'static, str> },
}

/// A frame for one client. The socket encodes it with its own serializer.
#[derive(Debug, Clone)]
pub struct OutMessage {
    pub join_ref: Option<Arc<str>>,
    pub msg_ref: Option<Arc<str>>,
    pub topic: Arc<str>,
    pub kind: OutKind,
    pub payload: Payload,
}

/// Everything a connection task can be asked to do by the rest of the server.
#[derive(Debug)]
pub enum Outbound {
    /// A reply or push addressed to this socket alone. Boxed: every queue allocates its
    /// slots up front, so the enum's size is paid per idle socket.
    Message(Box<OutMessage>),
    /// A broadcast shared by every subscriber of its topic; encoded once per serializer.
    Broadcast(Arc<Broadcast>),
    /// The join with `join_ref` was refused: forget the channel (its error reply went first).
    JoinRefused { topic: Arc<str>, join_ref: Arc<str> },
    /// The process owning `topic` crashed: send `phx_error` so the client rejoins.
    ChannelCrashed { topic: Arc<str> },
    /// The server ended this channel for good (`phx_close`, the client does not rejoin).
    ChannelClosed { topic: Arc<str>, join_ref: Arc<str> },
}

/// The sending side of a socket's queue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// Bounded at [`crate::config::OUTBOUND_QUEUE`].
    tx: mpsc::Sender<Outbound>,
    /// Wakes the connection task when its queue overflowed, so it closes even while it
    /// is blocked writing to a client that does not read.
    overflow: Arc<Notify>,
}

/// The receiving side, owned by the connection task.
#[derive(Debug)]
pub struct Inbox {
    pub rx: mpsc::Receiver<Outbound>,
    pub overflow: Arc<Notify>,
}

/// Makes a socket's queue holding at most `capacity` items.
pub fn outbox(capacity: usize) -> (Outbox, Inbox) {
    let (tx, rx) = mpsc::channel(capacity);
    let overflow = Arc::new(Notify::new());
    (
        Outbox {
            tx,
            overflow: overflow.clone(),
        },
        Inbox { rx, overflow },
    )
}

impl Outbox {
    /// Queues `item` without waiting. Returns false when the socket is gone or too slow;
    /// in the second case it is told to disconnect.
    pub fn send(&self, item: Outbound) -> bool {
        match self.tx.try_send(item) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.overflow.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Queues a reply to the client frame `msg_ref` on a channel.
    pub fn reply(
        &self,
        topic: &Arc<str>,
        join_ref: &Arc<str>,
        msg_ref: &Arc<str>,
        status: &'static str,
        response: Payload,
    ) -> bool {
        self.send(Outbound::Message(Box::new(OutMessage {
            join_ref: Some(join_ref.clone()),
            msg_ref: Some(msg_ref.clone()),
            topic: topic.clone(),
            kind: OutKind::Reply { status },
            payload: response,
        })))
    }

    /// Queues a push of `event` on a channel to this client only.
    pub fn push(
        &self,
        topic: &Arc<str>,
        join_ref: &Arc<str>,
        event: impl Into<Cow<'static, str>>,
        payload: Payload,
    ) -> bool {
        self.send(Outbound::Message(Box::new(OutMessage {
            join_ref: Some(join_ref.clone()),
            msg_ref: None,
            topic: topic.clone(),
            kind: OutKind::Push {
                event: event.into(),
            },
            payload,
        })))
    }

    /// True once the connection task has ended.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// A reference to a connected socket, as actors see it.
#[derive(Debug, Clone)]
pub struct SocketRef {
    pub id: SocketId,
    pub user: Arc<crate::auth::User>,
    pub outbox: Outbox,
}

/// The channel a client message belongs to, as actors need it to answer.
#[derive(Debug, Clone)]
pub struct ChannelRef {
    pub socket: SocketRef,
    pub topic: Arc<str>,
    pub join_ref: Arc<str>,
}

impl ChannelRef {
    /// Replies to the client frame `msg_ref` on this channel.
    pub fn reply(&self, msg_ref: &Arc<str>, status: &'static str, response: Payload) -> bool {
        self.socket
            .outbox
            .reply(&self.topic, &self.join_ref, msg_ref, status, response)
    }

    /// Replies `{"status":"error","response":{"reason": reason}}`.
    pub fn reply_error(&self, msg_ref: &Arc<str>, reason: &str) -> bool {
        self.reply(
            msg_ref,
            "error",
            Payload::json(&serde_json::json!({ "reason": reason })),
        )
    }

    /// Pushes `event` on this channel to this client only.
    pub fn push(&self, event: impl Into<Cow<'static, str>>, payload: Payload) -> bool {
        self.socket
            .outbox
            .push(&self.topic, &self.join_ref, event, payload)
    }

    /// Answers a join with an error and tells the socket to forget the channel.
    pub fn refuse_join(&self, msg_ref: &Arc<str>, reason: &str) {
        self.reply_error(msg_ref, reason);
        self.socket.outbox.send(Outbound::JoinRefused {
            topic: self.topic.clone(),
            join_ref: self.join_ref.clone(),
        });
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// Each socket's queue allocates a block of slots up front (tokio's mpsc), so the item
    /// size is paid per idle socket: keep it small.
    #[test]
    fn queued_items_stay_small() {
        assert!(
            std::mem::size_of::<Outbound>() <= 40,
            "Outbound is {} bytes",
            std::mem::size_of::<Outbound>()
        );
    }
}
