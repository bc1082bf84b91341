//! Items: how they spawn and what each effect does.

use super::*;

/// Puts an item right in front of seat 0 and steps until it is picked up.
fn pick(g: &mut Game, kind: ItemKind) {
    let h = head(g, 0).wire_pos();
    let id = 1000 + g.tick() as u32;
    g.world_mut().resource_mut::<Field>().items.push(FieldItem {
        id,
        kind,
        pos: [h[0] + 10 * POS_SCALE, h[1]],
    });
    let found = step_until(
        g,
        10,
        |e| matches!(e, Event::ItemPickup { id: i, seat: 0 } if *i == id),
    );
    assert!(
        found.is_some(),
        "{kind:?} picked up; head {:?}, phase {:?}",
        head(g, 0),
        g.phase()
    );
}

fn item_game(seed: u64) -> Game {
    let mut g = started(3, plain(), seed);
    to_playing(&mut g);
    place(&mut g, 0, 200, 400, EAST);
    place(&mut g, 1, 100, 100, EAST);
    place(&mut g, 2, 100, 700, EAST);
    g
}

#[test]
fn speed_and_slow_effects_stack_within_clamps() {
    let mut g = item_game(20);
    pick(&mut g, ItemKind::SpeedSelf);
    assert_eq!(
        head(&mut g, 0).speed_q16,
        Q16 * 3 / 2,
        "×1.5 for the picker"
    );
    assert_eq!(head(&mut g, 1).speed_q16, Q16, "others unchanged");
    let a = head(&mut g, 0).pos;
    g.step();
    let b = head(&mut g, 0).pos;
    assert_eq!(b[0] - a[0], 1536 * 3 / 2, "moves 2.25 px per tick");
    pick(&mut g, ItemKind::SpeedSelf);
    pick(&mut g, ItemKind::SpeedSelf);
    assert_eq!(head(&mut g, 0).speed_q16, 3 * Q16, "1.5³ clamps to ×3");
    pick(&mut g, ItemKind::SlowOthers);
    assert_eq!(head(&mut g, 1).speed_q16, Q16 * 2 / 3, "others ×2/3");
    assert_eq!(
        head(&mut g, 0).speed_q16,
        3 * Q16,
        "picker unaffected by _others"
    );
    let mut g = item_game(21);
    for _ in 0..4 {
        pick(&mut g, ItemKind::SpeedOthers);
    }
    assert_eq!(
        head(&mut g, 1).speed_q16,
        3 * Q16,
        "speed_others stacks, clamped at ×3"
    );
    let mut g = item_game(22);
    for _ in 0..3 {
        pick(&mut g, ItemKind::SlowSelf);
    }
    assert_eq!(head(&mut g, 0).speed_q16, Q16 / 3, "(2/3)³ clamps to ×1/3");
    // Turning radius unchanged: the turn rate scales with speed.
    let mut g = item_game(23);
    pick(&mut g, ItemKind::SpeedSelf);
    let h0 = head(&mut g, 0).heading;
    g.set_input(&uid(0), 1);
    g.step();
    let dh = head(&mut g, 0).heading.wrapping_sub(h0) as i64;
    let base = Settings::new(plain()).turn_per_tick;
    assert_eq!(dh, base * 3 / 2, "turn rate ×1.5 too");
}

#[test]
fn thin_and_fat_effects_clamp_radius() {
    let mut g = item_game(24);
    pick(&mut g, ItemKind::ThinSelf);
    assert_eq!(head(&mut g, 0).radius, 48, "×0.5");
    pick(&mut g, ItemKind::ThinSelf);
    pick(&mut g, ItemKind::ThinSelf);
    assert_eq!(
        head(&mut g, 0).radius,
        POS_SCALE,
        "×1/8 → clamp ×1/4 = 0.75 px → at least 1 px"
    );
    for _ in 0..3 {
        pick(&mut g, ItemKind::FatOthers);
    }
    assert_eq!(head(&mut g, 1).radius, 96 * 4, "×8 clamps to ×4");
    let snap = g.snapshot();
    assert_eq!(snap.players[1].radius, 384, "snapshot shows the radius");
}

#[test]
fn reverse_swaps_controls_of_the_others() {
    let mut g = item_game(25);
    pick(&mut g, ItemKind::ReverseOthers);
    g.set_input(&uid(1), 1);
    g.set_input(&uid(0), 1);
    let (a0, a1) = (head(&mut g, 0).heading, head(&mut g, 1).heading);
    g.step();
    let (b0, b1) = (head(&mut g, 0).heading, head(&mut g, 1).heading);
    assert!(
        (b0.wrapping_sub(a0) as i32) > 0,
        "picker turns right as asked"
    );
    assert!(
        (b1.wrapping_sub(a1) as i32) < 0,
        "reversed player turns left on right"
    );
}

#[test]
fn ghost_passes_trails_draws_nothing_and_expires() {
    let mut g = item_game(26);
    pick(&mut g, ItemKind::GhostSelf);
    let lines = g.snapshot().trails.iter().filter(|l| l.seat == 0).count();
    draw_line(&mut g, 1, [260, 300], [260, 500]);
    for _ in 0..40 {
        g.step();
    }
    let h = head(&mut g, 0);
    assert!(
        h.alive && h.wire_pos()[0] > 260 * POS_SCALE,
        "a ghost crosses a trail"
    );
    assert_eq!(
        g.snapshot().trails.iter().filter(|l| l.seat == 0).count(),
        lines,
        "a ghost draws nothing"
    );
    step_until(&mut g, 200, |e| matches!(e, Event::EffectEnd { .. }))
        .expect("ghost ends after 3 s");
    assert!(!head(&mut g, 0).ghost, "not a ghost any more");
}

#[test]
fn wrap_all_wraps_every_head_and_clear_all_erases_trails() {
    let mut g = item_game(27);
    pick(&mut g, ItemKind::WrapAll);
    place(&mut g, 1, 5, 100, WEST);
    let mut wrapped = false;
    for _ in 0..10 {
        let t = g.step().tick.expect("tick");
        wrapped |= t.heads.iter().any(|h| h.seat == 1 && h.draw == Draw::Wrap);
    }
    assert!(
        wrapped && head(&mut g, 1).alive,
        "seat 1 wrapped around the left wall"
    );
    assert!(
        head(&mut g, 1).wire_pos()[0] > 1000 * POS_SCALE,
        "now at the right edge"
    );
    assert!(!g.snapshot().trails.is_empty(), "there are trails");
    pick(&mut g, ItemKind::ClearAll);
    let s = g.snapshot();
    assert!(
        s.trails.len() <= 3,
        "only what was drawn after the clear remains: {}",
        s.trails.len()
    );
    assert!(
        s.effects.iter().all(|e| e.kind != ItemKind::ClearAll),
        "clear_all is instant"
    );
}

#[test]
fn items_spawn_by_the_rules() {
    let cfg = GameConfig {
        solid_min_ms: 1_000_000,
        solid_max_ms: 1_000_000,
        ..GameConfig::default()
    };
    let mut g = started(2, cfg, 28);
    to_playing(&mut g);
    let mut last = g.tick();
    let mut spawned = 0;
    // Heads circle on an empty field (trails are wiped every tick) so the round lasts.
    g.set_input(&uid(0), 1);
    g.set_input(&uid(1), -1);
    for _ in 0..1500 {
        g.world_mut().resource_mut::<Trails>().grid.clear();
        let heads: Vec<[i32; 2]> = (0..2).map(|s| head(&mut g, s).wire_pos()).collect();
        let t = g.step().tick.expect("tick");
        for e in &t.events {
            if let Event::ItemSpawn { item } = e {
                let gap = t.tick - last;
                assert!(
                    spawned == 0 || (180..=420).contains(&gap),
                    "3–7 s between spawns, was {gap}"
                );
                last = t.tick;
                spawned += 1;
                for h in &heads {
                    let d = (((item.x - h[0]) as f64).powi(2) + ((item.y - h[1]) as f64).powi(2))
                        .sqrt();
                    assert!(
                        d >= (54 * POS_SCALE) as f64 - 2.0 * 96.0,
                        "item {item:?} too close to a head"
                    );
                }
            }
        }
        if g.phase() != Phase::Playing {
            break;
        }
        assert!(g.snapshot().items.len() <= 6, "at most 6 items");
    }
    assert!(spawned >= 1, "items appear");
}
