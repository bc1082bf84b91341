//! Binary frames as a client may send them (see `kurve_tests::decoders::binary_frame`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kurve_tests::decoders::binary_frame(data));
