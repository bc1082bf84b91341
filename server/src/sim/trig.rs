//! Integer trigonometry: a sine table computed with integer arithmetic only (a Taylor
//! series in Q62 fixed point), so headings give bit-identical motion on every platform.
//! No floating point anywhere in the simulation path.

use std::sync::OnceLock;

/// 1.0 in Q62.
pub const Q62: i128 = 1 << 62;

/// π in Q62 (⌊π · 2^62⌋).
pub const PI_Q62: i128 = 14_488_038_916_154_245_684;

/// Table entries per full turn (2^14): a heading is looked up by its top 14 bits.
const STEPS: usize = 1 << 14;

/// Q30 scale of table values.
pub const TRIG_SHIFT: u32 = 30;

fn sin_q62(x: i128) -> i128 {
    // x in [0, π/2]; terms shrink fast enough that 14 of them reach Q62 precision.
    let x2 = x * x / Q62;
    let mut term = x;
    let mut sum = x;
    let mut n: i128 = 1;
    for _ in 0..14 {
        term = -term * x2 / Q62 / ((n + 1) * (n + 2));
        sum += term;
        n += 2;
    }
    sum
}

fn table() -> &'static [i32] {
    static TABLE: OnceLock<Vec<i32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let quarter = STEPS / 4;
        let mut q = Vec::with_capacity(quarter + 1);
        for i in 0..=quarter {
            let x = PI_Q62 * i as i128 / (2 * quarter as i128);
            let s = sin_q62(x);
            // Round Q62 → Q30.
            q.push(((s + (1 << 31)) >> 32) as i32);
        }
        (0..STEPS)
            .map(|i| {
                let (k, j) = (i / quarter, i % quarter);
                match k {
                    0 => q[j],
                    1 => q[quarter - j],
                    2 => -q[j],
                    _ => -q[quarter - j],
                }
            })
            .collect()
    })
}

/// `(cos, sin)` of a binary angle (2^32 = one turn) in Q30.
pub fn cos_sin(heading: u32) -> (i64, i64) {
    let t = table();
    let i = (heading >> (32 - 14)) as usize;
    (t[(i + STEPS / 4) % STEPS] as i64, t[i] as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_known_values() {
        let one = 1i64 << TRIG_SHIFT;
        assert_eq!(cos_sin(0), (one, 0), "angle 0");
        assert_eq!(cos_sin(1 << 30), (0, one), "quarter turn");
        assert_eq!(cos_sin(1 << 31), (-one, 0), "half turn");
        // sin(π/6) = 0.5: π/6 is 1/12 turn, index 16384/12 is not exact, so check closeness
        // at a representable angle instead: 1/8 turn → √2/2.
        let (c, s) = cos_sin(1 << 29);
        let expect = (0.5f64.sqrt() * one as f64) as i64;
        assert!(
            (c - expect).abs() <= 1 && (s - expect).abs() <= 1,
            "45°: {c} {s} vs {expect}"
        );
    }
}
