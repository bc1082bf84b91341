//! V2 binary frames: a kind byte, one length byte per field, the fields, the payload.
//!
//! | kind | direction | fields (each `u8`-length-prefixed in the header) |
//! |---|---|---|
//! | 0 push | client → server | join_ref, ref, topic, event |
//! | 0 push | server → client | join_ref, topic, event (no ref) |
//! | 1 reply | server → client | join_ref, ref, topic, status |
//! | 2 broadcast | server → client | topic, event |
//!
//! The payload is everything after the last field, as raw bytes. A zero-length join_ref
//! (or ref) means "none": Phoenix writes a nil join_ref that way and the JS client reads
//! `""` as no join_ref, so an empty string cannot survive a binary round trip and does
//! not need to (the client's refs are never empty).
//!
//! **Invariant:** decoding never trusts a length byte. Every field is taken with a
//! checked slice, so a short frame is [`DecodeError::Truncated`], never a panic.

use bytes::Bytes;

use super::error::{DecodeError, EncodeError};
use super::{InFrame, InPayload, PHX_REPLY, ServerFrame, ServerPayload, Vsn};

/// The longest field a binary frame can carry: its length must fit in one byte.
pub const MAX_FIELD_LEN: usize = u8::MAX as usize;

const KIND_PUSH: u8 = 0;
const KIND_REPLY: u8 = 1;
const KIND_BROADCAST: u8 = 2;

/// Encodes a server push (kind 0): a 4-byte header, no ref. `None` join_ref is written as
/// a zero-length field.
pub fn encode_binary_push(
    join_ref: Option<&str>,
    topic: &str,
    event: &str,
    payload: &[u8],
) -> Result<Bytes, EncodeError> {
    let fields = [
        ("join_ref", join_ref.unwrap_or_default()),
        ("topic", topic),
        ("event", event),
    ];
    encode(KIND_PUSH, fields, payload)
}

/// Encodes a server reply (kind 1); the event is implicitly `phx_reply` and the status
/// travels as a field, the response as the payload.
pub fn encode_binary_reply(
    join_ref: Option<&str>,
    msg_ref: &str,
    topic: &str,
    status: &str,
    payload: &[u8],
) -> Result<Bytes, EncodeError> {
    let fields = [
        ("join_ref", join_ref.unwrap_or_default()),
        ("ref", msg_ref),
        ("topic", topic),
        ("status", status),
    ];
    encode(KIND_REPLY, fields, payload)
}

/// Encodes a server broadcast (kind 2): no join_ref, no ref, so one encoded frame can be
/// shared by every subscriber of the topic.
pub fn encode_binary_broadcast(
    topic: &str,
    event: &str,
    payload: &[u8],
) -> Result<Bytes, EncodeError> {
    encode(
        KIND_BROADCAST,
        [("topic", topic), ("event", event)],
        payload,
    )
}

/// Encodes a client push (kind 0 with a 5-byte header), as the JS client does for an
/// `ArrayBuffer` payload.
pub fn encode_client_binary(
    join_ref: Option<&str>,
    msg_ref: &str,
    topic: &str,
    event: &str,
    payload: &[u8],
) -> Result<Bytes, EncodeError> {
    let fields = [
        ("join_ref", join_ref.unwrap_or_default()),
        ("ref", msg_ref),
        ("topic", topic),
        ("event", event),
    ];
    encode(KIND_PUSH, fields, payload)
}

/// Writes `kind`, the length of each field, the fields, then the payload, into a buffer
/// allocated once at the frame's exact size (after every length has been checked).
fn encode<const N: usize>(
    kind: u8,
    fields: [(&'static str, &str); N],
    payload: &[u8],
) -> Result<Bytes, EncodeError> {
    let mut lengths = [0u8; N];
    for (length, (field, value)) in lengths.iter_mut().zip(fields) {
        *length = u8::try_from(value.len()).map_err(|_| EncodeError::FieldTooLong {
            field,
            len: value.len(),
        })?;
    }
    let body_len: usize = fields.iter().map(|(_, value)| value.len()).sum();
    let mut out = Vec::with_capacity(1 + N + body_len + payload.len());
    out.push(kind);
    out.extend_from_slice(&lengths);
    for (_, value) in fields {
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(payload);
    Ok(Bytes::from(out))
}

/// Decodes a client binary frame. Only V2 has a binary format, and clients may only send
/// kind 0 (push); anything else is refused.
pub fn decode_binary(vsn: Vsn, data: &[u8]) -> Result<InFrame, DecodeError> {
    let (parsed, payload_at) = parse_client(vsn, data)?;
    Ok(parsed.into_in_frame(Bytes::copy_from_slice(rest(data, payload_at))))
}

/// [`decode_binary`] without copying the payload: it is a slice of `data`'s buffer, which
/// is how a frame read from the socket arrives (axum hands over `Bytes`).
pub fn decode_binary_bytes(vsn: Vsn, data: &Bytes) -> Result<InFrame, DecodeError> {
    let (parsed, payload_at) = parse_client(vsn, data)?;
    Ok(parsed.into_in_frame(data.slice(payload_at.min(data.len())..)))
}

/// Decodes a server binary frame as the JS client does: kind 0 push, kind 1 reply
/// (event `phx_reply`), kind 2 broadcast; any other kind is refused.
pub fn decode_server_binary(data: &[u8]) -> Result<ServerFrame, DecodeError> {
    let (parsed, payload_at) = parse_server(data)?;
    Ok(parsed.into_server_frame(Bytes::copy_from_slice(rest(data, payload_at))))
}

/// [`decode_server_binary`] without copying the payload.
pub fn decode_server_binary_bytes(data: &Bytes) -> Result<ServerFrame, DecodeError> {
    let (parsed, payload_at) = parse_server(data)?;
    Ok(parsed.into_server_frame(data.slice(payload_at.min(data.len())..)))
}

/// The payload: everything from `at` on (empty if `at` is past the end, which the reader
/// never lets happen).
fn rest(data: &[u8], at: usize) -> &[u8] {
    data.get(at..).unwrap_or_default()
}

/// The fields of a binary frame, borrowed from it; the payload is found by offset so
/// each caller can copy or share it as suits its buffer.
struct Fields<'a> {
    kind: u8,
    join_ref: Option<&'a str>,
    msg_ref: Option<&'a str>,
    topic: &'a str,
    /// The event, or the status of a kind-1 reply.
    event: &'a str,
}

impl Fields<'_> {
    fn into_in_frame(self, payload: Bytes) -> InFrame {
        InFrame {
            join_ref: self.join_ref.map(str::to_owned),
            msg_ref: self.msg_ref.map(str::to_owned),
            topic: self.topic.to_owned(),
            event: self.event.to_owned(),
            payload: InPayload::Binary(payload),
        }
    }

    fn into_server_frame(self, payload: Bytes) -> ServerFrame {
        let (event, payload) = if self.kind == KIND_REPLY {
            let reply = ServerPayload::BinaryReply {
                status: self.event.to_owned(),
                response: payload,
            };
            (PHX_REPLY.to_owned(), reply)
        } else {
            (self.event.to_owned(), ServerPayload::Binary(payload))
        };
        ServerFrame {
            join_ref: self.join_ref.map(str::to_owned),
            msg_ref: self.msg_ref.map(str::to_owned),
            topic: self.topic.to_owned(),
            event,
            payload,
        }
    }
}

fn parse_client(vsn: Vsn, data: &[u8]) -> Result<(Fields<'_>, usize), DecodeError> {
    if vsn == Vsn::V1 {
        return Err(DecodeError::BinaryNotSupported);
    }
    let mut reader = Reader::new(data)?;
    match reader.kind {
        KIND_PUSH => {
            let [jr, r, t, e] = reader.lengths()?;
            let fields = Fields {
                kind: KIND_PUSH,
                join_ref: reader.optional(jr, "join_ref")?,
                msg_ref: reader.optional(r, "ref")?,
                topic: reader.field(t, "topic")?,
                event: reader.field(e, "event")?,
            };
            Ok((fields, reader.at))
        }
        kind => Err(DecodeError::UnknownKind(kind)),
    }
}

fn parse_server(data: &[u8]) -> Result<(Fields<'_>, usize), DecodeError> {
    let mut reader = Reader::new(data)?;
    let fields = match reader.kind {
        KIND_PUSH => {
            let [jr, t, e] = reader.lengths()?;
            Fields {
                kind: KIND_PUSH,
                join_ref: reader.optional(jr, "join_ref")?,
                msg_ref: None,
                topic: reader.field(t, "topic")?,
                event: reader.field(e, "event")?,
            }
        }
        KIND_REPLY => {
            let [jr, r, t, s] = reader.lengths()?;
            Fields {
                kind: KIND_REPLY,
                join_ref: reader.optional(jr, "join_ref")?,
                msg_ref: reader.optional(r, "ref")?,
                topic: reader.field(t, "topic")?,
                event: reader.field(s, "status")?,
            }
        }
        KIND_BROADCAST => {
            let [t, e] = reader.lengths()?;
            Fields {
                kind: KIND_BROADCAST,
                join_ref: None,
                msg_ref: None,
                topic: reader.field(t, "topic")?,
                event: reader.field(e, "event")?,
            }
        }
        kind => return Err(DecodeError::UnknownKind(kind)),
    };
    Ok((fields, reader.at))
}

/// A cursor over a binary frame that only moves forward through checked slices.
struct Reader<'a> {
    data: &'a [u8],
    kind: u8,
    /// Offset of the next unread byte; never past `data.len()`.
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Result<Self, DecodeError> {
        let Some(&kind) = data.first() else {
            return Err(DecodeError::Empty);
        };
        Ok(Reader { data, kind, at: 1 })
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(len).ok_or(DecodeError::Truncated)?;
        let bytes = self.data.get(self.at..end).ok_or(DecodeError::Truncated)?;
        self.at = end;
        Ok(bytes)
    }

    /// The `N` length bytes of the header that follows the kind.
    fn lengths<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N)?;
        <[u8; N]>::try_from(bytes).map_err(|_| DecodeError::Truncated)
    }

    fn field(&mut self, len: u8, field: &'static str) -> Result<&'a str, DecodeError> {
        let bytes = self.take(usize::from(len))?;
        std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { field })
    }

    /// A field where zero length means absent.
    fn optional(&mut self, len: u8, field: &'static str) -> Result<Option<&'a str>, DecodeError> {
        let value = self.field(len, field)?;
        Ok((!value.is_empty()).then_some(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frame of PHOENIX_PROTOCOL.md §3: `channel.push("upload", [9,8,7])`, J="3", ref="5".
    const SPEC_PUSH: [u8; 22] = [
        0x00, 0x01, 0x01, 0x06, 0x06, 0x33, 0x35, 0x72, 0x6f, 0x6f, 0x6d, 0x3a, 0x31, 0x75, 0x70,
        0x6c, 0x6f, 0x61, 0x64, 0x09, 0x08, 0x07,
    ];

    fn in_frame(
        join_ref: Option<&str>,
        msg_ref: Option<&str>,
        topic: &str,
        event: &str,
        payload: &[u8],
    ) -> InFrame {
        InFrame {
            join_ref: join_ref.map(str::to_owned),
            msg_ref: msg_ref.map(str::to_owned),
            topic: topic.to_owned(),
            event: event.to_owned(),
            payload: InPayload::Binary(Bytes::copy_from_slice(payload)),
        }
    }

    fn server_frame(
        join_ref: Option<&str>,
        msg_ref: Option<&str>,
        topic: &str,
        event: &str,
        payload: ServerPayload,
    ) -> ServerFrame {
        ServerFrame {
            join_ref: join_ref.map(str::to_owned),
            msg_ref: msg_ref.map(str::to_owned),
            topic: topic.to_owned(),
            event: event.to_owned(),
            payload,
        }
    }

    fn bin(payload: &[u8]) -> ServerPayload {
        ServerPayload::Binary(Bytes::copy_from_slice(payload))
    }

    fn reply(status: &str, response: &[u8]) -> ServerPayload {
        ServerPayload::BinaryReply {
            status: status.to_owned(),
            response: Bytes::copy_from_slice(response),
        }
    }

    // ---- the spec example ------------------------------------------------------

    #[test]
    fn client_push_matches_the_spec_bytes() {
        let got = encode_client_binary(Some("3"), "5", "room:1", "upload", &[9, 8, 7]);
        assert_eq!(
            got.as_deref(),
            Ok(&SPEC_PUSH[..]),
            "the client push must match §3 byte for byte"
        );
    }

    #[test]
    fn server_decodes_the_spec_bytes() {
        let want = in_frame(Some("3"), Some("5"), "room:1", "upload", &[9, 8, 7]);
        assert_eq!(
            decode_binary(Vsn::V2, &SPEC_PUSH),
            Ok(want.clone()),
            "§3 bytes must decode to the upload push"
        );
        let shared = Bytes::from_static(&SPEC_PUSH);
        assert_eq!(
            decode_binary_bytes(Vsn::V2, &shared),
            Ok(want),
            "the zero-copy decoder must agree"
        );
    }

    #[test]
    fn zero_copy_decoders_share_the_buffer() {
        let shared = Bytes::copy_from_slice(&SPEC_PUSH);
        let start = shared.as_ptr() as usize;
        let Ok(InFrame {
            payload: InPayload::Binary(payload),
            ..
        }) = decode_binary_bytes(Vsn::V2, &shared)
        else {
            panic!("§3 bytes must decode to a binary payload");
        };
        assert_eq!(
            payload.as_ptr() as usize,
            start + 19,
            "the payload must point into the frame's buffer, not a copy"
        );

        let frame = encode_binary_broadcast("t", "e", &[1, 2, 3]).expect("short fields encode");
        let start = frame.as_ptr() as usize;
        let Ok(ServerFrame {
            payload: ServerPayload::Binary(payload),
            ..
        }) = decode_server_binary_bytes(&frame)
        else {
            panic!("a broadcast must decode to a binary payload");
        };
        assert_eq!(
            payload.as_ptr() as usize,
            start + 5,
            "the broadcast payload must point into the frame's buffer"
        );
    }

    // ---- exact server bytes ----------------------------------------------------

    #[test]
    fn server_frames_have_the_documented_layout() {
        let cases: [(&str, Result<Bytes, EncodeError>, &[u8]); 5] = [
            (
                "push",
                encode_binary_push(Some("3"), "room:1", "tick", &[0xAA]),
                b"\x00\x01\x06\x043room:1tick\xAA",
            ),
            (
                "push without join_ref",
                encode_binary_push(None, "r", "e", &[]),
                b"\x00\x00\x01\x01re",
            ),
            (
                "reply",
                encode_binary_reply(Some("3"), "12", "room:1", "ok", &[1, 2]),
                b"\x01\x01\x02\x06\x02312room:1ok\x01\x02",
            ),
            (
                "reply without join_ref",
                encode_binary_reply(None, "6", "phoenix", "ok", b""),
                b"\x01\x00\x01\x07\x026phoenixok",
            ),
            (
                "broadcast",
                encode_binary_broadcast("room:1", "tick", &[7, 7]),
                b"\x02\x06\x04room:1tick\x07\x07",
            ),
        ];
        for (what, got, want) in cases {
            assert_eq!(
                got.as_deref(),
                Ok(want),
                "the binary {what} must have the documented layout"
            );
        }
    }

    #[test]
    fn frame_length_is_header_fields_and_payload() {
        let payload = vec![0u8; 1000];
        let frame = encode_binary_reply(Some("3"), "4", "room:1", "ok", &payload)
            .expect("short fields encode");
        assert_eq!(
            frame.len(),
            5 + 1 + 1 + 6 + 2 + 1000,
            "a reply is header + fields + payload"
        );
    }

    // ---- round trips -----------------------------------------------------------

    #[test]
    fn client_push_round_trips() {
        let long = "x".repeat(MAX_FIELD_LEN);
        let wide = "é".repeat(MAX_FIELD_LEN / 2); // 254 bytes of 2-byte characters
        for topic in ["room:1", "räum:ü", "🎮", "", long.as_str(), wide.as_str()] {
            for join_ref in [None, Some("3"), Some(long.as_str())] {
                for payload in [&[][..], &[0u8][..], &[0xFF; 300][..]] {
                    let data = encode_client_binary(join_ref, "5", topic, topic, payload)
                        .expect("fields ≤ 255 bytes encode");
                    let want = in_frame(join_ref, Some("5"), topic, topic, payload);
                    assert_eq!(
                        decode_binary(Vsn::V2, &data),
                        Ok(want),
                        "client push {topic:?}/{join_ref:?} must round trip"
                    );
                }
            }
        }
    }

    #[test]
    fn server_frames_round_trip_to_the_client() {
        for topic in ["room:1", "räum:ü", "🎮:∞"] {
            for join_ref in [None, Some("3")] {
                let push =
                    encode_binary_push(join_ref, topic, "tick", &[1, 2, 3]).expect("push encodes");
                assert_eq!(
                    decode_server_binary(&push),
                    Ok(server_frame(join_ref, None, topic, "tick", bin(&[1, 2, 3]))),
                    "a push must decode with join_ref {join_ref:?} and no ref"
                );
                let answer = encode_binary_reply(join_ref, "9", topic, "error", b"\x80\x81")
                    .expect("reply encodes");
                assert_eq!(
                    decode_server_binary(&answer),
                    Ok(server_frame(
                        join_ref,
                        Some("9"),
                        topic,
                        PHX_REPLY,
                        reply("error", b"\x80\x81")
                    )),
                    "a reply must decode as phx_reply carrying its status"
                );
            }
            let cast = encode_binary_broadcast(topic, "sn:ü", &[]).expect("broadcast encodes");
            assert_eq!(
                decode_server_binary(&cast),
                Ok(server_frame(None, None, topic, "sn:ü", bin(&[]))),
                "a broadcast must decode with neither join_ref nor ref"
            );
        }
    }

    // ---- malformed input -------------------------------------------------------

    #[test]
    fn v1_has_no_binary_frames() {
        assert_eq!(
            decode_binary(Vsn::V1, &SPEC_PUSH),
            Err(DecodeError::BinaryNotSupported),
            "V1 must refuse binary frames"
        );
        assert_eq!(
            decode_binary_bytes(Vsn::V1, &Bytes::from_static(&SPEC_PUSH)),
            Err(DecodeError::BinaryNotSupported),
            "V1 must refuse binary frames in the zero-copy decoder too"
        );
    }

    #[test]
    fn empty_frames_are_refused() {
        assert_eq!(
            decode_binary(Vsn::V2, &[]),
            Err(DecodeError::Empty),
            "an empty client frame must be refused"
        );
        assert_eq!(
            decode_server_binary(&[]),
            Err(DecodeError::Empty),
            "an empty server frame must be refused"
        );
    }

    #[test]
    fn clients_may_only_send_kind_0() {
        for kind in [1u8, 2, 3, 0x7F, 0xFF] {
            let mut data = SPEC_PUSH;
            data[0] = kind;
            assert_eq!(
                decode_binary(Vsn::V2, &data),
                Err(DecodeError::UnknownKind(kind)),
                "client kind {kind} must be refused"
            );
        }
    }

    #[test]
    fn servers_may_only_send_kinds_0_to_2() {
        for kind in [3u8, 4, 0x80, 0xFF] {
            assert_eq!(
                decode_server_binary(&[kind, 0, 0, 0, 0]),
                Err(DecodeError::UnknownKind(kind)),
                "server kind {kind} must be refused"
            );
        }
    }

    /// Cutting a frame anywhere inside its header or fields is `Truncated` (`Empty` at
    /// zero); cutting inside the payload just leaves a shorter payload.
    fn check_every_cut<T: PartialEq + std::fmt::Debug>(
        what: &str,
        full: &[u8],
        fields_end: usize,
        decode: impl Fn(&[u8]) -> Result<T, DecodeError>,
        with_payload: impl Fn(&[u8]) -> T,
    ) {
        for cut in 0..=full.len() {
            let got = decode(&full[..cut]);
            if cut == 0 {
                assert_eq!(
                    got,
                    Err(DecodeError::Empty),
                    "{what} cut to 0 bytes must be empty"
                );
            } else if cut < fields_end {
                assert_eq!(
                    got,
                    Err(DecodeError::Truncated),
                    "{what} cut to {cut} bytes must be truncated"
                );
            } else {
                let want = with_payload(&full[fields_end..cut]);
                assert_eq!(
                    got,
                    Ok(want),
                    "{what} cut to {cut} bytes must keep a {}-byte payload",
                    cut - fields_end
                );
            }
        }
    }

    #[test]
    fn truncated_frames_are_refused_at_every_cut() {
        check_every_cut(
            "client push",
            &SPEC_PUSH,
            19,
            |d| decode_binary(Vsn::V2, d),
            |p| in_frame(Some("3"), Some("5"), "room:1", "upload", p),
        );
        check_every_cut(
            "client push (zero-copy)",
            &SPEC_PUSH,
            19,
            |d| decode_binary_bytes(Vsn::V2, &Bytes::copy_from_slice(d)),
            |p| in_frame(Some("3"), Some("5"), "room:1", "upload", p),
        );

        let push =
            encode_binary_push(Some("3"), "room:1", "tick", &[1, 2, 3]).expect("push encodes");
        check_every_cut(
            "server push",
            &push,
            4 + 1 + 6 + 4,
            decode_server_binary,
            |p| server_frame(Some("3"), None, "room:1", "tick", bin(p)),
        );

        let answer = encode_binary_reply(Some("3"), "12", "room:1", "ok", &[1, 2, 3])
            .expect("reply encodes");
        check_every_cut(
            "server reply",
            &answer,
            5 + 1 + 2 + 6 + 2,
            decode_server_binary,
            |p| server_frame(Some("3"), Some("12"), "room:1", PHX_REPLY, reply("ok", p)),
        );

        let cast =
            encode_binary_broadcast("room:1", "tick", &[1, 2, 3]).expect("broadcast encodes");
        check_every_cut(
            "server broadcast",
            &cast,
            3 + 6 + 4,
            decode_server_binary_bytes_slice,
            |p| server_frame(None, None, "room:1", "tick", bin(p)),
        );
    }

    fn decode_server_binary_bytes_slice(data: &[u8]) -> Result<ServerFrame, DecodeError> {
        decode_server_binary_bytes(&Bytes::copy_from_slice(data))
    }

    #[test]
    fn header_lengths_past_the_end_are_truncated() {
        assert_eq!(
            decode_binary(Vsn::V2, &[0, 255, 255, 255, 255, b'a']),
            Err(DecodeError::Truncated),
            "lengths past the end must be truncated"
        );
        assert_eq!(
            decode_server_binary(&[1, 0, 0, 0, 200]),
            Err(DecodeError::Truncated),
            "a status past the end must be truncated"
        );
    }

    #[test]
    fn invalid_utf8_is_refused_in_every_client_field() {
        // Header [0, 1, 1, 1, 1], then join_ref, ref, topic, event of one byte each.
        for (at, field) in [(5, "join_ref"), (6, "ref"), (7, "topic"), (8, "event")] {
            let mut data = vec![0, 1, 1, 1, 1, b'j', b'r', b't', b'e', 0xFF];
            data[at] = 0xFF;
            assert_eq!(
                decode_binary(Vsn::V2, &data),
                Err(DecodeError::InvalidUtf8 { field }),
                "a 0xFF byte in {field} must be refused"
            );
        }
        // A cut-off multi-byte character is invalid too.
        let data = [0, 0, 1, 2, 1, b'r', 0xC3, 0xA9 /* é */, 0xE2];
        assert_eq!(
            decode_binary(Vsn::V2, &data),
            Err(DecodeError::InvalidUtf8 { field: "event" }),
            "a partial UTF-8 sequence must be refused"
        );
    }

    #[test]
    fn invalid_utf8_is_refused_in_every_server_field() {
        let cases: [(Vec<u8>, &str); 9] = [
            (vec![0, 1, 1, 1, 0xFF, b't', b'e'], "join_ref"),
            (vec![0, 1, 1, 1, b'j', 0xFF, b'e'], "topic"),
            (vec![0, 1, 1, 1, b'j', b't', 0xFF], "event"),
            (vec![1, 1, 1, 1, 1, 0xFF, b'r', b't', b's'], "join_ref"),
            (vec![1, 1, 1, 1, 1, b'j', 0xFF, b't', b's'], "ref"),
            (vec![1, 1, 1, 1, 1, b'j', b'r', 0xFF, b's'], "topic"),
            (vec![1, 1, 1, 1, 1, b'j', b'r', b't', 0xFF], "status"),
            (vec![2, 1, 1, 0xFF, b'e'], "topic"),
            (vec![2, 1, 1, b't', 0xFF], "event"),
        ];
        for (data, field) in cases {
            assert_eq!(
                decode_server_binary(&data),
                Err(DecodeError::InvalidUtf8 { field }),
                "{data:?} must be refused for {field}"
            );
        }
    }

    #[test]
    fn payloads_are_not_checked_for_utf8() {
        let got = decode_binary(Vsn::V2, &[0, 0, 1, 1, 1, b'r', b't', b'e', 0xFF, 0xFE]);
        assert_eq!(
            got,
            Ok(in_frame(None, Some("r"), "t", "e", &[0xFF, 0xFE])),
            "a binary payload is raw bytes"
        );
    }

    #[test]
    fn zero_length_refs_are_none() {
        let got = decode_binary(Vsn::V2, &[0, 0, 0, 1, 1, b't', b'e']);
        assert_eq!(
            got,
            Ok(in_frame(None, None, "t", "e", &[])),
            "zero-length join_ref and ref must decode as None"
        );
    }

    #[test]
    fn fields_over_255_bytes_are_refused_on_encode() {
        let long = "x".repeat(256);
        let wide = "é".repeat(128); // 128 characters, 256 bytes
        let too_long = |field| Err(EncodeError::FieldTooLong { field, len: 256 });
        let cases = [
            (
                encode_client_binary(Some(&long), "1", "t", "e", b""),
                too_long("join_ref"),
            ),
            (
                encode_client_binary(None, &long, "t", "e", b""),
                too_long("ref"),
            ),
            (
                encode_client_binary(None, "1", &long, "e", b""),
                too_long("topic"),
            ),
            (
                encode_client_binary(None, "1", "t", &wide, b""),
                too_long("event"),
            ),
            (
                encode_binary_push(Some(&long), "t", "e", b""),
                too_long("join_ref"),
            ),
            (encode_binary_push(None, &wide, "e", b""), too_long("topic")),
            (encode_binary_push(None, "t", &long, b""), too_long("event")),
            (
                encode_binary_reply(Some(&long), "1", "t", "ok", b""),
                too_long("join_ref"),
            ),
            (
                encode_binary_reply(None, &long, "t", "ok", b""),
                too_long("ref"),
            ),
            (
                encode_binary_reply(None, "1", &long, "ok", b""),
                too_long("topic"),
            ),
            (
                encode_binary_reply(None, "1", "t", &long, b""),
                too_long("status"),
            ),
            (encode_binary_broadcast(&long, "e", b""), too_long("topic")),
            (encode_binary_broadcast("t", &wide, b""), too_long("event")),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                got, want,
                "case {i}: a 256-byte field must be refused with {want:?}"
            );
        }
        let edge = "x".repeat(255);
        assert!(
            encode_binary_broadcast(&edge, &edge, &[0; 100_000]).is_ok(),
            "255-byte fields and large payloads must encode"
        );
    }

    /// Every 1- and 2-byte input, every 3-byte one of kind 0 to 3, and pseudo-random
    /// longer ones decode to `Ok` or `Err` without panicking.
    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut buf = Vec::with_capacity(3);
        for len in 1..=3usize {
            for n in 0..(1u32 << (8 * len)) {
                buf.clear();
                buf.extend_from_slice(&n.to_le_bytes()[..len]);
                // Past two bytes, only the kinds with a meaning are worth the time.
                if len == 3 && buf[0] > KIND_BROADCAST + 1 {
                    continue;
                }
                let _ = decode_binary(Vsn::V2, &buf);
                let _ = decode_server_binary(&buf);
            }
        }
        // xorshift: deterministic, no dependency.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 64) as usize;
            let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(kind) = data.first_mut() {
                *kind %= 4;
            }
            for header in data.iter_mut().skip(1).take(4) {
                *header %= 16;
            }
            let _ = decode_binary(Vsn::V2, &data);
            let _ = decode_server_binary_bytes(&Bytes::from(data));
        }
    }
}
