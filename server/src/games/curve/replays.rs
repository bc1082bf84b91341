//! The replay runtime ([`crate::replay`]) over Curve's recorded matches: every match of
//! a random batch replays to its standings, seeks land where straight play does, a
//! damaged log is refused or replays to other standings, never a panic.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use std::time::Duration;

use crate::games::curve::Curve;
use crate::protocol::error::ChannelError;
use crate::replay::{CHECKPOINT_TICKS, Checkpoints, Resim, verify};
use crate::sim::{self, Game, GameConfig, InputLog};
use crate::store::MatchPlayer;
use kurve_shared::game::Phase;

/// The replays here are of Curve matches.
fn curve() -> Curve {
    Curve {
        config: GameConfig::default(),
    }
}

/// Plays a short match with random steering; returns its record.
fn play(seed: u64, players: usize) -> sim::MatchRecord {
    play_to(seed, players, 1)
}

/// Plays a match to `points` per opponent with random steering; returns its record.
fn play_to(seed: u64, players: usize, points: u32) -> sim::MatchRecord {
    let cfg = GameConfig {
        points_per_opponent: points,
        ..GameConfig::default()
    };
    let mut g = Game::new(cfg, seed, 8);
    for i in 0..players {
        g.add_player(&format!("u{i}"), &format!("P{i}"))
            .expect("a seat");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    for _ in 0..400_000 {
        if g.phase() == Phase::Waiting {
            for i in 0..players {
                g.set_ready(&format!("u{i}"), true);
            }
        }
        for i in 0..players {
            if rng.random_range(0..6) == 0 {
                g.set_input(&format!("u{i}"), rng.random_range(-1..=1));
            }
        }
        if let Some(record) = g.step().record {
            return record;
        }
    }
    panic!("the match of seed {seed} did not finish");
}

fn as_recorded(record: &sim::MatchRecord) -> Vec<MatchPlayer> {
    record.players.iter().map(MatchPlayer::from).collect()
}

#[test]
fn every_match_of_a_random_batch_replays_to_its_recorded_standings() {
    for seed in 0..12_u64 {
        let players = 2 + (seed as usize % 3);
        let record = play(seed * 7919 + 1, players);
        let mut resim = Resim::new(&curve(), &record.input_log).expect("the log decodes");
        let verdict = verify(&as_recorded(&record), resim.run_to_end());
        assert!(
            verdict.verified,
            "seed {seed}: {verdict:?} vs {:?}",
            record.players
        );
        assert_eq!(verdict.standings, record.players, "seed {seed}");
    }
}

#[test]
fn seeking_back_and_forth_lands_on_the_same_state() {
    let record = play(4242, 3);
    let mut straight = Resim::new(&curve(), &record.input_log).expect("decodes");
    let target = straight.start_tick() + straight.duration_ticks() / 2;
    while straight.tick() < target {
        straight.step();
    }
    let mut seeking = Resim::new(&curve(), &record.input_log).expect("decodes");
    let mut checkpoints = Checkpoints::new(&seeking);
    assert!(seeking.seek(target + 100, &mut checkpoints, u64::MAX));
    assert!(
        checkpoints.len() > 1,
        "expected the first pass to leave checkpoints"
    );
    assert!(
        seeking.seek(target, &mut checkpoints, CHECKPOINT_TICKS),
        "expected a seek back to take at most one checkpoint interval of steps"
    );
    assert_eq!(seeking.tick(), target);
    assert_eq!(
        seeking.playback().state_hash(),
        straight.playback().state_hash()
    );
    assert_eq!(
        seeking.playback().snapshot(),
        straight.playback().snapshot()
    );
}

#[test]
fn a_corrupt_log_is_reported_not_panicked_on() {
    let record = play(99, 2);
    let recorded = as_recorded(&record);
    assert_eq!(
        Resim::new(&curve(), b"not a log").err(),
        Some(ChannelError::CorruptReplay)
    );
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut unverified = 0;
    for _ in 0..300 {
        let mut bytes = record.input_log.clone();
        for _ in 0..rng.random_range(1..4) {
            let i = rng.random_range(0..bytes.len());
            bytes[i] = rng.random();
        }
        // Whatever the damage: an error, or a replay that says whether it matches.
        if let Ok(mut resim) = Resim::new(&curve(), &bytes) {
            if resim.duration_ticks() > 200_000 {
                continue; // a mangled end tick: the actor would play it, slowly
            }
            if !verify(&recorded, resim.run_to_end()).verified {
                unverified += 1;
            }
        }
    }
    assert!(
        unverified > 0,
        "some damaged logs replay to other standings"
    );
    let mut log = InputLog::from_bytes(&record.input_log).expect("decodes");
    log.truncated = true;
    assert_eq!(
        Resim::new(&curve(), &log.to_bytes().unwrap()).err(),
        Some(ChannelError::CorruptReplay)
    );
}

/// The seek-spam benchmark of docs/PERF.md (not a timed test: it prints). Run with
/// `cargo test --release -p kurve-server --lib -- --ignored seek_spam --nocapture`.
#[test]
#[ignore]
fn seek_spam() {
    let record = play_to(20_261_206, 4, 3);
    let mut resim = Resim::new(&curve(), &record.input_log).expect("decodes");
    let duration = resim.duration_ticks();
    let start = resim.start_tick();
    let mut checkpoints = Checkpoints::new(&resim);
    let first = std::time::Instant::now();
    resim.seek(start + duration, &mut checkpoints, u64::MAX);
    let first = first.elapsed();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let seeks = 1_000;
    let mut worst = Duration::ZERO;
    let all = std::time::Instant::now();
    for _ in 0..seeks {
        let target = start + rng.random_range(0..=duration);
        let one = std::time::Instant::now();
        assert!(resim.seek(target, &mut checkpoints, CHECKPOINT_TICKS));
        worst = worst.max(one.elapsed());
    }
    let all = all.elapsed();
    let mut from_zero = Resim::new(&curve(), &record.input_log).expect("decodes");
    let old = std::time::Instant::now();
    from_zero.run_to_end();
    let old = old.elapsed() / 2;
    println!(
        "match of {duration} ticks, {} checkpoints; first pass {first:?}; \
         {seeks} random seeks: mean {:?}, worst {worst:?}; \
         the old seek from tick 0 to the middle: {old:?}",
        checkpoints.len(),
        all / seeks,
    );
}

/// The golden match (`sim/tests/golden/`) was recorded before Curve moved behind the
/// game interface: it stands for every match already in players' databases. Opened as
/// a stored match is — through Curve's `GameKind` and the replay runtime — it replays
/// to its recorded standings and verifies.
#[test]
fn a_match_recorded_before_the_interface_verifies_through_it() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/sim/tests/golden");
    let log = std::fs::read(dir.join("match.log")).expect("golden/match.log");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("match.json")).expect("golden/match.json"),
    )
    .expect("JSON");
    let standings: Vec<kurve_shared::room::Standing> =
        serde_json::from_value(summary["standings"].clone()).expect("standings");
    let recorded: Vec<MatchPlayer> = standings.iter().map(MatchPlayer::from).collect();
    let mut resim = Resim::new(&curve(), &log).expect("the stored log opens");
    let verdict = verify(&recorded, resim.run_to_end());
    assert!(verdict.verified, "{verdict:?}");
    assert_eq!(verdict.standings, standings);
}
