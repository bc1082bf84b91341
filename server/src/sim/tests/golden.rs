//! A golden recording of Curve as it is before it moves behind the game interface
//! (docs/design/game-interface.md, issue 22): a scripted three-player match, its input
//! log, its standings, and digests of every frame a client was sent (ticks and
//! lifecycle events), of a snapshot and of the saved state every 600 ticks. Stored in
//! `golden/`. A change to Curve's rules, wire or saved state fails here; a deliberate
//! one re-records with `KURVE_BLESS_GOLDEN=1 cargo test -p kurve-server --lib golden`
//! and says why in its commit. The stored log must always replay to the stored
//! standings: it stands for the matches already in players' databases.

use std::path::PathBuf;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::*;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/sim/tests/golden")
}

fn hex(digest: impl AsRef<[u8]>) -> String {
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn standings(players: &[kurve_shared::game::Standing]) -> Value {
    serde_json::to_value(players).expect("standings serialize")
}

/// Plays the scripted match: its input log, and what describes it.
fn play() -> (Vec<u8>, Value) {
    let cfg = GameConfig {
        points_per_opponent: 2,
        ..GameConfig::default()
    };
    let mut g = Game::new(cfg, 2026, 8);
    for i in 0..3 {
        g.add_player(&uid(i), &format!("p{i}")).expect("seat");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let (mut frames, mut snapshots, mut saves) = (Sha256::new(), Sha256::new(), Sha256::new());
    let mut ticks_sent = 0u64;
    for _ in 0..200_000 {
        drive(&mut g, &mut rng, 3);
        let out = g.step();
        if let Some(tick) = &out.tick {
            frames.update(encode_tick(tick).expect("a tick encodes"));
            ticks_sent += 1;
        }
        for event in &out.lifecycle {
            frames.update(event.name());
            frames.update(event.payload().to_string());
        }
        if g.tick().is_multiple_of(600) {
            snapshots.update(encode_snapshot(&g.snapshot()).expect("a snapshot encodes"));
            saves.update(rmp_serde::to_vec_named(&g.save()).expect("a save encodes"));
        }
        if let Some(record) = out.record {
            let summary = json!({
                "standings": standings(&record.players),
                "winner": record.winner,
                "rounds": record.rounds,
                "duration_ticks": record.duration_ticks,
                "ticks_sent": ticks_sent,
                "final_state_hash": g.state_hash().to_string(),
                "frames_sha256": hex(frames.finalize()),
                "snapshots_sha256": hex(snapshots.finalize()),
                "saves_sha256": hex(saves.finalize()),
            });
            return (record.input_log, summary);
        }
    }
    panic!("the scripted match ends");
}

fn stored() -> (Vec<u8>, Value) {
    let dir = golden_dir();
    let log = std::fs::read(dir.join("match.log")).expect("golden/match.log");
    let summary = std::fs::read_to_string(dir.join("match.json")).expect("golden/match.json");
    (
        log,
        serde_json::from_str(&summary).expect("golden/match.json is JSON"),
    )
}

#[test]
fn curve_plays_the_golden_match_byte_for_byte() {
    let (log, summary) = play();
    if std::env::var_os("KURVE_BLESS_GOLDEN").is_some() {
        let dir = golden_dir();
        std::fs::create_dir_all(&dir).expect("golden/");
        std::fs::write(dir.join("match.log"), &log).expect("write match.log");
        let text = serde_json::to_string_pretty(&summary).expect("JSON") + "\n";
        std::fs::write(dir.join("match.json"), text).expect("write match.json");
        return;
    }
    let (stored_log, stored_summary) = stored();
    assert_eq!(
        summary, stored_summary,
        "the match as recorded in golden/match.json"
    );
    assert!(
        log == stored_log,
        "the input log is byte for byte golden/match.log"
    );
}

#[test]
fn the_golden_match_log_replays_to_its_standings() {
    let (log, summary) = stored();
    let log = InputLog::from_bytes(&log).expect("the stored log decodes");
    let replayed = replay(&log);
    let record = replayed
        .records
        .first()
        .expect("the log replays a whole match");
    assert_eq!(standings(&record.players), summary["standings"]);
    assert_eq!(json!(record.winner), summary["winner"]);
    assert_eq!(json!(record.rounds), summary["rounds"]);
    assert_eq!(json!(record.duration_ticks), summary["duration_ticks"]);
}
