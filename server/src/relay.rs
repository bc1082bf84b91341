//! Room members on another node than their room (CONTRACT §9).
//!
//! A room lives on one node. A client whose socket is on node B joins a room of node
//! A through its own socket: B's [`Relay`] sends the join, the client's events and its
//! leave to A (`kurve.v1.node.<A>.room`), and A's relay hands them to the room as if
//! the member were local, through a *proxy* member whose outbox forwards what the room
//! sends it. Broadcasts (ticks, presence diffs, events) are not forwarded per member:
//! they reach B once through the topic's subject ([`crate::cluster::bus`]). Replies
//! and pushes for one member (the join reply, the snapshot, input errors) travel as
//! directed messages on that same subject, so they stay in order with the ticks: B
//! subscribes the socket to the room's broadcasts right after passing on its join
//! reply, and the snapshot and every tick after it arrive in the order the room sent
//! them.
//!
//! When the room's node goes down, B's members of its rooms get `phx_error` (the
//! official client rejoins by itself); when B goes down, A's proxies of B's members
//! leave their rooms as dropped sockets do.
//!
//! A relayed join names its user, and the room's node believes it: so every request
//! here (joins, events, leaves, room creations) is opened with the cluster's seal
//! before it is read, and answers are sealed ([`Cluster::verify`],
//! [`Cluster::request`], [`Cluster::reply`]). A publisher without the cluster's
//! secret cannot join a room as anybody.
//!
//! Key press from a socket on B to a room on A and back: B's connection task decodes
//! `input` and spends the socket's input budget → [`RemoteRoom::event`] queues
//! `{op: event}` for NATS → A's relay task → the room's mailbox → the next tick is
//! broadcast on `room:<id>` → NATS `kurve.v1.t.room:<id>` → B's topic task → B's
//! pubsub → the socket (a direct write when its queue is empty).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use kurve_shared::phoenix::InPayload;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::actor::{ChannelActor, ChannelKind, Overloaded};
use crate::auth::User;
use crate::cluster::bus::{Directed, DirectedOp};
use crate::cluster::directory::ClaimError;
use crate::cluster::{Cluster, RequestError};
use crate::events::error::ChannelError;
use crate::events::{RoomEvent, RoomJoin};
use crate::outbound::{
    ChannelRef, OutKind, Outbound, Payload, SocketId, SocketRef, forwarding_outbox,
};
use crate::pubsub::PubSub;
use crate::room::{CreateError, RoomSpec, Rooms};

/// How long a join waits for this node's subscription to the room's subject, and then
/// for the room's node to accept it.
const JOIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The id under which this node holds a room's subject while members are joining.
const HOLDER: SocketId = SocketId::MAX;

/// How many times this node tries to adopt a room of a dead node that has no saved
/// state (its state may still be on its way) before it gives up on it. The sweep runs
/// every second, so this is ten seconds: well past a saved state's write, short enough
/// that an entry nobody can adopt stops costing a claim a second.
const ADOPT_TRIES_WITHOUT_STATE: u32 = 10;

/// Ids of proxy members: far above any socket id this node gives out.
static NEXT_PROXY: AtomicU64 = AtomicU64::new(1 << 62);

/// The subject where node `node` takes room joins, events and leaves.
fn node_subject(node: &str) -> String {
    format!("kurve.v1.node.{node}.room")
}

/// What a node sends to a room's node about one member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RelayIn {
    /// The node of the member's socket.
    node: String,
    socket: SocketId,
    room: Arc<str>,
    join_ref: Arc<str>,
    #[serde(flatten)]
    op: RelayOp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum RelayOp {
    Join {
        msg_ref: Arc<str>,
        user: User,
        params: RoomJoin,
    },
    Event {
        msg_ref: Arc<str>,
        event: RoomEvent,
    },
    Leave {
        explicit: bool,
    },
    /// The member's socket fell behind and drained: the room sends it a fresh snapshot.
    Resync,
}

/// The room's node's answer to a join (the join reply itself follows on the topic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum JoinAnswer {
    Accepted,
    NotFound,
    WrongPassword,
    Overloaded,
}

impl JoinAnswer {
    fn error(self) -> Option<ChannelError> {
        match self {
            JoinAnswer::Accepted => None,
            JoinAnswer::NotFound => Some(ChannelError::NotFound),
            JoinAnswer::WrongPassword => Some(ChannelError::WrongPassword),
            JoinAnswer::Overloaded => Some(ChannelError::Overloaded),
        }
    }
}

/// A member on this node of a room on another.
struct Member {
    chan: ChannelRef,
    owner: String,
    join_msg_ref: Arc<str>,
    /// Subscribed to the room's broadcasts (after its join reply).
    subscribed: bool,
}

/// A member on another node of a room on this one, by (its node, its socket there, the room).
type ProxyKey = (String, SocketId, Arc<str>);

/// A member on another node of a room on this one.
struct Proxy {
    chan: ChannelRef,
}

/// Both sides of the relay on this node. Cheap to clone.
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Relay")
    }
}

struct Inner {
    cluster: Cluster,
    pubsub: PubSub,
    rooms: Rooms,
    /// This node's members of other nodes' rooms, by (socket, room).
    members: Mutex<HashMap<(SocketId, Arc<str>), Member>>,
    /// Joins under way per room topic (the topic's subject is held meanwhile).
    holds: Mutex<HashMap<Arc<str>, usize>>,
    /// Other nodes' members of this node's rooms, by (node, socket, room).
    proxies: Mutex<HashMap<ProxyKey, Proxy>>,
    /// Rooms of dead nodes this node is taking over now.
    adopting: Mutex<std::collections::HashSet<String>>,
    /// Rooms of dead nodes found without a saved state, and how often: past
    /// [`ADOPT_TRIES_WITHOUT_STATE`] they are not tried again.
    stateless: Mutex<HashMap<String, u32>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn topic_of(room: &str) -> Arc<str> {
    Arc::from(format!("room:{room}"))
}

impl Relay {
    pub fn new(cluster: Cluster, pubsub: PubSub, rooms: Rooms) -> Relay {
        let relay = Relay {
            inner: Arc::new(Inner {
                cluster,
                pubsub,
                rooms,
                members: Mutex::default(),
                holds: Mutex::default(),
                proxies: Mutex::default(),
                adopting: Mutex::default(),
                stateless: Mutex::default(),
            }),
        };
        let sink = relay.clone();
        relay
            .inner
            .cluster
            .bus()
            .set_direct_sink(Arc::new(move |topic, directed, payload| {
                sink.on_directed(topic, directed, payload);
            }));
        relay
    }

    /// The room `id` of node `owner`, as a channel target.
    pub fn room(&self, id: &Arc<str>, owner: String) -> RemoteRoom {
        RemoteRoom {
            id: id.clone(),
            owner,
            relay: self.clone(),
        }
    }

    fn node(&self) -> &str {
        self.inner.cluster.node_id()
    }

    // ---- the member's side ----

    fn hold(&self, topic: &Arc<str>) {
        let mut holds = lock(&self.inner.holds);
        let count = holds.entry(topic.clone()).or_default();
        *count += 1;
        if *count == 1 {
            let discard = forwarding_outbox(Box::new(|_| true));
            self.inner.pubsub.subscribe(topic, HOLDER, discard);
        }
    }

    fn release(&self, topic: &Arc<str>) {
        let mut holds = lock(&self.inner.holds);
        let Some(count) = holds.get_mut(topic) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            holds.remove(topic);
            self.inner.pubsub.unsubscribe(topic, HOLDER);
        }
    }

    /// Forgets a member: no more broadcasts, its hold released.
    fn drop_member(&self, socket: SocketId, room: &Arc<str>) -> Option<Member> {
        let member = lock(&self.inner.members).remove(&(socket, room.clone()))?;
        let topic = topic_of(room);
        self.inner.pubsub.unsubscribe(&topic, socket);
        self.release(&topic);
        Some(member)
    }

    async fn join(
        &self,
        room: Arc<str>,
        owner: String,
        chan: ChannelRef,
        msg_ref: Arc<str>,
        params: RoomJoin,
    ) {
        let topic = topic_of(&room);
        let socket = chan.socket.id;
        // A rejoin on the same socket replaces the old membership.
        self.drop_member(socket, &room);
        self.hold(&topic);
        let join_ref = chan.join_ref.clone();
        let user = (*chan.socket.user).clone();
        lock(&self.inner.members).insert(
            (socket, room.clone()),
            Member {
                chan: chan.clone(),
                owner: owner.clone(),
                join_msg_ref: msg_ref.clone(),
                subscribed: false,
            },
        );
        let answer = self
            .ask_join(
                &room,
                &owner,
                &topic,
                socket,
                join_ref,
                msg_ref.clone(),
                user,
                params,
            )
            .await;
        // Accepted: the join reply comes on the topic. The hold keeps this node
        // subscribed to it until the member leaves (released by `drop_member`).
        if let Some(error) = answer.error()
            && self.drop_member(socket, &room).is_some()
        {
            chan.refuse_join(&msg_ref, error);
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn ask_join(
        &self,
        room: &Arc<str>,
        owner: &str,
        topic: &Arc<str>,
        socket: SocketId,
        join_ref: Arc<str>,
        msg_ref: Arc<str>,
        user: User,
        params: RoomJoin,
    ) -> JoinAnswer {
        let bus = self.inner.cluster.bus();
        if !bus.wait_subscribed(topic, JOIN_TIMEOUT).await {
            return JoinAnswer::Overloaded;
        }
        let request = RelayIn {
            node: self.node().to_owned(),
            socket,
            room: room.clone(),
            join_ref,
            op: RelayOp::Join {
                msg_ref,
                user,
                params,
            },
        };
        let Ok(payload) = serde_json::to_vec(&request) else {
            return JoinAnswer::Overloaded;
        };
        let asked = self
            .inner
            .cluster
            .request(node_subject(owner), payload.into(), JOIN_TIMEOUT)
            .await;
        match asked {
            Ok(reply) => serde_json::from_slice(&reply).unwrap_or(JoinAnswer::Overloaded),
            // No responders: the node is gone; the room with it.
            Err(RequestError::NoResponders) => JoinAnswer::NotFound,
            Err(_) => JoinAnswer::Overloaded,
        }
    }

    fn send(&self, owner: &str, message: &RelayIn) -> bool {
        self.inner
            .cluster
            .publish_json(&node_subject(owner), message)
    }

    /// A directed message from a room's node for a member here.
    fn on_directed(&self, topic: &Arc<str>, directed: Directed, payload: Payload) {
        let Some(room) = topic.strip_prefix("room:").map(Arc::<str>::from) else {
            return;
        };
        let key = (directed.socket, room.clone());
        let mut members = lock(&self.inner.members);
        let Some(member) = members.get_mut(&key) else {
            return;
        };
        if member.chan.join_ref != directed.join_ref {
            return;
        }
        let chan = member.chan.clone();
        match directed.op {
            DirectedOp::Reply { msg_ref, status } => {
                let ok = status == "ok";
                let joined = ok && msg_ref == member.join_msg_ref && !member.subscribed;
                if joined {
                    member.subscribed = true;
                }
                drop(members);
                chan.reply(&msg_ref, if ok { "ok" } else { "error" }, payload);
                if joined {
                    // Between the join reply and the snapshot and ticks that follow it.
                    self.inner
                        .pubsub
                        .subscribe(topic, chan.socket.id, chan.socket.outbox.clone());
                }
            }
            DirectedOp::Push { event, resets } => {
                drop(members);
                if resets {
                    chan.push_reset(event, payload);
                } else {
                    chan.push(event, payload);
                }
            }
            DirectedOp::Refused | DirectedOp::Crashed | DirectedOp::Closed => {
                drop(members);
                self.drop_member(directed.socket, &room);
                let topic = topic.clone();
                let join_ref = chan.join_ref.clone();
                chan.socket.outbox.send(match directed.op {
                    DirectedOp::Refused => Outbound::JoinRefused { topic, join_ref },
                    DirectedOp::Closed => Outbound::ChannelClosed { topic, join_ref },
                    _ => Outbound::ChannelCrashed { topic },
                });
            }
        }
    }

    // ---- the room's side ----

    /// Serves other nodes' members of this node's rooms, and watches for nodes that go
    /// down, until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let client = loop {
            if let Some(client) = self.inner.cluster.client() {
                break client;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        };
        let mut requests = match client.subscribe(node_subject(self.node())).await {
            Ok(subscriber) => subscriber,
            Err(error) => {
                tracing::error!(%error, "relay: cannot subscribe");
                return;
            }
        };
        let mut creates = match client
            .subscribe(crate::cluster::create_subject(self.node()))
            .await
        {
            Ok(subscriber) => subscriber,
            Err(error) => {
                tracing::error!(%error, "relay: cannot subscribe");
                return;
            }
        };
        let mut sweep = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = sweep.tick() => self.sweep(),
                message = creates.next() => {
                    let Some(message) = message else { break };
                    if !self.inner.cluster.verify("create", &message) {
                        continue;
                    }
                    // A room placed on this node by another node's lobby.
                    let created = serde_json::from_slice::<RoomSpec>(&message.payload)
                        .map_err(|_| CreateError::Unavailable)
                        .and_then(|spec| self.inner.rooms.create(spec))
                        .map(|id| id.to_string());
                    if let (Some(reply), Ok(payload)) = (message.reply, serde_json::to_vec(&created)) {
                        self.inner.cluster.reply(&client, reply.to_string(), payload.into()).await;
                    }
                }
                message = requests.next() => {
                    let Some(message) = message else { break };
                    if !self.inner.cluster.verify("relay", &message) {
                        continue;
                    }
                    let Ok(request) = serde_json::from_slice::<RelayIn>(&message.payload) else {
                        tracing::debug!("relay: an undecodable request was ignored");
                        continue;
                    };
                    let answer = self.serve(request);
                    if let (Some(reply), Some(answer)) = (message.reply, answer)
                        && let Ok(payload) = serde_json::to_vec(&answer)
                    {
                        self.inner.cluster.reply(&client, reply.to_string(), payload.into()).await;
                    }
                }
            }
        }
    }

    /// Hands one member's join, event or leave to its room; a join is answered.
    fn serve(&self, request: RelayIn) -> Option<JoinAnswer> {
        let RelayIn {
            node,
            socket,
            room,
            join_ref,
            op,
        } = request;
        let key = (node.clone(), socket, room.clone());
        match op {
            RelayOp::Join {
                msg_ref,
                user,
                params,
            } => {
                let Some(handle) = self.inner.rooms.get(&room) else {
                    return Some(JoinAnswer::NotFound);
                };
                if !self
                    .inner
                    .rooms
                    .password_ok(&room, params.password.as_deref())
                {
                    return Some(JoinAnswer::WrongPassword);
                }
                if let Some(old) = lock(&self.inner.proxies).remove(&key) {
                    handle.leave(old.chan.socket.id, false);
                    old.chan.socket.outbox.close();
                }
                let topic = topic_of(&room);
                let chan = ChannelRef {
                    socket: SocketRef {
                        id: NEXT_PROXY.fetch_add(1, Ordering::Relaxed),
                        user: Arc::new(user),
                        outbox: self.proxy_outbox(&topic, node, socket, join_ref.clone()),
                    },
                    topic,
                    join_ref,
                };
                if handle.join(chan.clone(), msg_ref, params).is_err() {
                    return Some(JoinAnswer::Overloaded);
                }
                metrics::counter!(crate::metrics::CLUSTER_RELAY_JOINS).increment(1);
                lock(&self.inner.proxies).insert(key, Proxy { chan });
                Some(JoinAnswer::Accepted)
            }
            RelayOp::Event { msg_ref, event } => {
                let chan = lock(&self.inner.proxies)
                    .get(&key)
                    .map(|p| p.chan.clone())?;
                if chan.join_ref != join_ref {
                    return None;
                }
                match self.inner.rooms.get(&room) {
                    Some(handle) => {
                        if handle.event(chan.clone(), msg_ref.clone(), event).is_err() {
                            chan.reply_error(&msg_ref, ChannelError::Overloaded);
                        }
                    }
                    None => {
                        chan.socket.outbox.send(Outbound::ChannelCrashed {
                            topic: chan.topic.clone(),
                        });
                    }
                }
                None
            }
            RelayOp::Resync => {
                let chan = lock(&self.inner.proxies)
                    .get(&key)
                    .map(|p| p.chan.clone())?;
                if chan.join_ref == join_ref
                    && let Some(handle) = self.inner.rooms.get(&room)
                {
                    handle.resync(chan);
                }
                None
            }
            RelayOp::Leave { explicit } => {
                let proxy = lock(&self.inner.proxies).remove(&key)?;
                if let Some(handle) = self.inner.rooms.get(&room) {
                    handle.leave(proxy.chan.socket.id, explicit);
                }
                proxy.chan.socket.outbox.close();
                None
            }
        }
    }

    /// The outbox of a proxy member: replies and pushes go to the member's node as
    /// directed messages; broadcasts are skipped (that node has them already).
    fn proxy_outbox(
        &self,
        topic: &Arc<str>,
        node: String,
        socket: SocketId,
        join_ref: Arc<str>,
    ) -> crate::outbound::Outbox {
        let bus = self.inner.cluster.bus();
        let topic = topic.clone();
        forwarding_outbox(Box::new(move |item| {
            let (op, payload) = match item {
                // Broadcasts are the member's node's own; a resync is that node's to ask.
                Outbound::Broadcast(_) | Outbound::Wire(_) | Outbound::Resync { .. } => {
                    return true;
                }
                Outbound::Message(message) => {
                    let op = match (&message.kind, &message.msg_ref) {
                        (OutKind::Reply { status }, Some(msg_ref)) => DirectedOp::Reply {
                            msg_ref: msg_ref.clone(),
                            status: (*status).to_owned(),
                        },
                        (OutKind::Reply { .. }, None) => return true,
                        (OutKind::Push { event }, _) => DirectedOp::Push {
                            event: event.to_string(),
                            resets: message.resets,
                        },
                    };
                    (op, message.payload)
                }
                Outbound::JoinRefused { .. } => (DirectedOp::Refused, Payload::empty()),
                Outbound::ChannelCrashed { .. } => (DirectedOp::Crashed, Payload::empty()),
                Outbound::ChannelClosed { .. } => (DirectedOp::Closed, Payload::empty()),
            };
            let directed = Directed {
                to: node.clone(),
                socket,
                join_ref: join_ref.clone(),
                op,
            };
            bus.publish_directed(&topic, &directed, &payload)
        }))
    }

    /// Rooms of nodes that went down are adopted: every node picks the same adopter
    /// (the live node with the fewest rooms, then the lowest id), and only one claim
    /// of the directory entry can succeed.
    fn adopt_orphans(&self) {
        let cluster = &self.inner.cluster;
        let orphans = cluster.directory().orphans(&|node| cluster.is_live(node));
        // Forget the rooms that are no longer orphans (gone, or adopted elsewhere).
        lock(&self.inner.stateless).retain(|id, _| orphans.iter().any(|o| o.summary.id == *id));
        if orphans.is_empty() {
            return;
        }
        let adopter = cluster
            .nodes()
            .into_iter()
            .min_by(|a, b| (a.rooms, &a.id).cmp(&(b.rooms, &b.id)));
        if adopter.is_none_or(|n| n.id != self.node()) {
            return;
        }
        for orphan in orphans {
            let id = orphan.summary.id;
            if lock(&self.inner.stateless)
                .get(&id)
                .is_some_and(|tries| *tries >= ADOPT_TRIES_WITHOUT_STATE)
            {
                continue;
            }
            if !lock(&self.inner.adopting).insert(id.clone()) {
                continue;
            }
            let relay = self.clone();
            tokio::spawn(async move {
                let cluster = &relay.inner.cluster;
                let claimed = cluster
                    .directory()
                    .claim(&id, &|node| !cluster.is_live(node))
                    .await;
                match claimed {
                    Ok(state) => {
                        lock(&relay.inner.stateless).remove(&id);
                        if let Err(error) = relay.inner.rooms.adopt(&id, &state) {
                            tracing::warn!(room = %id, %error, "relay: cannot adopt a room");
                        }
                    }
                    Err(ClaimError::NoState) => {
                        let mut stateless = lock(&relay.inner.stateless);
                        let tries = stateless.entry(id.clone()).or_default();
                        *tries += 1;
                        // Logged once, when this node gives up on it.
                        if *tries == ADOPT_TRIES_WITHOUT_STATE {
                            tracing::warn!(
                                room = %id,
                                owner = %orphan.owner,
                                tries = *tries,
                                "relay: a dead node's room has no saved state; not adopted"
                            );
                        }
                    }
                    Err(error) => {
                        tracing::debug!(room = %id, %error, "relay: room not adopted here")
                    }
                }
                lock(&relay.inner.adopting).remove(&id);
            });
        }
    }

    /// Members whose room's node went down get `phx_error`; proxies of members whose
    /// node went down leave their rooms.
    fn sweep(&self) {
        self.adopt_orphans();
        let cluster = &self.inner.cluster;
        let orphans: Vec<(SocketId, Arc<str>)> = lock(&self.inner.members)
            .iter()
            .filter(|(_, m)| !cluster.is_live(&m.owner))
            .map(|(key, _)| key.clone())
            .collect();
        for (socket, room) in orphans {
            if let Some(member) = self.drop_member(socket, &room) {
                tracing::info!(%room, "relay: the room's node is down; its member rejoins");
                member.chan.socket.outbox.send(Outbound::ChannelCrashed {
                    topic: member.chan.topic.clone(),
                });
            }
        }
        let gone: Vec<ProxyKey> = lock(&self.inner.proxies)
            .keys()
            .filter(|(node, _, _)| !cluster.is_live(node))
            .cloned()
            .collect();
        for key in gone {
            let Some(proxy) = lock(&self.inner.proxies).remove(&key) else {
                continue;
            };
            if let Some(handle) = self.inner.rooms.get(&key.2) {
                handle.leave(proxy.chan.socket.id, false);
            }
            proxy.chan.socket.outbox.close();
        }
        let members = lock(&self.inner.members).len();
        let proxies = lock(&self.inner.proxies).len();
        metrics::gauge!(crate::metrics::CLUSTER_RELAYED_MEMBERS, "side" => "member")
            .set(members as f64);
        metrics::gauge!(crate::metrics::CLUSTER_RELAYED_MEMBERS, "side" => "room")
            .set(proxies as f64);
    }
}

/// A room on another node, as the channel target of a member here.
#[derive(Debug, Clone)]
pub struct RemoteRoom {
    id: Arc<str>,
    owner: String,
    relay: Relay,
}

impl ChannelActor for RemoteRoom {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Room
    }

    /// Sends the join to the room's node; the reply comes back by itself.
    fn join(
        &self,
        chan: ChannelRef,
        msg_ref: Arc<str>,
        params: RoomJoin,
    ) -> Result<(), Overloaded> {
        let relay = self.relay.clone();
        let (room, owner) = (self.id.clone(), self.owner.clone());
        tokio::spawn(async move { relay.join(room, owner, chan, msg_ref, params).await });
        Ok(())
    }

    fn leave(&self, socket: SocketId, explicit: bool) {
        let Some(member) = self.relay.drop_member(socket, &self.id) else {
            return;
        };
        self.relay.send(
            &self.owner,
            &RelayIn {
                node: self.relay.node().to_owned(),
                socket,
                room: self.id.clone(),
                join_ref: member.chan.join_ref,
                op: RelayOp::Leave { explicit },
            },
        );
    }

    fn event(
        &self,
        chan: ChannelRef,
        msg_ref: Arc<str>,
        event: &str,
        payload: InPayload,
    ) -> Result<(), ChannelError> {
        let event = RoomEvent::decode(event, payload)?;
        let sent = self.send(&chan, RelayOp::Event { msg_ref, event });
        if sent {
            Ok(())
        } else {
            Err(ChannelError::Overloaded)
        }
    }

    /// Asks the room's node for a fresh snapshot for this member; the snapshot comes
    /// back as a reset push.
    fn resync(&self, chan: ChannelRef) -> bool {
        self.send(&chan, RelayOp::Resync)
    }

    /// The room's node is down.
    fn is_gone(&self) -> bool {
        !self.relay.inner.cluster.is_live(&self.owner)
    }
}

impl RemoteRoom {
    /// Sends `op` about `chan`'s member to the room's node; false if it could not be
    /// queued.
    fn send(&self, chan: &ChannelRef, op: RelayOp) -> bool {
        self.relay.send(
            &self.owner,
            &RelayIn {
                node: self.relay.node().to_owned(),
                socket: chan.socket.id,
                room: self.id.clone(),
                join_ref: chan.join_ref.clone(),
                op,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Role;

    #[test]
    fn relay_messages_read_back_as_written() {
        let join = RelayIn {
            node: "b".into(),
            socket: 3,
            room: "abc".into(),
            join_ref: "1".into(),
            op: RelayOp::Join {
                msg_ref: "1".into(),
                user: User {
                    id: "g1".into(),
                    name: "Ann".into(),
                    guest: true,
                },
                params: RoomJoin {
                    role: Role::Spectator,
                    password: Some("pw".into()),
                },
            },
        };
        let event = RelayIn {
            op: RelayOp::Event {
                msg_ref: "2".into(),
                event: RoomEvent::Input {
                    turn: -1,
                    seq: None,
                },
            },
            ..join.clone()
        };
        for message in [join, event] {
            let bytes = serde_json::to_vec(&message).unwrap();
            assert_eq!(serde_json::from_slice::<RelayIn>(&bytes).unwrap(), message);
        }
        assert_eq!(
            serde_json::to_string(&JoinAnswer::WrongPassword).unwrap(),
            "\"wrong_password\""
        );
        assert_eq!(JoinAnswer::NotFound.error(), Some(ChannelError::NotFound));
    }
}
