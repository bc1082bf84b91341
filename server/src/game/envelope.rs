//! Frames every game sends the same way (CONTRACT §11): the runtime joins the ticks a
//! game encoded one by one into a `ticks` frame, and never reads inside them.

pub use kurve_shared::envelope::{CodecError, MAX_DEPTH, json_form, tick_number, ticks_frame};

/// A game frame's bytes (`tick`, `ticks`, `snapshot`). Encoding a game's own types
/// fails only if those types are wrong — a bug, not bad input — so the actor sending it
/// crashes rather than send an empty frame: its supervisor restarts it from its saved
/// state and its members rejoin and get a snapshot (CONTRACT §4, "let it crash").
pub fn frame_bytes<E: std::fmt::Display>(what: &str, encoded: Result<Vec<u8>, E>) -> bytes::Bytes {
    match encoded {
        Ok(bytes) => bytes::Bytes::from(bytes),
        Err(e) => panic!("a {what} frame did not encode: {e}"),
    }
}
