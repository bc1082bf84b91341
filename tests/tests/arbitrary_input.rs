//! A short, deterministic stand-in for the coverage-guided fuzzers in `fuzz/` (run for
//! millions of executions with `cargo fuzz`, see docs/PERF.md): every decoder of client
//! input gets the fuzz corpus, mutations of it and random bytes, and must answer with a
//! value or an error — never a panic.

use std::path::Path;

use kurve_server::sim::{Game, GameConfig};
use kurve_shared::game::{encode_snapshot, encode_tick};
use kurve_tests::decoders;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Inputs tried per target.
const CASES: usize = 100_000;

/// The corpus files of one fuzz target.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("expected the corpus at {}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.expect("a corpus entry").path()).expect("a seed"))
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "expected seeds in {}", dir.display());
    seeds
}

/// A mutation of a seed: flipped, inserted, deleted or duplicated bytes, a splice with
/// another seed, or (one time in ten) plain random bytes.
fn mutate(rng: &mut ChaCha8Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if rng.random_ratio(1, 10) {
        let len = rng.random_range(0..64);
        return (0..len).map(|_| rng.random()).collect();
    }
    let mut data = seeds[rng.random_range(0..seeds.len())].clone();
    for _ in 0..rng.random_range(1..=4) {
        let at = rng.random_range(0..=data.len());
        match rng.random_range(0..5) {
            0 if at < data.len() => data[at] ^= 1 << rng.random_range(0..8),
            1 => data.insert(at, rng.random()),
            2 if at < data.len() => {
                data.remove(at);
            }
            3 => {
                let interesting = [b'"', b'{', b'}', b'[', b']', b',', b':', b'\\', 0, 0xff];
                data.insert(at, interesting[rng.random_range(0..interesting.len())]);
            }
            _ => {
                let other = &seeds[rng.random_range(0..seeds.len())];
                let from = rng.random_range(0..=other.len());
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
        }
    }
    data
}

fn each_input(target: &str, extra_seeds: Vec<Vec<u8>>, check: impl Fn(&[u8])) {
    let mut seeds = corpus(target);
    seeds.extend(extra_seeds);
    let mut rng = ChaCha8Rng::seed_from_u64(0x006b_7572_7665);
    for seed in &seeds {
        check(seed);
    }
    for _ in 0..CASES {
        check(&mutate(&mut rng, &seeds));
    }
}

#[test]
fn text_frames_never_panic_the_decoder() {
    each_input("phoenix_text", Vec::new(), decoders::text_frame);
}

#[test]
fn binary_frames_never_panic_the_decoder() {
    each_input("phoenix_binary", Vec::new(), decoders::binary_frame);
}

#[test]
fn channel_events_decode_or_are_refused() {
    each_input("channel_events", Vec::new(), decoders::channel_event);
}

#[test]
fn game_frames_never_panic_the_decoder() {
    let mut game = Game::new(GameConfig::default(), 3, 4);
    game.add_player("u1", "a").expect("seat");
    game.add_player("u2", "b").expect("seat");
    game.set_ready("u1", true);
    game.set_ready("u2", true);
    let mut seeds = vec![encode_snapshot(&game.snapshot()).unwrap()];
    for _ in 0..400 {
        if let Some(tick) = game.step().tick {
            seeds.push(encode_tick(&tick).unwrap());
        }
    }
    seeds.push(encode_snapshot(&game.snapshot()).unwrap());
    assert!(seeds.len() > 100, "the game ticked");
    each_input("game_wire", seeds, decoders::game_frame);
}
