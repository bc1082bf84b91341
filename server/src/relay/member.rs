//! The member's side: this node's sockets in rooms of other nodes.
//!
//! A join holds the room's topic subject on this node (so the ticks reach it), then
//! asks the room's node to take the member ([`super::proxy`] there). The join reply,
//! the snapshot and every other message for this member come back as directed
//! messages on the topic's subject ([`Relay::on_directed`], called by the cluster's
//! topic task between the broadcasts around it): the socket is subscribed to the
//! room's broadcasts right after its join reply, so it gets the snapshot and every
//! tick after it, in order. The member's events, resyncs and leave go to the room's
//! node as [`RelayIn`] messages ([`RemoteRoom`]).

use std::sync::Arc;
use std::time::Duration;

use kurve_shared::phoenix::InPayload;

use super::{JoinAnswer, Relay, RelayIn, RelayOp, lock, node_subject, topic_of};
use crate::actor::{ChannelActor, ChannelKind};
use crate::auth::User;
use crate::cluster::RequestError;
use crate::cluster::bus::{Directed, DirectedOp};
use crate::mailbox::Overloaded;
use crate::outbound::{ChannelRef, Outbound, Payload, SocketId, forwarding_outbox};
use crate::protocol::error::ChannelError;
use crate::protocol::{RoomEvent, RoomJoin};

/// How long a join waits for this node's subscription to the room's subject, and then
/// for the room's node to accept it.
const JOIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The id under which this node holds a room's subject while members are joining.
const HOLDER: SocketId = SocketId::MAX;

/// A member on this node of a room on another.
pub(super) struct Member {
    pub(super) chan: ChannelRef,
    pub(super) owner: String,
    join_msg_ref: Arc<str>,
    /// Subscribed to the room's broadcasts (after its join reply).
    subscribed: bool,
}

impl Relay {
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
    pub(super) fn drop_member(&self, socket: SocketId, room: &Arc<str>) -> Option<Member> {
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
    pub(super) fn on_directed(&self, topic: &Arc<str>, directed: Directed, payload: Payload) {
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
}

/// A room on another node, as the channel target of a member here.
#[derive(Debug, Clone)]
pub struct RemoteRoom {
    id: Arc<str>,
    owner: String,
    relay: Relay,
}

impl RemoteRoom {
    pub(super) fn new(id: Arc<str>, owner: String, relay: Relay) -> RemoteRoom {
        RemoteRoom { id, owner, relay }
    }

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
