//! Text frames: V2 arrays and V1 objects, both directions.
//!
//! Decoding parses the whole frame into a `serde_json::Value` once and then *moves* the
//! envelope fields out of it, so the payload is never cloned or re-parsed. Encoding
//! writes the envelope by hand around a payload the caller serialized earlier, into a
//! `String` allocated at its exact final length.

use serde_json::{Map, Value};

use super::error::DecodeError;
use super::escape::{opt_quoted_len, push_opt_quoted, push_quoted, quoted_len};
use super::{InFrame, InPayload, ServerFrame, ServerPayload, Vsn};

const STRING: &str = "a string";
const STRING_OR_NULL: &str = "a string or null";

/// The five envelope fields of a text frame, whichever format carried them.
struct Envelope {
    join_ref: Option<String>,
    msg_ref: Option<String>,
    topic: String,
    event: String,
    payload: Value,
}

impl Envelope {
    fn into_in_frame(self) -> InFrame {
        InFrame {
            join_ref: self.join_ref,
            msg_ref: self.msg_ref,
            topic: self.topic,
            event: self.event,
            payload: InPayload::Json(self.payload),
        }
    }
}

/// Decodes a client text frame in the connection's format.
///
/// V2 accepts arrays of five or more elements (Phoenix ignores extras, so we do too);
/// V1 needs an object with `topic`, `event`, `payload` and `ref`, and an optional
/// `join_ref`. In both, refs must be strings or null, topic and event strings, and the
/// payload may be any JSON.
pub fn decode_text(vsn: Vsn, text: &str) -> Result<InFrame, DecodeError> {
    let envelope = match vsn {
        Vsn::V2 => decode_v2(text)?,
        Vsn::V1 => decode_v1(text)?,
    };
    Ok(envelope.into_in_frame())
}

/// Decodes a V2 text frame sent by the server, as the JS client does.
pub fn decode_server_text(text: &str) -> Result<ServerFrame, DecodeError> {
    let envelope = decode_v2(text)?;
    Ok(ServerFrame {
        join_ref: envelope.join_ref,
        msg_ref: envelope.msg_ref,
        topic: envelope.topic,
        event: envelope.event,
        payload: ServerPayload::Json(envelope.payload),
    })
}

fn parse_json(text: &str) -> Result<Value, DecodeError> {
    if text.trim_ascii().is_empty() {
        return Err(DecodeError::Empty);
    }
    // serde_json caps nesting at 128 levels, so hostile input cannot overflow the stack.
    serde_json::from_str(text).map_err(|err| DecodeError::InvalidJson(err.to_string()))
}

fn decode_v2(text: &str) -> Result<Envelope, DecodeError> {
    let Value::Array(mut items) = parse_json(text)? else {
        return Err(DecodeError::NotAnArray);
    };
    let len = items.len();
    items.truncate(5);
    let Ok([join_ref, msg_ref, topic, event, payload]) = <[Value; 5]>::try_from(items) else {
        return Err(DecodeError::WrongArity { len });
    };
    Ok(Envelope {
        join_ref: opt_string(join_ref, "join_ref")?,
        msg_ref: opt_string(msg_ref, "ref")?,
        topic: string(topic, "topic")?,
        event: string(event, "event")?,
        payload,
    })
}

fn decode_v1(text: &str) -> Result<Envelope, DecodeError> {
    let Value::Object(mut map) = parse_json(text)? else {
        return Err(DecodeError::NotAnObject);
    };
    let topic = required(&mut map, "topic")?;
    let event = required(&mut map, "event")?;
    let payload = required(&mut map, "payload")?;
    let msg_ref = required(&mut map, "ref")?;
    let join_ref = map.remove("join_ref").unwrap_or(Value::Null);
    Ok(Envelope {
        join_ref: opt_string(join_ref, "join_ref")?,
        msg_ref: opt_string(msg_ref, "ref")?,
        topic: string(topic, "topic")?,
        event: string(event, "event")?,
        payload,
    })
}

fn required(map: &mut Map<String, Value>, field: &'static str) -> Result<Value, DecodeError> {
    map.remove(field).ok_or(DecodeError::MissingField { field })
}

fn string(value: Value, field: &'static str) -> Result<String, DecodeError> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err(DecodeError::FieldType {
            field,
            expected: STRING,
        }),
    }
}

fn opt_string(value: Value, field: &'static str) -> Result<Option<String>, DecodeError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(DecodeError::FieldType {
            field,
            expected: STRING_OR_NULL,
        }),
    }
}

/// Recovers `(join_ref, ref, topic)` from a frame [`decode_text`] refused, so the server
/// can answer with an error reply the client will match instead of closing the socket.
///
/// Works on any JSON array (positions 0, 1, 2) or object (keys `join_ref`, `ref`,
/// `topic`) whose ref and topic are strings; a join_ref that is not a string is `None`.
/// Anything else (not JSON, a null or numeric ref, …) gives `None`: no reply can be
/// matched to it, so the caller should drop the frame or close.
pub fn salvage_ref_topic(text: &str) -> Option<(Option<String>, String, String)> {
    let value: Value = serde_json::from_str(text).ok()?;
    let (join_ref, msg_ref, topic) = match &value {
        Value::Array(items) => (items.first(), items.get(1), items.get(2)),
        Value::Object(map) => (map.get("join_ref"), map.get("ref"), map.get("topic")),
        _ => return None,
    };
    let msg_ref = msg_ref?.as_str()?;
    let topic = topic?.as_str()?;
    let join_ref = join_ref.and_then(Value::as_str);
    Some((
        join_ref.map(str::to_owned),
        msg_ref.to_owned(),
        topic.to_owned(),
    ))
}

/// Encodes a server frame in the connection's format.
///
/// V2: `[join_ref, ref, topic, event, payload]` with `null` for `None`.
/// V1: `{"topic":T,"event":E,"payload":P,"ref":R}`; V1 has no join_ref, so it is dropped.
///
/// `payload_json` must already be valid JSON (an object, for the official client); it is
/// copied verbatim, which is what lets a broadcast be serialized once for everyone.
pub fn encode_text(
    vsn: Vsn,
    join_ref: Option<&str>,
    msg_ref: Option<&str>,
    topic: &str,
    event: &str,
    payload_json: &str,
) -> String {
    match vsn {
        Vsn::V2 => encode_v2(join_ref, msg_ref, topic, event, payload_json),
        Vsn::V1 => encode_v1(msg_ref, topic, event, payload_json),
    }
}

/// Encodes a client frame; clients speak V2, so this is V2 [`encode_text`].
pub fn encode_client_text(
    join_ref: Option<&str>,
    msg_ref: Option<&str>,
    topic: &str,
    event: &str,
    payload_json: &str,
) -> String {
    encode_v2(join_ref, msg_ref, topic, event, payload_json)
}

/// The `phx_reply` payload `{"status":S,"response":R}`; `response_json` must be valid
/// JSON (the official client expects an object).
pub fn reply_payload_json(status: &str, response_json: &str) -> String {
    const OPEN: &str = "{\"status\":";
    const RESPONSE: &str = ",\"response\":";
    const CLOSE: &str = "}";
    let len = OPEN.len() + quoted_len(status) + RESPONSE.len() + response_json.len() + CLOSE.len();
    let mut out = String::with_capacity(len);
    out.push_str(OPEN);
    push_quoted(&mut out, status);
    out.push_str(RESPONSE);
    out.push_str(response_json);
    out.push_str(CLOSE);
    out
}

fn encode_v2(
    join_ref: Option<&str>,
    msg_ref: Option<&str>,
    topic: &str,
    event: &str,
    payload_json: &str,
) -> String {
    // `[` + four `,` + `]`.
    const PUNCTUATION: usize = 6;
    let len = PUNCTUATION
        + opt_quoted_len(join_ref)
        + opt_quoted_len(msg_ref)
        + quoted_len(topic)
        + quoted_len(event)
        + payload_json.len();
    let mut out = String::with_capacity(len);
    out.push('[');
    push_opt_quoted(&mut out, join_ref);
    out.push(',');
    push_opt_quoted(&mut out, msg_ref);
    out.push(',');
    push_quoted(&mut out, topic);
    out.push(',');
    push_quoted(&mut out, event);
    out.push(',');
    out.push_str(payload_json);
    out.push(']');
    out
}

fn encode_v1(msg_ref: Option<&str>, topic: &str, event: &str, payload_json: &str) -> String {
    const TOPIC: &str = "{\"topic\":";
    const EVENT: &str = ",\"event\":";
    const PAYLOAD: &str = ",\"payload\":";
    const REF: &str = ",\"ref\":";
    const CLOSE: &str = "}";
    let len = TOPIC.len()
        + quoted_len(topic)
        + EVENT.len()
        + quoted_len(event)
        + PAYLOAD.len()
        + payload_json.len()
        + REF.len()
        + opt_quoted_len(msg_ref)
        + CLOSE.len();
    let mut out = String::with_capacity(len);
    out.push_str(TOPIC);
    push_quoted(&mut out, topic);
    out.push_str(EVENT);
    push_quoted(&mut out, event);
    out.push_str(PAYLOAD);
    out.push_str(payload_json);
    out.push_str(REF);
    push_opt_quoted(&mut out, msg_ref);
    out.push_str(CLOSE);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn frame(
        join_ref: Option<&str>,
        msg_ref: Option<&str>,
        topic: &str,
        event: &str,
        payload: Value,
    ) -> InFrame {
        InFrame {
            join_ref: join_ref.map(str::to_owned),
            msg_ref: msg_ref.map(str::to_owned),
            topic: topic.to_owned(),
            event: event.to_owned(),
            payload: InPayload::Json(payload),
        }
    }

    fn field_type(field: &'static str, expected: &'static str) -> DecodeError {
        DecodeError::FieldType { field, expected }
    }

    // ---- V2 decode -------------------------------------------------------------

    /// The client lines of the transcript in PHOENIX_PROTOCOL.md §2.1.
    #[test]
    fn v2_decodes_the_transcript_client_lines() {
        let cases = [
            (
                r#"["3","3","room:1","phx_join",{"nick":"bob"}]"#,
                frame(
                    Some("3"),
                    Some("3"),
                    "room:1",
                    "phx_join",
                    json!({"nick": "bob"}),
                ),
            ),
            (
                r#"["3","4","room:1","move",{"x":1}]"#,
                frame(Some("3"), Some("4"), "room:1", "move", json!({"x": 1})),
            ),
            (
                r#"[null,"6","phoenix","heartbeat",{}]"#,
                frame(None, Some("6"), "phoenix", "heartbeat", json!({})),
            ),
            (
                r#"["3","7","room:1","phx_leave",{}]"#,
                frame(Some("3"), Some("7"), "room:1", "phx_leave", json!({})),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(
                decode_text(Vsn::V2, text),
                Ok(want),
                "{text} must decode as V2"
            );
        }
    }

    #[test]
    fn v2_accepts_any_json_payload() {
        for payload in [
            json!(null),
            json!(1.5),
            json!("s"),
            json!([1, [2]]),
            json!(true),
            json!({"a": {"b": []}}),
        ] {
            let text = format!(r#"["1","2","t","e",{payload}]"#);
            let got = decode_text(Vsn::V2, &text).map(|f| f.payload);
            assert_eq!(
                got,
                Ok(InPayload::Json(payload.clone())),
                "payload {payload} must be accepted as is"
            );
        }
    }

    #[test]
    fn v2_ignores_elements_past_the_fifth() {
        let got = decode_text(
            Vsn::V2,
            r#"["1","2","room:1","move",{"x":1},"extra",{"y":2}]"#,
        );
        assert_eq!(
            got,
            Ok(frame(
                Some("1"),
                Some("2"),
                "room:1",
                "move",
                json!({"x": 1})
            )),
            "a 6+ element array must decode from its first five elements"
        );
        let six = decode_text(Vsn::V2, r#"[null,null,"t","e",{},null]"#);
        assert_eq!(
            six,
            Ok(frame(None, None, "t", "e", json!({}))),
            "a 6-element array must be accepted"
        );
    }

    #[test]
    fn v2_tolerates_json_whitespace() {
        let got = decode_text(Vsn::V2, " \n[ \"1\" ,\t\"2\" , \"t\" , \"e\" , { } ]\r\n ");
        assert_eq!(
            got,
            Ok(frame(Some("1"), Some("2"), "t", "e", json!({}))),
            "whitespace between tokens must be allowed"
        );
    }

    #[test]
    fn v2_refuses_empty_frames() {
        for text in ["", " ", "\n\t\r "] {
            assert_eq!(
                decode_text(Vsn::V2, text),
                Err(DecodeError::Empty),
                "{text:?} must be an empty frame"
            );
            assert_eq!(
                decode_text(Vsn::V1, text),
                Err(DecodeError::Empty),
                "{text:?} must be an empty frame on V1 too"
            );
        }
    }

    #[test]
    fn v2_refuses_text_that_is_not_json() {
        for text in [
            "nope",
            "[",
            "[\"1\",",
            "{",
            "[1,2,3,4,5] x",
            "['1','1','t','e',{}]",
            "[\"\u{1}\",null,\"t\",\"e\",{}]",
        ] {
            let got = decode_text(Vsn::V2, text);
            assert!(
                matches!(got, Err(DecodeError::InvalidJson(_))),
                "{text:?} must be invalid JSON, got {got:?}"
            );
        }
    }

    #[test]
    fn v2_refuses_deep_nesting_without_overflowing_the_stack() {
        let text = format!(
            "[null,null,\"t\",\"e\",{}{}]",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let got = decode_text(Vsn::V2, &text);
        assert!(
            matches!(got, Err(DecodeError::InvalidJson(_))),
            "100k nested arrays must hit the recursion limit, got {got:?}"
        );
        if let Err(err) = got {
            assert!(
                err.to_string().len() <= 123,
                "the message {err} must fit in a close reason"
            );
        }
    }

    #[test]
    fn v2_refuses_json_that_is_not_an_array() {
        for text in ["{}", "\"str\"", "42", "null", "true"] {
            assert_eq!(
                decode_text(Vsn::V2, text),
                Err(DecodeError::NotAnArray),
                "{text} must be refused as not an array"
            );
        }
    }

    #[test]
    fn v2_refuses_a_v1_object() {
        let v1 = r#"{"topic":"room:1","event":"phx_join","payload":{},"ref":"1"}"#;
        assert_eq!(
            decode_text(Vsn::V2, v1),
            Err(DecodeError::NotAnArray),
            "a V1 object on a V2 socket must be refused"
        );
    }

    #[test]
    fn v2_refuses_fewer_than_five_elements() {
        for (text, len) in [("[]", 0), ("[null]", 1), (r#"["1","1","t","e"]"#, 4)] {
            assert_eq!(
                decode_text(Vsn::V2, text),
                Err(DecodeError::WrongArity { len }),
                "{text} must be refused with len {len}"
            );
        }
    }

    #[test]
    fn v2_refuses_wrong_field_types() {
        let cases = [
            (r#"["1",2,"t","e",{}]"#, field_type("ref", STRING_OR_NULL)),
            (
                r#"["1",true,"t","e",{}]"#,
                field_type("ref", STRING_OR_NULL),
            ),
            (
                r#"[1,"2","t","e",{}]"#,
                field_type("join_ref", STRING_OR_NULL),
            ),
            (
                r#"[["1"],"2","t","e",{}]"#,
                field_type("join_ref", STRING_OR_NULL),
            ),
            (r#"["1","2",{"t":1},"e",{}]"#, field_type("topic", STRING)),
            (r#"["1","2",null,"e",{}]"#, field_type("topic", STRING)),
            (r#"["1","2",7,"e",{}]"#, field_type("topic", STRING)),
            (r#"["1","2","t",null,{}]"#, field_type("event", STRING)),
            (r#"["1","2","t",3,{}]"#, field_type("event", STRING)),
        ];
        for (text, want) in cases {
            assert_eq!(
                decode_text(Vsn::V2, text),
                Err(want.clone()),
                "{text} must be refused with {want}"
            );
        }
    }

    #[test]
    fn v2_keeps_unicode_and_escapes() {
        let text = r#"["j\"1","r\\2","räum:🎮\n","évent\u0001",{"k":"v"}]"#;
        let want = frame(
            Some("j\"1"),
            Some("r\\2"),
            "räum:🎮\n",
            "évent\u{1}",
            json!({"k": "v"}),
        );
        assert_eq!(
            decode_text(Vsn::V2, text),
            Ok(want),
            "escaped and non-ASCII fields must decode to their text"
        );
    }

    #[test]
    fn v2_keeps_an_empty_join_ref_as_given() {
        let got = decode_text(Vsn::V2, r#"["","1","t","e",{}]"#).map(|f| f.join_ref);
        assert_eq!(
            got,
            Ok(Some(String::new())),
            "an empty-string join_ref in text is kept, not turned into None"
        );
    }

    // ---- V1 decode -------------------------------------------------------------

    #[test]
    fn v1_decodes_objects() {
        let cases = [
            (
                r#"{"topic":"room:1","event":"phx_join","payload":{"a":1},"ref":"1"}"#,
                frame(None, Some("1"), "room:1", "phx_join", json!({"a": 1})),
            ),
            (
                r#"{"ref":"2","payload":{},"event":"move","topic":"room:1","join_ref":"1"}"#,
                frame(Some("1"), Some("2"), "room:1", "move", json!({})),
            ),
            (
                r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":null,"join_ref":null,"extra":1}"#,
                frame(None, None, "phoenix", "heartbeat", json!({})),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(
                decode_text(Vsn::V1, text),
                Ok(want),
                "{text} must decode as V1"
            );
        }
    }

    #[test]
    fn v1_refuses_missing_fields() {
        let full = json!({"topic": "t", "event": "e", "payload": {}, "ref": "1"});
        for field in ["topic", "event", "payload", "ref"] {
            let mut partial = full.clone();
            if let Value::Object(map) = &mut partial {
                map.remove(field);
            }
            assert_eq!(
                decode_text(Vsn::V1, &partial.to_string()),
                Err(DecodeError::MissingField { field }),
                "a V1 object without {field} must be refused"
            );
        }
    }

    #[test]
    fn v1_refuses_non_objects_and_bad_types() {
        assert_eq!(
            decode_text(Vsn::V1, r#"["1","1","t","e",{}]"#),
            Err(DecodeError::NotAnObject),
            "a V2 array on a V1 socket must be refused"
        );
        let cases = [
            (
                r#"{"topic":"t","event":"e","payload":{},"ref":1}"#,
                field_type("ref", STRING_OR_NULL),
            ),
            (
                r#"{"topic":"t","event":"e","payload":{},"ref":"1","join_ref":5}"#,
                field_type("join_ref", STRING_OR_NULL),
            ),
            (
                r#"{"topic":null,"event":"e","payload":{},"ref":"1"}"#,
                field_type("topic", STRING),
            ),
            (
                r#"{"topic":"t","event":{},"payload":{},"ref":"1"}"#,
                field_type("event", STRING),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(
                decode_text(Vsn::V1, text),
                Err(want.clone()),
                "{text} must be refused with {want}"
            );
        }
    }

    // ---- encode ----------------------------------------------------------------

    /// Every server line of the transcript in PHOENIX_PROTOCOL.md §2.1, byte for byte
    /// (the elided `presence_state` payload is filled in).
    #[test]
    fn v2_encodes_the_transcript_server_lines() {
        let ok_empty = reply_payload_json("ok", "{}");
        let cases = [
            (
                encode_text(
                    Vsn::V2,
                    Some("3"),
                    Some("3"),
                    "room:1",
                    "phx_reply",
                    &ok_empty,
                ),
                r#"["3","3","room:1","phx_reply",{"status":"ok","response":{}}]"#,
            ),
            (
                encode_text(
                    Vsn::V2,
                    Some("3"),
                    None,
                    "room:1",
                    "presence_state",
                    r#"{"u1":{"metas":[]}}"#,
                ),
                r#"["3",null,"room:1","presence_state",{"u1":{"metas":[]}}]"#,
            ),
            (
                encode_text(
                    Vsn::V2,
                    Some("3"),
                    Some("4"),
                    "room:1",
                    "phx_reply",
                    &reply_payload_json("ok", r#"{"seq":9}"#),
                ),
                r#"["3","4","room:1","phx_reply",{"status":"ok","response":{"seq":9}}]"#,
            ),
            (
                encode_text(Vsn::V2, None, None, "room:1", "moved", r#"{"x":1}"#),
                r#"[null,null,"room:1","moved",{"x":1}]"#,
            ),
            (
                encode_text(Vsn::V2, None, Some("6"), "phoenix", "phx_reply", &ok_empty),
                r#"[null,"6","phoenix","phx_reply",{"status":"ok","response":{}}]"#,
            ),
            (
                encode_text(
                    Vsn::V2,
                    Some("3"),
                    Some("7"),
                    "room:1",
                    "phx_reply",
                    &ok_empty,
                ),
                r#"["3","7","room:1","phx_reply",{"status":"ok","response":{}}]"#,
            ),
            (
                encode_text(Vsn::V2, Some("3"), Some("3"), "room:1", "phx_close", "{}"),
                r#"["3","3","room:1","phx_close",{}]"#,
            ),
        ];
        for (got, want) in cases {
            assert_eq!(
                got, want,
                "server frame must be written exactly as in the transcript"
            );
            assert_eq!(
                got.capacity(),
                got.len(),
                "{want} must be allocated at its exact length"
            );
        }
    }

    /// Every client line of the transcript, byte for byte.
    #[test]
    fn client_encodes_the_transcript_client_lines() {
        let cases = [
            (
                encode_client_text(
                    Some("3"),
                    Some("3"),
                    "room:1",
                    "phx_join",
                    r#"{"nick":"bob"}"#,
                ),
                r#"["3","3","room:1","phx_join",{"nick":"bob"}]"#,
            ),
            (
                encode_client_text(Some("3"), Some("4"), "room:1", "move", r#"{"x":1}"#),
                r#"["3","4","room:1","move",{"x":1}]"#,
            ),
            (
                encode_client_text(None, Some("6"), "phoenix", "heartbeat", "{}"),
                r#"[null,"6","phoenix","heartbeat",{}]"#,
            ),
            (
                encode_client_text(Some("3"), Some("7"), "room:1", "phx_leave", "{}"),
                r#"["3","7","room:1","phx_leave",{}]"#,
            ),
        ];
        for (got, want) in cases {
            assert_eq!(
                got, want,
                "client frame must be written exactly as in the transcript"
            );
        }
    }

    #[test]
    fn v1_encodes_objects_without_join_ref() {
        let reply = encode_text(
            Vsn::V1,
            Some("3"),
            Some("4"),
            "room:1",
            "phx_reply",
            &reply_payload_json("ok", "{}"),
        );
        assert_eq!(
            reply,
            r#"{"topic":"room:1","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"4"}"#,
            "a V1 reply must be an object with ref and no join_ref"
        );
        assert_eq!(
            reply.capacity(),
            reply.len(),
            "a V1 frame must be allocated at its exact length"
        );
        let push = encode_text(Vsn::V1, Some("3"), None, "room:1", "moved", r#"{"x":1}"#);
        assert_eq!(
            push, r#"{"topic":"room:1","event":"moved","payload":{"x":1},"ref":null}"#,
            "a V1 push must carry ref null"
        );
    }

    #[test]
    fn reply_payload_is_status_and_response() {
        let got = reply_payload_json("error", r#"{"reason":"unmatched topic"}"#);
        assert_eq!(
            got, r#"{"status":"error","response":{"reason":"unmatched topic"}}"#,
            "reply payload must be {{status, response}}"
        );
        assert_eq!(
            got.capacity(),
            got.len(),
            "the reply payload must be allocated at its exact length"
        );
        let odd = reply_payload_json("we\"ird\n", "{}");
        assert_eq!(
            serde_json::from_str::<Value>(&odd).ok(),
            Some(json!({"status": "we\"ird\n", "response": {}})),
            "a status with quotes and newlines must be escaped"
        );
    }

    // ---- round trips -----------------------------------------------------------

    #[test]
    fn text_round_trips_in_both_versions() {
        let topics = ["room:1", "räum:ü", "🎮:∞", "q\"uo\\te\u{0}\u{1f}\u{7f}", ""];
        let refs = [None, Some("1"), Some(""), Some("ref \"x\"")];
        for topic in topics {
            for join_ref in refs {
                for msg_ref in refs {
                    let event = format!("ev:{topic}");
                    let payload = json!({"topic": topic, "n": [1, 2.5, null]});
                    let text = encode_text(
                        Vsn::V2,
                        join_ref,
                        msg_ref,
                        topic,
                        &event,
                        &payload.to_string(),
                    );
                    let want = frame(join_ref, msg_ref, topic, &event, payload.clone());
                    assert_eq!(
                        decode_text(Vsn::V2, &text),
                        Ok(want.clone()),
                        "V2 {text} must decode to what was encoded"
                    );
                    assert_eq!(
                        text.capacity(),
                        text.len(),
                        "V2 {text} must be allocated at its exact length"
                    );

                    let text = encode_text(
                        Vsn::V1,
                        join_ref,
                        msg_ref,
                        topic,
                        &event,
                        &payload.to_string(),
                    );
                    let want = InFrame {
                        join_ref: None,
                        ..want
                    };
                    assert_eq!(
                        decode_text(Vsn::V1, &text),
                        Ok(want),
                        "V1 {text} must decode to what was encoded, minus join_ref"
                    );
                    assert_eq!(
                        text.capacity(),
                        text.len(),
                        "V1 {text} must be allocated at its exact length"
                    );
                }
            }
        }
    }

    #[test]
    fn server_text_decodes_what_the_server_encodes() {
        let text = encode_text(
            Vsn::V2,
            Some("3"),
            Some("4"),
            "room:1",
            "phx_reply",
            &reply_payload_json("ok", r#"{"seq":9}"#),
        );
        let want = ServerFrame {
            join_ref: Some("3".into()),
            msg_ref: Some("4".into()),
            topic: "room:1".into(),
            event: "phx_reply".into(),
            payload: ServerPayload::Json(json!({"status": "ok", "response": {"seq": 9}})),
        };
        assert_eq!(
            decode_server_text(&text),
            Ok(want),
            "a client must read back the server's reply"
        );
        assert_eq!(
            decode_server_text("{}"),
            Err(DecodeError::NotAnArray),
            "a client must refuse a non-array"
        );
    }

    // ---- salvage ---------------------------------------------------------------

    #[test]
    fn salvage_recovers_ref_and_topic_from_bad_frames() {
        let owned = |j: Option<&str>, r: &str, t: &str| {
            Some((j.map(str::to_owned), r.to_owned(), t.to_owned()))
        };
        let cases = [
            (
                r#"["3","4","room:1","move"]"#,
                owned(Some("3"), "4", "room:1"),
            ),
            (r#"[null,"4","room:1",5,{}]"#, owned(None, "4", "room:1")),
            (r#"[7,"4","room:1"]"#, owned(None, "4", "room:1")),
            (
                r#"{"ref":"9","topic":"lobby:main","join_ref":"1"}"#,
                owned(Some("1"), "9", "lobby:main"),
            ),
            (r#"["3",4,"room:1","move",{}]"#, None),
            (r#"["3",null,"room:1","move",{}]"#, None),
            (r#"["3","4",{},"move",{}]"#, None),
            (r#"["3","4"]"#, None),
            ("[]", None),
            ("\"str\"", None),
            ("not json", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(
                salvage_ref_topic(text),
                want,
                "salvage of {text:?} must give {want:?}"
            );
        }
    }
}
