//! The bytes a socket writes: Phoenix frames inside server-to-client WebSocket frames.
//!
//! Server frames are never masked (RFC 6455 §5.1), so a broadcast's complete wire bytes —
//! WebSocket header, Phoenix header, payload — are the same for every subscriber that
//! speaks the same serializer. A [`Broadcast`] encodes them on first use and every
//! socket after that writes the same `Bytes`.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use bytes::{BufMut, Bytes, BytesMut};
use kurve_shared::envelope::json_form;
use kurve_shared::phoenix::{self, Vsn};

/// WebSocket opcodes the server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
}

/// Length of the header of an unmasked frame carrying `len` payload bytes.
fn header_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    }
}

/// One complete, final, unmasked WebSocket frame.
pub fn frame(opcode: Opcode, payload: &[u8]) -> Bytes {
    let len = payload.len();
    let mut out = BytesMut::with_capacity(header_len(len) + len);
    out.put_u8(0x80 | opcode as u8);
    match len {
        0..=125 => out.put_u8(len as u8),
        126..=0xFFFF => {
            out.put_u8(126);
            out.put_u16(len as u16);
        }
        _ => {
            out.put_u8(127);
            out.put_u64(len as u64);
        }
    }
    out.put_slice(payload);
    out.freeze()
}

/// A close frame with `code` and a short `reason` (at most 123 bytes, cut if longer).
pub fn close_frame(code: u16, reason: &str) -> Bytes {
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    let mut cut = reason.len().min(123);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    payload.extend_from_slice(&reason.as_bytes()[..cut]);
    frame(Opcode::Close, &payload)
}

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

    /// Bytes the payload holds.
    pub fn len(&self) -> usize {
        match self {
            Payload::Json(json) => json.len(),
            Payload::Binary(bytes) => bytes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The empty object, the payload of most acknowledgements.
    pub fn empty() -> Payload {
        Payload::Json(Arc::from("{}"))
    }

    /// The payload as JSON text: itself, or the JSON form of a binary game payload
    /// (for long-poll and V1 sockets, which cannot carry binary frames). None when a
    /// binary payload has no JSON form (never for the server's own payloads).
    pub fn json_text(&self) -> Option<Cow<'_, str>> {
        match self {
            Payload::Json(json) => Some(Cow::Borrowed(json)),
            Payload::Binary(bytes) => match json_form(bytes) {
                Ok(json) => Some(Cow::Owned(json)),
                Err(error) => {
                    tracing::error!(%error, "a binary payload has no JSON form");
                    None
                }
            },
        }
    }
}

/// Which broadcasts a resync replaces, by topic kind: what a room's or a replay's
/// `snapshot` and `presence_state` restate, and what a lobby's `presence_state` and room
/// list restate. Decided by name so that broadcasts from other nodes of a cluster are
/// classified the same way without carrying a flag.
fn replaceable(topic: &str, event: &str) -> bool {
    let kind = topic.split_once(':').map_or("", |(kind, _)| kind);
    match kind {
        "room" | "replay" => matches!(event, "tick" | "ticks" | "snapshot" | "presence_diff"),
        "lobby" => matches!(
            event,
            "presence_diff" | "room_added" | "room_updated" | "room_removed"
        ),
        _ => false,
    }
}

/// One message for every subscriber of a topic (join_ref and ref are null, as Phoenix
/// sends broadcasts), encoded once per form on first use and then shared: the
/// WebSocket frame per serializer, and the Phoenix text per serializer (long-poll
/// messages; binary payloads in their JSON form).
#[derive(Debug)]
pub struct Broadcast {
    pub topic: Arc<str>,
    pub event: Cow<'static, str>,
    pub payload: Payload,
    /// See [`Broadcast::replaceable`]; worked out once, at construction.
    replaceable: bool,
    ws_v2: OnceLock<Option<Bytes>>,
    ws_v1: OnceLock<Option<Bytes>>,
    text_v2: OnceLock<Option<Arc<str>>>,
    text_v1: OnceLock<Option<Arc<str>>>,
}

impl Broadcast {
    pub fn new(topic: Arc<str>, event: impl Into<Cow<'static, str>>, payload: Payload) -> Self {
        let event = event.into();
        Broadcast {
            replaceable: replaceable(&topic, &event),
            topic,
            event,
            payload,
            ws_v2: OnceLock::new(),
            ws_v1: OnceLock::new(),
            text_v2: OnceLock::new(),
            text_v1: OnceLock::new(),
        }
    }

    /// Whether this broadcast is part of its topic's state, which a fresh snapshot
    /// replaces for a member that fell behind (CONTRACT §10), rather than an event
    /// every member must see (chat, a round's end).
    pub fn replaceable(&self) -> bool {
        self.replaceable
    }

    /// The complete WebSocket frame for a socket speaking `vsn`: a binary frame for a
    /// binary payload on V2, text otherwise. None when it cannot be encoded (a field too
    /// long for a binary frame).
    pub fn wire(&self, vsn: Vsn) -> Option<&Bytes> {
        let cell = match vsn {
            Vsn::V1 => &self.ws_v1,
            Vsn::V2 => &self.ws_v2,
        };
        cell.get_or_init(|| self.encode_wire(vsn)).as_ref()
    }

    /// The Phoenix text frame for `vsn`, binary payloads in their JSON form.
    pub fn text(&self, vsn: Vsn) -> Option<&Arc<str>> {
        let cell = match vsn {
            Vsn::V1 => &self.text_v1,
            Vsn::V2 => &self.text_v2,
        };
        cell.get_or_init(|| {
            let json = self.payload.json_text()?;
            let text = phoenix::encode_text(vsn, None, None, &self.topic, &self.event, &json);
            Some(Arc::from(text))
        })
        .as_ref()
    }

    fn encode_wire(&self, vsn: Vsn) -> Option<Bytes> {
        match (&self.payload, vsn) {
            (Payload::Binary(bytes), Vsn::V2) => {
                match phoenix::encode_binary_broadcast(&self.topic, &self.event, bytes) {
                    Ok(encoded) => Some(frame(Opcode::Binary, &encoded)),
                    Err(error) => {
                        tracing::error!(%error, topic = %self.topic, "broadcast not encodable");
                        None
                    }
                }
            }
            _ => Some(frame(Opcode::Text, self.text(vsn)?.as_bytes())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;

    /// Our framing, read back by tungstenite's own parser.
    fn parse(bytes: &[u8]) -> (FrameHeader, Vec<u8>) {
        let mut cursor = std::io::Cursor::new(bytes);
        let (header, len) = FrameHeader::parse(&mut cursor)
            .expect("a valid header")
            .expect("a complete header");
        let start = cursor.position() as usize;
        assert_eq!(start + len as usize, bytes.len(), "exactly one frame");
        (header, bytes[start..].to_vec())
    }

    #[test]
    fn frames_of_every_length_class_parse() {
        for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 200_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let (header, body) = parse(&frame(Opcode::Binary, &payload));
            assert!(header.is_final, "final frame");
            assert!(header.mask.is_none(), "server frames are unmasked");
            assert_eq!(body, payload, "payload of {len} bytes");
        }
    }

    #[test]
    fn close_frame_carries_code_and_a_cut_reason() {
        let (_, body) = parse(&close_frame(1012, "server shutting down"));
        assert_eq!(&body[..2], &1012u16.to_be_bytes());
        assert_eq!(&body[2..], b"server shutting down");
        let long = "é".repeat(100);
        let (_, body) = parse(&close_frame(1001, &long));
        assert!(body.len() <= 125, "control frames hold at most 125 bytes");
        assert!(
            std::str::from_utf8(&body[2..]).is_ok(),
            "cut on a char boundary"
        );
    }

    #[test]
    fn json_broadcast_has_null_refs() {
        let b = Broadcast::new(
            Arc::from("lobby:main"),
            "chat",
            Payload::Json(Arc::from("{\"a\":1}")),
        );
        let (header, body) = parse(b.wire(Vsn::V2).expect("text for V2"));
        assert_eq!(
            header.opcode,
            tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
                tokio_tungstenite::tungstenite::protocol::frame::coding::Data::Text
            )
        );
        assert_eq!(body, b"[null,null,\"lobby:main\",\"chat\",{\"a\":1}]");
    }

    #[test]
    fn binary_broadcasts_are_encoded_once_per_form_and_go_to_v1_as_json() {
        // A tick of any game: a MessagePack map `{"tick": 7, "d": []}`.
        let tick = b"\x82\xa4tick\x07\xa1d\x90".to_vec();
        let b = Broadcast::new(
            Arc::from("room:1"),
            "tick",
            Payload::Binary(Bytes::from(tick)),
        );
        let first = b.wire(Vsn::V2).expect("binary for V2").clone();
        let second = b.wire(Vsn::V2).expect("binary for V2").clone();
        assert_eq!(first.as_ptr(), second.as_ptr(), "the bytes are shared");
        let (header, _) = parse(&first);
        assert_eq!(
            header.opcode,
            tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
                tokio_tungstenite::tungstenite::protocol::frame::coding::Data::Binary
            )
        );
        let text = b.text(Vsn::V2).expect("a JSON form").clone();
        assert_eq!(&*text, r#"[null,null,"room:1","tick",{"d":[],"tick":7}]"#);
        assert!(
            Arc::ptr_eq(&text, b.text(Vsn::V2).expect("a JSON form")),
            "the text is shared"
        );
        let (_, v1) = parse(b.wire(Vsn::V1).expect("V1 gets the JSON form"));
        assert_eq!(
            v1,
            br#"{"topic":"room:1","event":"tick","payload":{"d":[],"tick":7},"ref":null}"#
        );
    }
}
