//! The room's side: other nodes' members of this node's rooms.
//!
//! A member on another node joins through a *proxy* member here: a channel whose
//! socket id is far above this node's own, whose user is the one the member's node
//! names (believed because the request was sealed by the cluster), and whose outbox
//! forwards what the room sends it as directed messages to the member's node.
//! Broadcasts are skipped: the member's node has them from the topic's subject.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{JoinAnswer, Relay, RelayIn, RelayOp, lock, topic_of};
use crate::cluster::Request;
use crate::cluster::bus::{Directed, DirectedOp};
use crate::outbound::{
    ChannelRef, OutKind, Outbound, Payload, SocketId, SocketRef, forwarding_outbox,
};
use crate::protocol::error::ChannelError;

/// Ids of proxy members: far above any socket id this node gives out.
static NEXT_PROXY: AtomicU64 = AtomicU64::new(1 << 62);

/// A member on another node of a room on this one, by (its node, its socket there, the room).
pub(super) type ProxyKey = (String, SocketId, Arc<str>);

/// A member on another node of a room on this one.
pub(super) struct Proxy {
    pub(super) chan: ChannelRef,
}

impl Relay {
    /// A member's join, event or leave from another node; a join is answered.
    pub(super) async fn proxied(&self, request: Request) {
        let Ok(message) = serde_json::from_slice::<RelayIn>(&request.payload) else {
            tracing::debug!("relay: an undecodable request was ignored");
            return;
        };
        if let Some(answer) = self.serve(message)
            && let Ok(payload) = serde_json::to_vec(&answer)
        {
            request.answer(payload.into()).await;
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
}
