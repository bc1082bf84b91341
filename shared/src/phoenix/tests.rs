//! End-to-end round trips across both sides of the socket: what a client encodes the
//! server decodes, and what the server encodes a client decodes, for every frame shape
//! of PHOENIX_PROTOCOL.md §2.1 and §3.

use bytes::Bytes;
use serde_json::{Value, json};

use super::*;

/// One row of the §2.1 frame table, as the server sends it.
struct ServerShape {
    what: &'static str,
    join_ref: Option<&'static str>,
    msg_ref: Option<&'static str>,
    topic: &'static str,
    event: &'static str,
    payload: Value,
}

fn server_shapes() -> Vec<ServerShape> {
    let shape = |what, join_ref, msg_ref, topic, event, payload| ServerShape {
        what,
        join_ref,
        msg_ref,
        topic,
        event,
        payload,
    };
    vec![
        shape(
            "reply",
            Some("3"),
            Some("4"),
            "room:1",
            PHX_REPLY,
            json!({"status": "ok", "response": {"seq": 9}}),
        ),
        shape(
            "heartbeat reply",
            None,
            Some("6"),
            "phoenix",
            PHX_REPLY,
            json!({"status": "ok", "response": {}}),
        ),
        shape(
            "push",
            Some("3"),
            None,
            "room:1",
            "presence_state",
            json!({"u1": {"metas": [{"phx_ref": "GH7p"}]}}),
        ),
        shape("broadcast", None, None, "room:1", "moved", json!({"x": 1})),
        shape(
            "phx_close",
            Some("3"),
            Some("3"),
            "room:1",
            "phx_close",
            json!({}),
        ),
        shape(
            "phx_error",
            Some("3"),
            Some("3"),
            "room:1",
            "phx_error",
            json!({"reason": "channel_crash"}),
        ),
        shape(
            "unmatched topic",
            None,
            Some("8"),
            "nope:1",
            PHX_REPLY,
            json!({"status": "error", "response": {"reason": "unmatched topic"}}),
        ),
        shape(
            "unicode",
            Some("3"),
            None,
            "räum:🎮",
            "évent:ü",
            json!({"name": "Zoë \"Z\" 🐍\n"}),
        ),
    ]
}

#[test]
fn every_server_text_shape_reaches_the_client() {
    for s in server_shapes() {
        let text = encode_text(
            Vsn::V2,
            s.join_ref,
            s.msg_ref,
            s.topic,
            s.event,
            &s.payload.to_string(),
        );
        let want = ServerFrame {
            join_ref: s.join_ref.map(str::to_owned),
            msg_ref: s.msg_ref.map(str::to_owned),
            topic: s.topic.to_owned(),
            event: s.event.to_owned(),
            payload: ServerPayload::Json(s.payload.clone()),
        };
        assert_eq!(
            decode_server_text(&text),
            Ok(want),
            "the server's {} must reach the client intact",
            s.what
        );
    }
}

#[test]
fn replies_built_with_reply_payload_json_reach_the_client() {
    let payload = reply_payload_json("custom_status", r#"{"a":[1,2]}"#);
    let text = encode_text(
        Vsn::V2,
        Some("1"),
        Some("2"),
        "lobby:main",
        PHX_REPLY,
        &payload,
    );
    let frame = decode_server_text(&text).map(|f| f.payload);
    assert_eq!(
        frame,
        Ok(ServerPayload::Json(
            json!({"status": "custom_status", "response": {"a": [1, 2]}})
        )),
        "a reply must arrive as {{status, response}}"
    );
}

/// One row of the §2.1 frame table, as the client sends it.
#[test]
fn every_client_text_shape_reaches_the_server() {
    let shapes = [
        (
            "join",
            Some("3"),
            Some("3"),
            "room:1",
            "phx_join",
            json!({"as": "player"}),
        ),
        (
            "push",
            Some("3"),
            Some("4"),
            "room:1",
            "input",
            json!({"turn": -1}),
        ),
        (
            "leave",
            Some("3"),
            Some("7"),
            "room:1",
            "phx_leave",
            json!({}),
        ),
        (
            "heartbeat",
            None,
            Some("6"),
            "phoenix",
            "heartbeat",
            json!({}),
        ),
        (
            "unicode",
            Some("3"),
            Some("9"),
            "räum:🎮",
            "chät",
            json!({"body": "héllo \u{0} \"q\""}),
        ),
    ];
    for (what, join_ref, msg_ref, topic, event, payload) in shapes {
        let text = encode_client_text(join_ref, msg_ref, topic, event, &payload.to_string());
        let want = InFrame {
            join_ref: join_ref.map(str::to_owned),
            msg_ref: msg_ref.map(str::to_owned),
            topic: topic.to_owned(),
            event: event.to_owned(),
            payload: InPayload::Json(payload.clone()),
        };
        assert_eq!(
            decode_text(Vsn::V2, &text),
            Ok(want),
            "the client's {what} must reach the server intact"
        );
    }
}

#[test]
fn client_binary_push_reaches_the_server() {
    let data = encode_client_binary(Some("3"), "5", "room:1", "upload", &[9, 8, 7])
        .expect("short fields encode");
    let want = InFrame {
        join_ref: Some("3".into()),
        msg_ref: Some("5".into()),
        topic: "room:1".into(),
        event: "upload".into(),
        payload: InPayload::Binary(Bytes::from_static(&[9, 8, 7])),
    };
    assert_eq!(
        decode_binary(Vsn::V2, &data),
        Ok(want.clone()),
        "a binary push must reach the server intact"
    );
    assert_eq!(
        decode_binary_bytes(Vsn::V2, &data),
        Ok(want),
        "and through the zero-copy decoder too"
    );
}

#[test]
fn every_server_binary_shape_reaches_the_client() {
    let msgpack = rmp_serde::to_vec_named(&json!({"tick": 42, "curves": []}))
        .expect("a JSON value serializes to MessagePack");
    let cases = [
        (
            "push",
            encode_binary_push(Some("3"), "room:1", "snapshot", &msgpack),
            ServerFrame {
                join_ref: Some("3".into()),
                msg_ref: None,
                topic: "room:1".into(),
                event: "snapshot".into(),
                payload: ServerPayload::Binary(Bytes::from(msgpack.clone())),
            },
        ),
        (
            "reply",
            encode_binary_reply(Some("3"), "4", "room:1", "ok", &msgpack),
            ServerFrame {
                join_ref: Some("3".into()),
                msg_ref: Some("4".into()),
                topic: "room:1".into(),
                event: PHX_REPLY.into(),
                payload: ServerPayload::BinaryReply {
                    status: "ok".into(),
                    response: Bytes::from(msgpack.clone()),
                },
            },
        ),
        (
            "broadcast",
            encode_binary_broadcast("room:1", "tick", &msgpack),
            ServerFrame {
                join_ref: None,
                msg_ref: None,
                topic: "room:1".into(),
                event: "tick".into(),
                payload: ServerPayload::Binary(Bytes::from(msgpack.clone())),
            },
        ),
    ];
    for (what, data, want) in cases {
        let data = data.expect("short fields encode");
        assert_eq!(
            decode_server_binary(&data),
            Ok(want.clone()),
            "the server's binary {what} must reach the client intact"
        );
        assert_eq!(
            decode_server_binary_bytes(&data),
            Ok(want),
            "the server's binary {what} must survive the zero-copy decoder"
        );
    }
}

#[test]
fn a_malformed_frame_can_still_get_an_error_reply() {
    // The server's path for a JSON frame it cannot decode: salvage the ref, reply error.
    let bad = r#"["3","4","room:1",42,{}]"#;
    let err = decode_text(Vsn::V2, bad).expect_err("a numeric event must be refused");
    let (join_ref, msg_ref, topic) =
        salvage_ref_topic(bad).expect("ref and topic are readable strings");
    let response = serde_json::to_string(&json!({"reason": err.to_string()}))
        .expect("a JSON value serializes");
    let text = encode_text(
        Vsn::V2,
        join_ref.as_deref(),
        Some(&msg_ref),
        &topic,
        PHX_REPLY,
        &reply_payload_json("error", &response),
    );
    assert_eq!(
        text,
        r#"["3","4","room:1","phx_reply",{"status":"error","response":{"reason":"event must be a string"}}]"#,
        "a malformed push must be answered with an error reply on its ref"
    );
}
