//! Client events of every topic and room join params, as the socket decodes them (see
//! `kurve_tests::decoders::channel_event`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kurve_tests::decoders::channel_event(data));
