//! The wire: an arena fed every tick delta converges with a later snapshot.

use super::*;

/// Applies a tick to an arena through the codec, as a client would.
fn apply_wire(arena: &mut Arena, t: &Tick) -> usize {
    let bytes = encode_tick(t).unwrap();
    let back = decode_tick(&bytes).expect("tick decodes");
    assert_eq!(&back, t, "tick round-trips");
    arena.apply_tick(&back).expect("in sequence");
    bytes.len()
}

#[test]
fn an_arena_fed_every_delta_converges_with_a_later_snapshot() {
    let cfg = GameConfig::default();
    let mut g = started(8, cfg, 314);
    let mut arena = Arena::from_snapshot(
        &decode_snapshot(&encode_snapshot(&g.snapshot()).unwrap()).expect("snapshot decodes"),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut bytes = 0usize;
    let mut playing_ticks = 0usize;
    let mut playing_bytes = 0usize;
    for _ in 0..600 {
        drive(&mut g, &mut rng, 8);
        let t = g.step().tick.expect("ticks flow outside waiting");
        let n = apply_wire(&mut arena, &t);
        bytes += n;
        if t.heads.len() == 8 && t.heads.iter().all(|h| h.draw != Draw::Still) {
            playing_ticks += 1;
            playing_bytes += n;
        }
    }
    let later = Arena::from_snapshot(&g.snapshot());
    assert_eq!(arena.trails, later.trails, "same trails");
    assert_eq!(arena.players, later.players, "same heads and scores");
    assert_eq!(arena, later, "same everything");
    eprintln!(
        "bytes/tick: average {} over 600 ticks; {} with 8 heads moving ({} ticks)",
        bytes / 600,
        playing_bytes.checked_div(playing_ticks).unwrap_or(0),
        playing_ticks
    );
}

#[test]
fn arena_converges_across_rounds_items_and_effects() {
    let cfg = GameConfig {
        item_spawn_min_ms: 300,
        item_spawn_max_ms: 600,
        ..GameConfig::default()
    };
    let mut g = started(4, cfg, 2718);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut arena = Arena::from_snapshot(&g.snapshot());
    let mut kinds = std::collections::BTreeSet::new();
    for k in 0..6000 {
        drive(&mut g, &mut rng, 4);
        let out = g.step();
        let Some(t) = out.tick else { continue };
        for e in &t.events {
            if let Event::EffectStart { effect } = e {
                kinds.insert(effect.kind);
            }
        }
        apply_wire(&mut arena, &t);
        if k % 97 == 0 {
            assert_eq!(
                arena,
                Arena::from_snapshot(&g.snapshot()),
                "converged at step {k}"
            );
        }
    }
    assert!(
        kinds.len() >= 3,
        "several effect kinds exercised: {kinds:?}"
    );
}
