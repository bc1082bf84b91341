//! The one place channel errors are shaped: every refusal a join or a client event can
//! get, and the `{"reason", "field"?}` response it is sent as (as `http/error.rs` does
//! for HTTP).

/// Why a join or a client event was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelError {
    // --- joins ---
    /// The topic names nothing this server serves (Phoenix's wording).
    UnmatchedTopic,
    NotFound,
    RoomFull,
    AlreadyStarted,
    /// The user already holds a seat in this room from another socket.
    AlreadySeated,
    WrongPassword,
    TooManyChannels,
    TooManyLobbies,
    /// The lobby is stopping; joining again starts a fresh one.
    LobbyRestarting,
    /// The server is shutting down.
    Unavailable,
    /// A stored match whose input log does not decode or was cut short: no replay.
    CorruptReplay,
    /// As many replays as the server runs at once are running.
    TooManyReplays,
    /// `admin:stats` without the admin token.
    Unauthorized,

    // --- events ---
    /// An event on a channel the actor does not count this socket in.
    NotJoined,
    NotAPlayer,
    UnknownEvent,
    /// The payload does not decode; `field` names the first field at fault (None: the
    /// payload as a whole, e.g. binary where JSON is expected).
    BadPayload {
        field: Option<String>,
    },
    /// A chat body that is empty or too long once cleaned.
    InvalidBody,
    /// A room request that decodes but breaks the rules (name, size, password, rate).
    InvalidRoom,
    RateLimited,
    TooManyRooms,
    /// The actor's mailbox is full.
    Overloaded,
}

impl ChannelError {
    /// The `reason` clients switch on.
    pub fn reason(&self) -> &'static str {
        match self {
            ChannelError::UnmatchedTopic => "unmatched topic",
            ChannelError::NotFound => "not_found",
            ChannelError::RoomFull => "room_full",
            ChannelError::AlreadyStarted => "already_started",
            ChannelError::AlreadySeated => "already_seated",
            ChannelError::WrongPassword => "wrong_password",
            ChannelError::TooManyChannels => "too_many_channels",
            ChannelError::TooManyLobbies => "too_many_lobbies",
            ChannelError::LobbyRestarting => "lobby_restarting",
            ChannelError::Unavailable => "unavailable",
            ChannelError::CorruptReplay => "corrupt_replay",
            ChannelError::TooManyReplays => "too_many_replays",
            ChannelError::Unauthorized => "unauthorized",
            ChannelError::NotJoined => "not_joined",
            ChannelError::NotAPlayer => "not_a_player",
            ChannelError::UnknownEvent => "unknown_event",
            ChannelError::BadPayload { .. } => "bad_payload",
            ChannelError::InvalidBody => "invalid_body",
            ChannelError::InvalidRoom => "invalid_room",
            ChannelError::RateLimited => "rate_limited",
            ChannelError::TooManyRooms => "too_many_rooms",
            ChannelError::Overloaded => "overloaded",
        }
    }

    /// The error reply's response: `{"reason"}`, plus `"field"` for a bad payload.
    pub fn response(&self) -> serde_json::Value {
        match self {
            ChannelError::BadPayload { field: Some(field) } => {
                serde_json::json!({ "reason": self.reason(), "field": field })
            }
            _ => serde_json::json!({ "reason": self.reason() }),
        }
    }
}

impl From<crate::mailbox::Overloaded> for ChannelError {
    fn from(_: crate::mailbox::Overloaded) -> Self {
        ChannelError::Overloaded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_carry_the_reason_and_the_field_at_fault() {
        assert_eq!(
            ChannelError::RoomFull.response(),
            serde_json::json!({"reason": "room_full"})
        );
        assert_eq!(
            ChannelError::BadPayload {
                field: Some("turn".into())
            }
            .response(),
            serde_json::json!({"reason": "bad_payload", "field": "turn"})
        );
        assert_eq!(
            ChannelError::UnmatchedTopic.response(),
            serde_json::json!({"reason": "unmatched topic"})
        );
    }
}
