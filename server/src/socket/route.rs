//! Topic routing: which actor a topic names, started if need be.
//!
//! A join's topic is parsed into a [`Route`] (unmatched topics are refused before any
//! actor is looked at), and [`resolve`] finds the route's actor — a lobby or a replay
//! started by the join, a room here or on another node of the cluster, the operator's
//! actor — as the [`ChannelActor`] the socket's channel table keeps.

use std::net::IpAddr;
use std::sync::Arc;

use crate::actor::ChannelActor;
use crate::app::App;
use crate::protocol::error::ChannelError;
use crate::protocol::valid_name;

/// What a topic string names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `lobby:<name>`, name matching `[a-z0-9_-]{1,32}`.
    Lobby(Arc<str>),
    /// `room:<id>`.
    Room(Arc<str>),
    /// `replay:<match_id>`.
    Replay(i64),
    /// `admin:stats`.
    Admin,
}

impl Route {
    /// Parses a topic; None means "unmatched topic".
    pub fn parse(topic: &str) -> Option<Route> {
        if let Some(name) = topic.strip_prefix("lobby:") {
            return valid_name(name).then(|| Route::Lobby(Arc::from(name)));
        }
        if let Some(id) = topic.strip_prefix("room:") {
            return valid_name(id).then(|| Route::Room(Arc::from(id)));
        }
        if topic == crate::admin::TOPIC {
            return Some(Route::Admin);
        }
        if let Some(id) = topic.strip_prefix("replay:") {
            // Digits only: "+1" or "01" would name the same match under two topics.
            let canonical =
                !id.is_empty() && id.len() <= 18 && id.bytes().all(|b| b.is_ascii_digit());
            return id
                .parse()
                .ok()
                .filter(|n: &i64| canonical && n.to_string() == id)
                .map(Route::Replay);
        }
        None
    }
}

/// The actor behind `route`, started if need be (a lobby started by a join counts
/// against the `client` address). Err is the join's refusal.
pub fn resolve(
    app: &App,
    route: &Route,
    client: IpAddr,
) -> Result<Arc<dyn ChannelActor>, ChannelError> {
    Ok(match route {
        Route::Lobby(name) => Arc::new(app.lobbies.get_or_start(name, app.limits.counted(client))?),
        Route::Room(id) => {
            if let Some(room) = app.rooms.get(id) {
                return Ok(Arc::new(room));
            }
            // A room of another node of the cluster, reached through the relay.
            let relay = app.relay.as_ref().ok_or(ChannelError::NotFound)?;
            let owner = app.rooms.remote_owner(id).ok_or(ChannelError::NotFound)?;
            Arc::new(relay.room(id, owner))
        }
        Route::Replay(id) => Arc::new(app.replays.get_or_start(*id)?),
        // Without an operator token the topic does not exist.
        Route::Admin => Arc::new(
            app.admin
                .as_ref()
                .and_then(|admin| admin.handle())
                .ok_or(ChannelError::UnmatchedTopic)?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_route_by_prefix_and_name() {
        assert_eq!(
            Route::parse("lobby:main"),
            Some(Route::Lobby("main".into()))
        );
        assert_eq!(
            Route::parse("lobby:a_b-9"),
            Some(Route::Lobby("a_b-9".into()))
        );
        assert_eq!(Route::parse("room:r1"), Some(Route::Room("r1".into())));
        for bad in [
            "lobby:",
            "lobby:Main",
            "lobby:has space",
            "lobby:ü",
            "phoenix",
            "rooms:1",
            "lobby:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(Route::parse(bad), None, "{bad:?} should be unmatched");
        }
    }
}
