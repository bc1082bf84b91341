//! Phoenix Channels frame codec: the bytes on a socket ⇄ one typed frame.
//!
//! The official `phoenix` npm client and our server exchange four frame shapes
//! (see `shared/PHOENIX_PROTOCOL.md` §2 and §3):
//!
//! - **V2 text**: a JSON array `[join_ref, ref, topic, event, payload]`, both directions.
//! - **V1 text**: a JSON object `{"topic","event","payload","ref"}`, for legacy clients
//!   that connect without `vsn` or with `vsn=1.x.y`.
//! - **V2 binary**: a one-byte kind, one length byte per field, the fields, then the raw
//!   payload. Clients only send kind 0 (push); the server sends kind 0 (push, no ref),
//!   kind 1 (reply) and kind 2 (broadcast).
//!
//! Code map:
//! - `vsn`: which serializer a connection negotiated.
//! - `text`: both JSON formats, server and client side, plus ref salvage for errors.
//! - `binary`: the V2 binary format, server and client side.
//! - `escape`: JSON string escaping for the hand-built text envelopes.
//! - `error`: what can go wrong, in words short enough for a close reason.
//!
//! A frame is decoded exactly once, at the edge, into [`InFrame`] (server side) or
//! [`ServerFrame`] (bot and test side); nothing past the socket reader sees raw JSON
//! envelopes. Encoding goes the other way without building a `serde_json::Value`: the
//! caller hands over the payload already serialized, so a broadcast payload is
//! serialized once and only the small envelope is written per frame.
//!
//! **Invariant:** no function in this module panics, whatever bytes arrive. Every length
//! is checked before it is used, and every error is a [`DecodeError`] or [`EncodeError`].
//!
//! **Invariant:** refs are opaque strings, echoed byte for byte. They are never parsed
//! as numbers: the JS client compares them with `===`.

mod binary;
mod error;
mod escape;
mod text;
mod vsn;

use bytes::Bytes;

pub use binary::{
    MAX_FIELD_LEN, decode_binary, decode_binary_bytes, decode_server_binary,
    decode_server_binary_bytes, encode_binary_broadcast, encode_binary_push, encode_binary_reply,
    encode_client_binary,
};
pub use error::{DecodeError, EncodeError, UnsupportedVsn};
pub use text::{
    decode_server_text, decode_text, encode_client_text, encode_text, reply_payload_json,
    salvage_ref_topic,
};
pub use vsn::Vsn;

/// The event name of every reply; binary kind-1 replies carry it implicitly.
pub const PHX_REPLY: &str = "phx_reply";

/// A frame received from a client, decoded once at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFrame {
    /// The join_ref of the channel this frame belongs to; `None` for heartbeats (JSON
    /// `null`) and for a zero-length binary field. For `phx_join` it equals `msg_ref`.
    pub join_ref: Option<String>,
    /// The ref a reply must echo; `None` only if the client sent `null`, in which case
    /// nobody is waiting for a reply.
    pub msg_ref: Option<String>,
    /// The channel topic, e.g. `room:1`, or `phoenix` for heartbeats.
    pub topic: String,
    /// `phx_join`, `phx_leave`, `heartbeat` or an application event.
    pub event: String,
    /// What the client pushed.
    pub payload: InPayload,
}

/// The payload of a client frame: JSON from a text frame, raw bytes from a binary one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InPayload {
    /// Any JSON value; Phoenix accepts non-object payloads, so we do too and leave the
    /// shape check to the channel handler that knows what it expects.
    Json(serde_json::Value),
    /// The rest of a binary push, after the fields (an `ArrayBuffer` on the JS side).
    Binary(Bytes),
}

/// A frame received by a client (a bot or a test), decoded from V2 text or binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFrame {
    /// The channel's join_ref; `None` for broadcasts, heartbeat replies and unmatched
    /// topic replies (JSON `null` or a zero-length binary field).
    pub join_ref: Option<String>,
    /// The echoed ref of a reply (and of `phx_close`/`phx_error`); `None` for pushes and
    /// broadcasts.
    pub msg_ref: Option<String>,
    /// The channel topic.
    pub topic: String,
    /// The event; [`PHX_REPLY`] for replies, including binary kind-1 replies.
    pub event: String,
    /// What the server sent.
    pub payload: ServerPayload,
}

/// The payload of a server frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerPayload {
    /// A text frame's payload; for a `phx_reply`, the `{"status","response"}` object.
    Json(serde_json::Value),
    /// A binary push (kind 0) or broadcast (kind 2).
    Binary(Bytes),
    /// A binary reply (kind 1): the status travels as a field, the response as raw bytes.
    BinaryReply {
        /// The reply status, e.g. `ok` or `error`.
        status: String,
        /// The raw response bytes.
        response: Bytes,
    },
}

#[cfg(test)]
mod tests;
