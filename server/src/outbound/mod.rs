//! What actors send to a socket, and the bounded queue it goes through.
//!
//! Every socket has one [`Outbox`]: a bounded queue its connection task drains into the
//! TCP stream. Actors (lobbies, rooms) and the pubsub hold clones of it. Sending never
//! waits, and a client that falls behind is caught up rather than thrown out:
//!
//! **Resync, not drop** (CONTRACT §10). Some broadcasts are *state*: a room's ticks and
//! presence diffs, a lobby's presence diffs and listing changes, a replay's ticks
//! ([`Broadcast::replaceable`]). Whatever a client missed of them, a fresh snapshot of
//! the topic replaces. When a socket's backlog passes [`RESYNC_QUEUE`] items or
//! [`RESYNC_BACKLOG`] of age, the topic of the state broadcast being queued is marked
//! *lagging*: its state broadcasts still queued are discarded and new ones are not
//! queued (both counted as skipped). Replies, pushes and events stay, in order. Once the
//! socket has drained, [`Inbox::idle`] hands the connection task an
//! [`Outbound::Resync`], which asks the topic's actor for a fresh snapshot; the actor
//! queues it as a *reset* message ([`OutMessage::resets`]), which ends the lag: state
//! broadcasts queue again from the next one. What cannot be discarded is bounded in
//! bytes ([`MAX_KEPT_BYTES`]); past that the socket is closed, as it is when its writes
//! make no progress for [`crate::config::NO_PROGRESS_TIMEOUT`] (the connection task's
//! part).
//!
//! **Direct writes.** A broadcast ([`Outbox::broadcast`]) to a socket that has nothing
//! queued and no write in progress is written straight into the TCP stream by the
//! producer, with one non-blocking `send`: no task is woken, nothing is queued. Only a
//! short or refused write queues the rest (as raw [`Outbound::Wire`] bytes) and wakes
//! the connection task, which then owns the stream until its queue is empty again. The
//! `writing` flag, changed only under the queue's lock, is what keeps frames whole and
//! in order: while it is set, or anything is queued, producers queue.

pub mod io;
pub mod wire;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use kurve_shared::phoenix::{self, Vsn};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::{MAX_KEPT_BYTES, RESYNC_BACKLOG};
use crate::metrics;
use crate::protocol::error::ChannelError;
pub use wire::{Broadcast, Payload};

/// Identifies one WebSocket connection for the life of the process.
pub type SocketId = u64;

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
    /// This message replaces the topic's state (a snapshot, a `presence_state`, a room
    /// list): queueing it ends a lag on the topic (see the module docs).
    pub resets: bool,
}

impl OutMessage {
    /// This message as a Phoenix text frame for `vsn`; a binary payload goes in its
    /// JSON form. None when it has none.
    pub fn text(&self, vsn: Vsn) -> Option<String> {
        let join_ref = self.join_ref.as_deref();
        let msg_ref = self.msg_ref.as_deref();
        let json = self.payload.json_text()?;
        Some(match &self.kind {
            OutKind::Push { event } => {
                phoenix::encode_text(vsn, join_ref, msg_ref, &self.topic, event, &json)
            }
            OutKind::Reply { status } => phoenix::encode_text(
                vsn,
                join_ref,
                msg_ref,
                &self.topic,
                "phx_reply",
                &phoenix::reply_payload_json(status, &json),
            ),
        })
    }
}

/// Everything a connection task can be asked to do by the rest of the server.
#[derive(Debug)]
pub enum Outbound {
    /// A reply or push addressed to this socket alone. Boxed: every queue allocates its
    /// slots up front, so the enum's size is paid per idle socket.
    Message(Box<OutMessage>),
    /// A broadcast shared by every subscriber of its topic; encoded once per serializer.
    Broadcast(Arc<Broadcast>),
    /// Bytes already framed for the wire: the rest of a short direct write, or a frame
    /// the WebSocket reader answers with (a pong).
    Wire(Bytes),
    /// The join with `join_ref` was refused: forget the channel (its error reply went first).
    JoinRefused { topic: Arc<str>, join_ref: Arc<str> },
    /// The process owning `topic` crashed: send `phx_error` so the client rejoins.
    ChannelCrashed { topic: Arc<str> },
    /// The channel was closed by the server (the operator closed its room): send
    /// `phx_close` for `join_ref`, so the client does not rejoin, and forget it.
    ChannelClosed { topic: Arc<str>, join_ref: Arc<str> },
    /// The socket has drained while `topic` lags: ask the topic's actor for a fresh
    /// snapshot. Made by [`Inbox::idle`], never sent by a producer; nothing is written.
    Resync { topic: Arc<str> },
}

impl Outbound {
    /// Bytes this item holds while queued (payloads and frames; a few words of
    /// bookkeeping each), for the bound on what cannot be discarded.
    fn queued_bytes(&self) -> usize {
        const ITEM: usize = 64;
        ITEM + match self {
            Outbound::Message(message) => message.payload.len() + message.topic.len(),
            Outbound::Broadcast(broadcast) => broadcast.payload.len(),
            Outbound::Wire(bytes) => bytes.len(),
            Outbound::JoinRefused { topic, .. }
            | Outbound::ChannelCrashed { topic }
            | Outbound::ChannelClosed { topic, .. }
            | Outbound::Resync { topic } => topic.len(),
        }
    }

    /// A state broadcast a resync can replace (see the module docs).
    fn replaceable(&self) -> bool {
        matches!(self, Outbound::Broadcast(b) if b.replaceable())
    }
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
    /// The stream broadcasts are written to directly, and the serializer they are
    /// encoded for. None: everything is queued (unit tests).
    direct: Option<Direct>,
    /// Set for a member on another node: items are handed to this instead of queued.
    forward: Option<Forward>,
}

/// Where a forwarding outbox hands its items (see [`forwarding_outbox`]). Returns
/// whether the item was taken.
pub type ForwardFn = dyn Fn(Outbound) -> bool + Send + Sync;

struct Forward(Box<ForwardFn>);

impl std::fmt::Debug for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Forward")
    }
}

#[derive(Debug)]
struct Direct {
    stream: Arc<TcpStream>,
    vsn: Vsn,
}

#[derive(Debug, Default)]
struct QueueState {
    items: VecDeque<Outbound>,
    /// The connection task took an item and may be writing: producers must queue.
    writing: bool,
    /// The connection task is gone: nothing more is accepted.
    closed: bool,
    /// Since when the socket has had frames waiting without once catching up: the
    /// client's lag, as far as the server can see it (the kernel's part is capped by
    /// `TCP_NOTSENT_LOWAT`).
    backlog_since: Option<Instant>,
    /// Bytes of queued items that a resync cannot replace (see [`MAX_KEPT_BYTES`]).
    kept_bytes: usize,
    /// Topics whose state broadcasts are not queued until a reset message arrives.
    /// Usually empty; at most one entry per joined channel.
    lagging: Vec<Lag>,
}

/// A topic a socket fell behind on.
#[derive(Debug)]
struct Lag {
    topic: Arc<str>,
    /// The actor was asked for a fresh snapshot ([`Outbound::Resync`] handed out).
    requested: bool,
}

impl QueueState {
    fn lagging(&self, topic: &str) -> bool {
        self.lagging.iter().any(|lag| &*lag.topic == topic)
    }

    /// Takes the queue's next item, keeping the byte count.
    fn pop(&mut self) -> Option<Outbound> {
        let item = self.items.pop_front()?;
        if !item.replaceable() {
            self.kept_bytes -= item.queued_bytes();
        }
        Some(item)
    }

    /// Marks `topic` lagging and discards its state broadcasts still queued; returns
    /// how many were discarded.
    fn start_lag(&mut self, topic: &Arc<str>) -> usize {
        let before = self.items.len();
        self.items.retain(|item| match item {
            Outbound::Broadcast(b) => !(b.replaceable() && b.topic == *topic),
            _ => true,
        });
        self.lagging.push(Lag {
            topic: topic.clone(),
            requested: false,
        });
        before - self.items.len()
    }
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

/// Makes a socket's queue holding at most `capacity` items, with no direct writes.
pub fn outbox(capacity: usize) -> (Outbox, Inbox) {
    new_queue(capacity, None)
}

/// Makes the queue of a connected socket: broadcasts are written straight to `stream`,
/// encoded for `vsn`, whenever nothing is queued before them.
pub fn direct_outbox(capacity: usize, stream: Arc<TcpStream>, vsn: Vsn) -> (Outbox, Inbox) {
    new_queue(capacity, Some(Direct { stream, vsn }))
}

/// An outbox with no socket behind it: every item is handed to `forward` at once, in
/// the order it was sent (a member of a room whose socket is on another node). Closed
/// by [`Outbox::close`].
pub fn forwarding_outbox(forward: Box<ForwardFn>) -> Outbox {
    let queue = Arc::new(Queue {
        state: Mutex::new(QueueState::default()),
        ready: Notify::new(),
        overflow: Notify::new(),
        capacity: 0,
        direct: None,
        forward: Some(Forward(forward)),
    });
    Outbox { queue }
}

fn new_queue(capacity: usize, direct: Option<Direct>) -> (Outbox, Inbox) {
    let queue = Arc::new(Queue {
        state: Mutex::new(QueueState::default()),
        ready: Notify::new(),
        overflow: Notify::new(),
        capacity,
        direct,
        forward: None,
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
        // Every critical section is a push, a pop or a non-blocking write: a panic cannot
        // leave it half done.
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
            if self.idle() {
                // A push between the check above and this wait leaves a permit: not lost.
                self.queue.ready.notified().await;
            }
        }
    }

    /// The next queued item, if any. Taking one makes this task the stream's writer
    /// until [`Inbox::idle`] finds the queue empty.
    pub fn try_recv(&self) -> Option<Outbound> {
        let mut state = self.queue.lock();
        let item = state.pop()?;
        state.writing = true;
        // A drained queue gives back what a burst grew it to, keeping one slot.
        if state.items.is_empty() && state.items.capacity() > 1 {
            state.items = VecDeque::new();
        }
        Some(item)
    }

    /// Called when everything taken so far is written: if nothing more is queued, hands
    /// the stream back to direct writers and returns true. A socket that drained while
    /// a topic lags is not idle yet: the topic's [`Outbound::Resync`] is queued for the
    /// caller to take.
    pub fn idle(&self) -> bool {
        let mut state = self.queue.lock();
        if !state.items.is_empty() {
            return false;
        }
        if let Some(lag) = state.lagging.iter_mut().find(|lag| !lag.requested) {
            lag.requested = true;
            let resync = Outbound::Resync {
                topic: lag.topic.clone(),
            };
            state.kept_bytes += resync.queued_bytes();
            state.items.push_back(resync);
            return false;
        }
        state.writing = false;
        state.backlog_since = None;
        true
    }

    /// Completes when what cannot be discarded passed its bound (the client is too
    /// slow, and the socket must close).
    pub async fn overflowed(&self) {
        self.queue.overflow.notified().await;
    }

    /// Accepts nothing more and returns the bytes that must still go out before a
    /// close frame: the rest of a short direct write, or a pong, keeps the stream whole.
    pub fn close(&self) -> Vec<Bytes> {
        let mut state = self.queue.lock();
        state.closed = true;
        state.writing = true;
        std::mem::take(&mut state.items)
            .into_iter()
            .filter_map(|item| match item {
                Outbound::Wire(bytes) => Some(bytes),
                _ => None,
            })
            .collect()
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
        let state = self.queue.lock();
        if state.closed {
            return false;
        }
        if let Some(forward) = &self.queue.forward {
            // Under the lock, so items leave in the order they were sent.
            return (forward.0)(item);
        }
        self.enqueue(state, item)
    }

    /// Ends a lag on `topic` without a snapshot (the socket no longer has the
    /// channel, or its actor has nothing to resync).
    pub fn end_lag(&self, topic: &str) {
        self.queue.lock().lagging.retain(|lag| &*lag.topic != topic);
    }

    /// Accepts nothing more (for a forwarding outbox whose member left).
    pub fn close(&self) {
        self.queue.lock().closed = true;
    }

    /// Appends to a queue that is open; wakes the connection task. A state broadcast
    /// for a lagging topic, or one that finds the socket too far behind, is skipped
    /// (true: taken care of); an item that would put what cannot be discarded past
    /// its bound closes the socket (false).
    fn enqueue(&self, mut state: std::sync::MutexGuard<'_, QueueState>, item: Outbound) -> bool {
        let now = Instant::now();
        let since = *state.backlog_since.get_or_insert(now);
        if let Outbound::Broadcast(broadcast) = &item
            && broadcast.replaceable()
        {
            if state.lagging(&broadcast.topic) {
                drop(state);
                metrics::hot().frames_skipped.increment(1);
                return true;
            }
            let behind = state.items.len() >= self.queue.capacity
                || now.duration_since(since) > RESYNC_BACKLOG;
            if behind {
                let discarded = state.start_lag(&broadcast.topic);
                drop(state);
                metrics::hot()
                    .frames_skipped
                    .increment(1 + discarded as u64);
                return true;
            }
        } else {
            if let Outbound::Message(message) = &item
                && message.resets
            {
                // Everything after this message builds on it: the topic's state
                // broadcasts may queue again.
                state.lagging.retain(|lag| lag.topic != message.topic);
            }
            let bytes = item.queued_bytes();
            if state.kept_bytes + bytes > MAX_KEPT_BYTES {
                drop(state);
                self.queue.overflow.notify_one();
                return false;
            }
            state.kept_bytes += bytes;
        }
        if state.items.capacity() == 0 {
            state.items.reserve_exact(1);
        }
        state.items.push_back(item);
        drop(state);
        self.queue.ready.notify_one();
        true
    }

    /// Delivers a broadcast: written straight to the stream when nothing is queued or
    /// being written, queued otherwise (see the module docs). Returns false when the
    /// socket is gone or too slow.
    pub fn broadcast(&self, broadcast: &Arc<Broadcast>) -> bool {
        let state = self.queue.lock();
        if state.closed {
            return false;
        }
        if let Some(forward) = &self.queue.forward {
            return (forward.0)(Outbound::Broadcast(broadcast.clone()));
        }
        if broadcast.replaceable() && state.lagging(&broadcast.topic) {
            // Not even written directly: the snapshot on its way replaces it.
            drop(state);
            metrics::hot().frames_skipped.increment(1);
            return true;
        }
        let Some(direct) = &self.queue.direct else {
            return self.enqueue(state, Outbound::Broadcast(broadcast.clone()));
        };
        if state.writing || !state.items.is_empty() {
            return self.enqueue(state, Outbound::Broadcast(broadcast.clone()));
        }
        let Some(bytes) = broadcast.wire(direct.vsn) else {
            // Nothing this socket's serializer can carry (binary to V1).
            return true;
        };
        let hot = metrics::hot();
        hot.frames_out.increment(1);
        hot.bytes_out.increment(bytes.len() as u64);
        match direct.stream.try_write(bytes) {
            Ok(written) if written == bytes.len() => true,
            // Half a frame is on the wire: the rest must follow, whatever it is.
            Ok(written) if written > 0 => {
                self.enqueue(state, Outbound::Wire(bytes.slice(written..)))
            }
            // Refused (WouldBlock: the kernel's buffer is full) or failed: nothing went
            // out, so the broadcast queues whole, still replaceable; the connection task
            // retries, and meets the error itself if there is one.
            _ => self.enqueue(state, Outbound::Broadcast(broadcast.clone())),
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
            resets: false,
        })))
    }

    /// Queues a push of `event` on a channel to this client only. `resets`: it
    /// replaces the topic's state (see [`OutMessage::resets`]).
    pub fn push(
        &self,
        topic: &Arc<str>,
        join_ref: &Arc<str>,
        event: impl Into<Cow<'static, str>>,
        payload: Payload,
        resets: bool,
    ) -> bool {
        self.send(Outbound::Message(Box::new(OutMessage {
            join_ref: Some(join_ref.clone()),
            msg_ref: None,
            topic: topic.clone(),
            kind: OutKind::Push {
                event: event.into(),
            },
            payload,
            resets,
        })))
    }

    /// True once the connection task has ended.
    pub fn is_closed(&self) -> bool {
        self.queue.lock().closed
    }

    /// Whether this outbox stands for a member on another node (see
    /// [`forwarding_outbox`]).
    pub fn forwards(&self) -> bool {
        self.queue.forward.is_some()
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

    /// Replies `{"status":"error","response":{"reason", …}}`.
    pub fn reply_error(&self, msg_ref: &Arc<str>, error: ChannelError) -> bool {
        self.reply(msg_ref, "error", Payload::json(&error.response()))
    }

    /// Pushes `event` on this channel to this client only.
    pub fn push(&self, event: impl Into<Cow<'static, str>>, payload: Payload) -> bool {
        self.socket
            .outbox
            .push(&self.topic, &self.join_ref, event, payload, false)
    }

    /// Pushes `event`, which replaces the topic's state (a snapshot, a
    /// `presence_state`, a room list): a lag on the topic ends with it.
    pub fn push_reset(&self, event: impl Into<Cow<'static, str>>, payload: Payload) -> bool {
        self.socket
            .outbox
            .push(&self.topic, &self.join_ref, event, payload, true)
    }

    /// Answers a join with an error and tells the socket to forget the channel.
    pub fn refuse_join(&self, msg_ref: &Arc<str>, error: ChannelError) {
        self.reply_error(msg_ref, error);
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

#[cfg(test)]
mod direct_write_tests {
    use std::io::Read;

    use super::*;
    use crate::outbound::io;

    /// A connected loopback pair: the server's tokio stream and the client's std one.
    async fn pair() -> (Arc<TcpStream>, std::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (Arc::new(server), client)
    }

    /// A binary broadcast whose payload is `seq` repeated `len` times.
    fn numbered(seq: u8, len: usize) -> Arc<Broadcast> {
        Arc::new(Broadcast::new(
            Arc::from("room:t"),
            "tick",
            Payload::Binary(Bytes::from(vec![seq; len])),
        ))
    }

    /// Reads exactly `total` bytes from the client side.
    fn read_exactly(client: &mut std::net::TcpStream, total: usize) -> Vec<u8> {
        let mut out = vec![0; total];
        client.read_exact(&mut out).unwrap();
        out
    }

    /// Does what the connection task does: write everything queued, in order.
    async fn drain(inbox: &Inbox, stream: &TcpStream) {
        loop {
            let mut frames = Vec::new();
            while let Some(item) = inbox.try_recv() {
                frames.push(match item {
                    Outbound::Wire(bytes) => bytes,
                    Outbound::Broadcast(b) => b.wire(Vsn::V2).unwrap().clone(),
                    other => panic!("unexpected {other:?}"),
                });
            }
            io::write_all(stream, &mut frames, crate::config::NO_PROGRESS_TIMEOUT)
                .await
                .unwrap();
            if inbox.idle() {
                return;
            }
        }
    }

    #[tokio::test]
    async fn a_broadcast_to_an_idle_socket_is_written_without_queueing() {
        let (stream, mut client) = pair().await;
        let (tx, rx) = direct_outbox(8, stream, Vsn::V2);
        let b = numbered(1, 100);
        assert!(tx.broadcast(&b));
        assert!(rx.try_recv().is_none(), "nothing queued, nobody woken");
        let expected = b.wire(Vsn::V2).unwrap();
        assert_eq!(read_exactly(&mut client, expected.len()), expected.to_vec());
    }

    #[tokio::test]
    async fn a_queued_reply_is_never_overtaken_by_a_broadcast() {
        let (stream, _client) = pair().await;
        let (tx, rx) = direct_outbox(8, stream, Vsn::V2);
        assert!(tx.send(Outbound::Wire(Bytes::from_static(b"reply"))));
        assert!(tx.broadcast(&numbered(2, 10)));
        assert!(
            matches!(rx.try_recv(), Some(Outbound::Wire(_))),
            "reply first"
        );
        assert!(
            matches!(rx.try_recv(), Some(Outbound::Broadcast(_))),
            "the broadcast queued behind it"
        );
        // The task took items and has not said it is done: producers still queue.
        assert!(tx.broadcast(&numbered(3, 10)));
        assert!(matches!(rx.try_recv(), Some(Outbound::Broadcast(_))));
        assert!(rx.idle(), "drained");
        assert!(tx.broadcast(&numbered(4, 10)));
        assert!(
            rx.try_recv().is_none(),
            "once idle, broadcasts go direct again"
        );
    }

    #[tokio::test]
    async fn a_short_write_queues_the_rest_and_order_is_kept() {
        let (stream, mut client) = pair().await;
        socket2::SockRef::from(&*stream)
            .set_send_buffer_size(4096)
            .unwrap();
        let (tx, rx) = direct_outbox(10_000, stream.clone(), Vsn::V2);
        // The client reads nothing until the kernel refuses: some write comes up short.
        let mut sent = Vec::new();
        let mut seq = 0u8;
        while rx.queue.lock().items.is_empty() {
            let b = numbered(seq, 1000);
            assert!(tx.broadcast(&b));
            sent.push(b);
            seq = seq.wrapping_add(1);
            assert!(sent.len() < 100_000, "the kernel never pushed back");
        }
        // Later broadcasts queue behind the remainder.
        for _ in 0..5 {
            let b = numbered(seq, 1000);
            assert!(tx.broadcast(&b));
            sent.push(b);
            seq = seq.wrapping_add(1);
        }
        let expected: Vec<u8> = sent
            .iter()
            .flat_map(|b| b.wire(Vsn::V2).unwrap().to_vec())
            .collect();
        let reader = std::thread::spawn(move || read_exactly(&mut client, expected.len()));
        drain(&rx, &stream).await;
        let received = reader.join().unwrap();
        let expected: Vec<u8> = sent
            .iter()
            .flat_map(|b| b.wire(Vsn::V2).unwrap().to_vec())
            .collect();
        assert!(received == expected, "every frame whole and in order");
    }

    /// A state broadcast (a room tick) numbered `seq`, and an event on the same topic.
    fn tick(seq: u8) -> Arc<Broadcast> {
        Arc::new(Broadcast::new(
            Arc::from("room:t"),
            "tick",
            Payload::Binary(Bytes::from(vec![seq; 10])),
        ))
    }

    fn event() -> Arc<Broadcast> {
        Arc::new(Broadcast::new(
            Arc::from("room:t"),
            "round_end",
            Payload::empty(),
        ))
    }

    /// What is queued, as short names: `tick`, `round_end`, `wire`, `resync`, `push`.
    fn queued(rx: &Inbox) -> Vec<String> {
        let mut names = Vec::new();
        while let Some(item) = rx.try_recv() {
            names.push(match item {
                Outbound::Broadcast(b) => b.event.to_string(),
                Outbound::Wire(_) => "wire".into(),
                Outbound::Resync { .. } => "resync".into(),
                Outbound::Message(m) => match m.kind {
                    OutKind::Push { event } => event.to_string(),
                    OutKind::Reply { .. } => "reply".into(),
                },
                other => format!("{other:?}"),
            });
        }
        names
    }

    fn snapshot_push(tx: &Outbox) -> bool {
        tx.push(
            &Arc::from("room:t"),
            &Arc::from("1"),
            "snapshot",
            Payload::Binary(Bytes::from_static(b"s")),
            true,
        )
    }

    #[tokio::test]
    async fn a_full_queue_skips_state_keeps_events_and_resyncs_once_drained() {
        let (stream, _client) = pair().await;
        let (tx, rx) = direct_outbox(3, stream, Vsn::V2);
        assert!(tx.send(Outbound::Wire(Bytes::from_static(b"a"))));
        assert!(tx.broadcast(&tick(1)));
        assert!(tx.broadcast(&event()));
        // The queue is full: the topic lags; its queued tick is discarded.
        assert!(tx.broadcast(&tick(2)), "a lagging member is not refused");
        assert!(tx.broadcast(&tick(3)));
        assert!(tx.broadcast(&event()), "events still queue while lagging");
        assert_eq!(queued(&rx), ["wire", "round_end", "round_end"]);
        // Drained: the socket is handed a resync for the topic, once.
        assert!(!rx.idle(), "a lagging socket is not idle when it drains");
        assert_eq!(queued(&rx), ["resync"]);
        assert!(rx.idle(), "asked once; idle until the snapshot comes");
        assert!(
            tx.broadcast(&tick(4)),
            "still skipped while the snapshot is on its way"
        );
        assert_eq!(queued(&rx), Vec::<String>::new());
        // The snapshot ends the lag: ticks after it queue again.
        assert!(rx.idle());
        assert!(snapshot_push(&tx));
        assert!(tx.broadcast(&tick(5)));
        assert_eq!(queued(&rx), ["snapshot", "tick"]);
        assert!(rx.idle());
        tokio::time::timeout(std::time::Duration::from_millis(50), rx.overflowed())
            .await
            .expect_err("nobody is closed for falling behind");
    }

    #[tokio::test(start_paused = true)]
    async fn a_backlog_older_than_the_bound_resyncs_whatever_its_length() {
        let (stream, _client) = pair().await;
        let (tx, rx) = direct_outbox(1000, stream, Vsn::V2);
        assert!(tx.send(Outbound::Wire(Bytes::from_static(b"a"))));
        tokio::time::advance(crate::config::RESYNC_BACKLOG / 2).await;
        assert!(tx.broadcast(&tick(1)), "half the bound: still queued");
        tokio::time::advance(crate::config::RESYNC_BACKLOG).await;
        assert!(tx.broadcast(&tick(2)));
        assert_eq!(queued(&rx), ["wire"], "both ticks given up for a resync");
        assert!(!rx.idle());
        assert_eq!(queued(&rx), ["resync"]);
    }

    #[tokio::test]
    async fn a_lag_ends_without_a_snapshot_when_the_channel_is_gone() {
        let (stream, _client) = pair().await;
        let (tx, rx) = direct_outbox(1, stream, Vsn::V2);
        assert!(tx.send(Outbound::Wire(Bytes::from_static(b"a"))));
        assert!(tx.broadcast(&tick(1)));
        assert_eq!(queued(&rx), ["wire"]);
        tx.end_lag("room:t");
        assert!(rx.idle(), "no resync owed once the lag is ended");
    }

    #[tokio::test]
    async fn what_cannot_be_discarded_is_bounded_in_bytes() {
        let (stream, _client) = pair().await;
        let (tx, rx) = direct_outbox(4, stream, Vsn::V2);
        let big = Bytes::from(vec![0u8; crate::config::MAX_KEPT_BYTES / 4]);
        for _ in 0..3 {
            assert!(tx.send(Outbound::Wire(big.clone())), "under the bound");
        }
        assert!(
            !tx.send(Outbound::Wire(big.clone())),
            "the bound of kept bytes is passed"
        );
        tokio::time::timeout(std::time::Duration::from_secs(5), rx.overflowed())
            .await
            .expect("the connection task is told to give up");
        // What is taken out no longer counts.
        let mut taken = 0;
        while rx.try_recv().is_some() {
            taken += 1;
        }
        assert_eq!(taken, 3);
        assert!(tx.send(Outbound::Wire(big)), "room again once drained");
    }

    #[tokio::test]
    async fn chat_and_other_topics_never_lag() {
        let (tx, rx) = outbox(1);
        let chat = Arc::new(Broadcast::new(
            Arc::from("lobby:main"),
            "chat",
            Payload::empty(),
        ));
        assert!(tx.broadcast(&chat));
        assert!(tx.broadcast(&chat), "events queue past the item bound");
        assert_eq!(queued(&rx), ["chat", "chat"]);
        assert!(rx.idle());
    }
}
