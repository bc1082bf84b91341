//! Curve's hashing: the game-wide helpers ([`crate::game::hash`]) and the trails' running
//! digest.

pub use crate::game::hash::{Fnv, derive_seed};
use kurve_shared::game::Pt;

/// Extends the trails' running digest by one segment.
pub fn mix_segment(digest: u64, seat: u8, a: Pt, b: Pt, r: i32) -> u64 {
    let mut h = Fnv(digest);
    h.u64(seat as u64);
    for v in [a[0], a[1], b[0], b[1], r] {
        h.i64(v as i64);
    }
    h.0
}
