//! Room members on another node than their room (CONTRACT §9), and what becomes of a
//! node's rooms when it goes down.
//!
//! A room lives on one node. A client whose socket is on node B joins a room of node
//! A through its own socket: B's [`Relay`] sends the join, the client's events and its
//! leave to A (`kurve.v1.node.<A>.room`, [`member`]), and A's relay hands them to the
//! room as if the member were local, through a *proxy* member whose outbox forwards
//! what the room sends it ([`proxy`]). Broadcasts (ticks, presence diffs, events) are not forwarded per member:
//! they reach B once through the topic's subject ([`crate::cluster::bus`]). Replies
//! and pushes for one member (the join reply, the snapshot, input errors) travel as
//! directed messages on that same subject, so they stay in order with the ticks: B
//! subscribes the socket to the room's broadcasts right after passing on its join
//! reply, and the snapshot and every tick after it arrive in the order the room sent
//! them.
//!
//! When the room's node goes down, B's members of its rooms get `phx_error` (the
//! official client rejoins by itself); when B goes down, A's proxies of B's members
//! leave their rooms as dropped sockets do ([`sweep`]). The rooms of a node that went
//! down are adopted by one survivor ([`adopt`]), and rooms placed on this node by
//! another node's lobby are made here ([`create`]).
//!
//! One job per file: [`member`], [`proxy`], [`create`], [`adopt`], [`sweep`]; this file
//! holds what they share (the messages between nodes, the tables) and the task that
//! serves the requests and runs the sweep. The relay is the one part that knows both
//! the cluster and the rooms; it speaks to NATS only through [`Cluster`]'s API.
//!
//! A relayed join names its user, and the room's node believes it: so every request
//! here (joins, events, leaves, room creations) is opened with the cluster's seal
//! before it is read, and answers are sealed ([`Cluster::serve`],
//! [`Cluster::request`], [`crate::cluster::Request::answer`]). A publisher without the cluster's
//! secret cannot join a room as anybody.
//!
//! Key press from a socket on B to a room on A and back: B's connection task decodes
//! `input` and spends the socket's input budget → [`RemoteRoom::event`] queues
//! `{op: event}` for NATS → A's relay task → the room's mailbox → the next tick is
//! broadcast on `room:<id>` → NATS `kurve.v1.t.room:<id>` → B's topic task → B's
//! pubsub → the socket (a direct write when its queue is empty).

mod adopt;
mod create;
mod member;
mod proxy;
mod sweep;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::auth::User;
use crate::cluster::bus::DirectSink;
use crate::cluster::{Cluster, ServeError, create_subject};
use crate::outbound::SocketId;
use crate::protocol::error::ChannelError;
use crate::protocol::{RoomEvent, RoomJoin};
use crate::pubsub::PubSub;
use crate::room::Rooms;

use member::Member;
pub use member::RemoteRoom;
use proxy::{Proxy, ProxyKey};

/// How often members and proxies of nodes that went down are swept, and orphaned
/// rooms looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

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
    adopting: Mutex<HashSet<String>>,
    /// Rooms of dead nodes found without a saved state, and how often: past
    /// [`adopt`]'s limit they are not tried again.
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
        Relay {
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
        }
    }

    /// Where the cluster's topic tasks hand the directed messages for this node's
    /// members ([`crate::cluster::Local::direct`]).
    pub fn direct_sink(&self) -> DirectSink {
        let relay = self.clone();
        Arc::new(move |topic, directed, payload| relay.on_directed(topic, directed, payload))
    }

    /// The room `id` of node `owner`, as a channel target.
    pub fn room(&self, id: &Arc<str>, owner: String) -> RemoteRoom {
        RemoteRoom::new(id.clone(), owner, self.clone())
    }

    fn node(&self) -> &str {
        self.inner.cluster.node_id()
    }

    /// Serves other nodes' members of this node's rooms and their room creations, and
    /// sweeps for nodes that went down, until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let cluster = self.inner.cluster.clone();
        let serve = |subject, what| cluster.serve(subject, what, &shutdown);
        let mut requests = match serve(node_subject(self.node()), "relay").await {
            Ok(requests) => requests,
            Err(ServeError::ShuttingDown) => return,
            Err(error) => {
                tracing::error!(%error, "relay: cannot subscribe");
                return;
            }
        };
        let mut creates = match serve(create_subject(self.node()), "create").await {
            Ok(requests) => requests,
            Err(ServeError::ShuttingDown) => return,
            Err(error) => {
                tracing::error!(%error, "relay: cannot subscribe");
                return;
            }
        };
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = sweep.tick() => {
                    self.adopt_orphans();
                    self.sweep();
                }
                request = creates.next() => {
                    let Some(request) = request else { break };
                    self.create(request).await;
                }
                request = requests.next() => {
                    let Some(request) = request else { break };
                    self.proxied(request).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Role;

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
                    payload: serde_json::json!({"turn": -1}),
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
