//! Binary frames (the V2 serializer's push kind) as a client may send them.
#![no_main]

use kurve_shared::phoenix::{Vsn, decode_binary};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_binary(Vsn::V2, data);
    let _ = decode_binary(Vsn::V1, data);
});
