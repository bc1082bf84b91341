//! What actors send to a socket, and the bounded queue it goes through.
//!
//! Every socket has one [`Outbox`]: a bounded queue its connection task drains into the
//! WebSocket. Actors (lobbies, rooms) and the pubsub hold clones of it. Sending never
//! waits: when the queue is full the client is not reading, so the socket is told to
//! close and counted as a slow client — nothing is buffered without bound.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Notify;

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
}

/// The queue shared by a socket's producers and its connection task.
///
/// A `VecDeque` behind a mutex rather than a channel: a tokio mpsc allocates a block of
/// 32 slots per queue up front, which every idle socket would pay for. This one holds
/// no allocation while empty and gives back what a burst made it grow to.
#[derive(Debug)]
struct Queue {
    state: Mutex<QueueState>,
    /// Woken when an item is queued.
    ready: Notify,
    /// Woken when the queue overflowed, so the connection task closes even while it is
    /// blocked writing to a client that does not read.
    overflow: Notify,
    capacity: usize,
}

#[derive(Debug, Default)]
struct QueueState {
    items: VecDeque<Outbound>,
    /// The connection task is gone: nothing more is accepted.
    closed: bool,
}

/// The sending side of a socket's queue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    queue: Arc<Queue>,
}

/// The receiving side, owned by the connection task.
#[derive(Debug)]
pub struct Inbox {
    queue: Arc<Queue>,
}

/// Makes a socket's queue holding at most `capacity` items.
pub fn outbox(capacity: usize) -> (Outbox, Inbox) {
    let queue = Arc::new(Queue {
        state: Mutex::new(QueueState::default()),
        ready: Notify::new(),
        overflow: Notify::new(),
        capacity,
    });
    (
        Outbox {
            queue: queue.clone(),
        },
        Inbox { queue },
    )
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // Every critical section is a push or a pop: a panic cannot leave it half done.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inbox {
    /// The next queued item, waiting for one if need be.
    pub async fn recv(&self) -> Outbound {
        loop {
            if let Some(item) = self.try_recv() {
                return item;
            }
            // A push between the check above and this wait leaves a permit: not lost.
            self.queue.ready.notified().await;
        }
    }

    /// The next queued item, if any.
    pub fn try_recv(&self) -> Option<Outbound> {
        let mut state = self.queue.lock();
        let item = state.items.pop_front();
        // A drained queue gives back what a burst grew it to, keeping one slot, so a
        // ticking socket (one frame per tick) allocates nothing per tick.
        if state.items.is_empty() && state.items.capacity() > 1 {
            state.items = VecDeque::new();
        }
        item
    }

    /// Completes when the queue has overflowed (the client is too slow).
    pub async fn overflowed(&self) {
        self.queue.overflow.notified().await;
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        let mut state = self.queue.lock();
        state.closed = true;
        state.items = VecDeque::new();
    }
}

impl Outbox {
    /// Queues `item` without waiting. Returns false when the socket is gone or too slow;
    /// in the second case it is told to disconnect.
    pub fn send(&self, item: Outbound) -> bool {
        let mut state = self.queue.lock();
        if state.closed {
            return false;
        }
        if state.items.len() >= self.queue.capacity {
            drop(state);
            self.queue.overflow.notify_one();
            return false;
        }
        if state.items.capacity() == 0 {
            state.items.reserve_exact(1);
        }
        state.items.push_back(item);
        drop(state);
        self.queue.ready.notify_one();
        true
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
        self.queue.lock().closed
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
