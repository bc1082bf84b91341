//! Text frames as a client may send them: both serializers, and the salvage of a ref
//! and topic from a frame that does not decode.
#![no_main]

use kurve_shared::phoenix::{Vsn, decode_text, salvage_ref_topic};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for vsn in [Vsn::V1, Vsn::V2] {
        let _ = decode_text(vsn, text);
    }
    let _ = salvage_ref_topic(text);
});
