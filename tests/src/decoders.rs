//! Every decoder of input a client (or a hostile relay) controls, each driven by one byte
//! slice: what the `cargo fuzz` targets in `fuzz/` and the suite's corpus replay
//! (`tests/arbitrary_input.rs`) both run. Each returns normally for any input; a panic is
//! the bug they look for.

use kurve_server::protocol::{LobbyEvent, RoomEvent, RoomJoin};
use kurve_server::sim::GameConfig;
use kurve_shared::game::{decode_snapshot, decode_tick, decode_ticks};
use kurve_shared::phoenix::{InPayload, Vsn, decode_binary, decode_text, salvage_ref_topic};

/// Event names a channel-event input picks from with its first byte.
const EVENTS: &[&str] = &[
    "chat",
    "create_room",
    "quick_join",
    "input",
    "ready",
    "debug_crash",
    "unknown",
];

/// A text frame, for both serializers, and the salvage of a ref and topic.
pub fn text_frame(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = decode_text(Vsn::V1, text);
        let _ = decode_text(Vsn::V2, text);
        let _ = salvage_ref_topic(text);
    }
}

/// A binary frame, for both serializers.
pub fn binary_frame(data: &[u8]) {
    let _ = decode_binary(Vsn::V2, data);
    let _ = decode_binary(Vsn::V1, data);
}

/// A client event of either topic kind, and room join params: the first byte picks the
/// event name, the rest is the payload (JSON when it parses, binary otherwise). An
/// input that decodes goes to every game.
pub fn channel_event(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let event = EVENTS[usize::from(pick) % EVENTS.len()];
    let payload = || match serde_json::from_slice::<serde_json::Value>(rest) {
        Ok(value) => InPayload::Json(value),
        Err(_) => InPayload::Binary(bytes::Bytes::copy_from_slice(rest)),
    };
    let _ = LobbyEvent::decode(event, payload());
    if let Ok(RoomEvent::Input { payload, seq }) = RoomEvent::decode(event, payload()) {
        // Every game reads the rest of an input: accepted or refused, never a panic.
        let games = kurve_server::games::all(
            GameConfig::default(),
            kurve_server::games::bumper::BumperConfig::default(),
        );
        for info in games.list() {
            let kind = games.get(&info.id).expect("a listed game");
            let mut game = kind.create(7, 2);
            game.add_player("u1", "Ann").expect("a seat");
            let _ = game.input(Some(0), "u1", &payload, seq);
            game.step();
        }
    }
    if let InPayload::Json(value) = payload() {
        let _ = RoomJoin::decode(value);
    }
}

/// A game frame: `snapshot`, `tick` and `ticks`.
pub fn game_frame(data: &[u8]) {
    let _ = decode_tick(data);
    let _ = decode_ticks(data);
    let _ = decode_snapshot(data);
    let _ = kurve_shared::bumper::decode_tick(data);
    let _ = kurve_shared::bumper::decode_ticks(data);
    let _ = kurve_shared::bumper::decode_snapshot(data);
}
