//! Client events of every topic and room join params, as the socket decodes them: the
//! first byte picks the event name, the rest is the JSON payload (or binary, when it is
//! not JSON).
#![no_main]

use kurve_server::channel::events::{LobbyEvent, RoomEvent, RoomJoin};
use kurve_shared::phoenix::InPayload;
use libfuzzer_sys::fuzz_target;

const EVENTS: &[&str] = &[
    "chat",
    "create_room",
    "quick_join",
    "input",
    "ready",
    "debug_crash",
    "unknown",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let event = EVENTS[usize::from(pick) % EVENTS.len()];
    let payload = || match serde_json::from_slice::<serde_json::Value>(rest) {
        Ok(value) => InPayload::Json(value),
        Err(_) => InPayload::Binary(bytes::Bytes::copy_from_slice(rest)),
    };
    let _ = LobbyEvent::decode(event, payload());
    if let Ok(RoomEvent::Input { turn }) = RoomEvent::decode(event, payload()) {
        assert!((-1..=1).contains(&turn), "an input outside -1..=1 decoded");
    }
    if let InPayload::Json(value) = payload() {
        let _ = RoomJoin::decode(value);
    }
});
