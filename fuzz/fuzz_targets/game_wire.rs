//! The binary game frames a client decodes (see `kurve_tests::decoders::game_frame`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kurve_tests::decoders::game_frame(data));
