//! The node-down sweep, every second: members here of rooms whose node went down get
//! `phx_error` (the official client rejoins, by then to the room's adopter), and
//! proxies here of members whose node went down leave their rooms as dropped sockets
//! do.

use std::sync::Arc;

use super::Relay;
use super::lock;
use super::proxy::ProxyKey;
use crate::outbound::{Outbound, SocketId};

impl Relay {
    /// Members whose room's node went down get `phx_error`; proxies of members whose
    /// node went down leave their rooms.
    pub(super) fn sweep(&self) {
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
