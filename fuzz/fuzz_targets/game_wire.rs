//! The binary game frames a client decodes (snapshot, tick, ticks): a corrupt frame from
//! a hostile relay must be an error, never a panic or a huge allocation.
#![no_main]

use kurve_shared::game::{decode_snapshot, decode_tick, decode_ticks};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_tick(data);
    let _ = decode_ticks(data);
    let _ = decode_snapshot(data);
});
