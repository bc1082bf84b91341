//! Deaths: walls, trails, heads meeting, and the gaps a trail leaves.

use super::*;

#[test]
fn wall_kills_and_survivor_scores() {
    let mut g = started(2, plain(), 1);
    to_playing(&mut g);
    place(&mut g, 0, 10, 400, WEST);
    place(&mut g, 1, 500, 400, EAST);
    let (_, ev) = step_until(&mut g, 20, is_death).expect("a death within 20 ticks");
    assert_eq!(
        deaths(&ev),
        vec![(0, DeathCause::Wall, None)],
        "head 0 hits the left wall"
    );
    assert_eq!(score(&g, 1), 1, "the survivor gains a point");
    assert_eq!(score(&g, 0), 0, "the dead head gains nothing");
    assert_eq!(g.phase(), Phase::RoundOver, "one alive → round over");
}

#[test]
fn own_trail_is_immune_near_the_head_but_kills_further_back() {
    let mut g = started(2, plain(), 2);
    to_playing(&mut g);
    place(&mut g, 0, 500, 400, EAST);
    place(&mut g, 1, 100, 700, EAST);
    g.set_input(&uid(0), 1);
    // A full circle at the minimum turning radius (≈ 30 px) takes ≈ 128 ticks.
    for t in 0..100 {
        g.step();
        assert!(
            head(&mut g, 0).alive,
            "turning in place must not kill through the fresh trail (tick {t})"
        );
    }
    let (_, ev) = step_until(&mut g, 100, is_death).expect("dies closing the circle");
    assert_eq!(
        deaths(&ev),
        vec![(0, DeathCause::Trail, Some(0))],
        "killed by its own older trail"
    );

    // Without immunity the head dies on the segment it just laid.
    let mut g = started(
        2,
        GameConfig {
            own_immunity_permille: 0,
            ..plain()
        },
        2,
    );
    to_playing(&mut g);
    let (_, ev) = step_until(&mut g, 3, is_death).expect("dies at once without immunity");
    assert!(
        deaths(&ev).iter().all(|d| d.1 == DeathCause::Trail),
        "own-trail deaths"
    );
}

#[test]
fn another_trail_kills_and_names_its_owner() {
    let mut g = started(2, plain(), 3);
    to_playing(&mut g);
    draw_line(&mut g, 1, [500, 100], [500, 700]);
    place(&mut g, 0, 450, 400, EAST);
    place(&mut g, 1, 100, 700, EAST);
    let (_, ev) = step_until(&mut g, 60, is_death).expect("crosses the line");
    assert_eq!(
        deaths(&ev),
        vec![(0, DeathCause::Trail, Some(1))],
        "killed by seat 1's trail"
    );
    let h = head(&mut g, 0).wire_pos();
    assert!(
        h[0] < 500 * POS_SCALE - 3 * POS_SCALE,
        "dies on contact, before the centre line: {h:?}"
    );
}

#[test]
fn head_on_kills_both_and_they_score_nothing_off_each_other() {
    let mut g = started(3, plain(), 4);
    to_playing(&mut g);
    place(&mut g, 0, 300, 400, EAST);
    place(&mut g, 1, 340, 400, WEST);
    place(&mut g, 2, 100, 700, EAST);
    let (_, ev) = step_until(&mut g, 30, is_death).expect("they meet");
    let mut d = deaths(&ev);
    d.sort_by_key(|x| x.0);
    assert_eq!(
        d,
        vec![
            (0, DeathCause::HeadOn, Some(1)),
            (1, DeathCause::HeadOn, Some(0))
        ],
        "both die head-on"
    );
    assert_eq!(
        (score(&g, 0), score(&g, 1), score(&g, 2)),
        (0, 0, 2),
        "only the survivor scores, once per death"
    );
    assert_eq!(g.phase(), Phase::RoundOver, "one left");
}

#[test]
fn simultaneous_wall_deaths_end_the_round_without_a_winner() {
    let mut g = started(2, plain(), 5);
    to_playing(&mut g);
    place(&mut g, 0, 10, 300, WEST);
    place(&mut g, 1, 10, 500, WEST);
    let mut round_end = None;
    for _ in 0..20 {
        for ev in g.step().lifecycle {
            if let RoomEvent::RoundEnd(m) = ev {
                round_end = Some(m);
            }
        }
    }
    let m = round_end.expect("round ends");
    assert_eq!(m.winner, None, "nobody survived");
    assert!(m.scores.iter().all(|s| s.score == 0), "no points: {m:?}");
}

#[test]
fn a_gap_is_passable() {
    let mut g = started(2, plain(), 6);
    to_playing(&mut g);
    // Seat 1's trail with a 20 px hole around y = 400 (what a gap leaves).
    draw_line(&mut g, 1, [500, 100], [500, 390]);
    draw_line(&mut g, 1, [500, 410], [500, 700]);
    place(&mut g, 0, 450, 400, EAST);
    place(&mut g, 1, 100, 700, EAST);
    for _ in 0..80 {
        g.step();
    }
    assert!(
        head(&mut g, 0).alive,
        "the head passes through the hole unharmed"
    );
    assert!(
        head(&mut g, 0).wire_pos()[0] > 510 * POS_SCALE,
        "and is past the line"
    );
}

#[test]
fn gaps_follow_the_rules_and_draw_nothing() {
    let cfg = GameConfig {
        items_enabled: false,
        ..GameConfig::default()
    };
    let mut g = started(2, cfg, 7);
    to_playing(&mut g);
    place(&mut g, 0, 60, 100, EAST);
    place(&mut g, 1, 60, 600, EAST);
    let mut start: Option<(u64, [i32; 2], usize)> = None;
    let mut solid_from = g.tick();
    let mut seen = 0;
    for _ in 0..600 {
        let out = g.step();
        let t = out.tick.expect("tick");
        for e in &t.events {
            if let Event::Gap { seat: 0, on } = e {
                let pos = head(&mut g, 0).wire_pos();
                let lines = g.snapshot().trails.iter().filter(|l| l.seat == 0).count();
                if *on {
                    let solid = t.tick - solid_from;
                    assert!(
                        (120..=241).contains(&solid),
                        "solid 2–4 s, was {solid} ticks"
                    );
                    start = Some((t.tick, pos, lines));
                } else {
                    let (_, a, n) = start.take().expect("gap began");
                    let len = (pos[0] - a[0]) as f64 / POS_SCALE as f64;
                    assert!(
                        (24.0..=37.5).contains(&len),
                        "gap 4–6 line widths (24–36 px), was {len}"
                    );
                    assert_eq!(lines, n, "nothing drawn during the gap");
                    solid_from = t.tick;
                    seen += 1;
                }
            }
        }
        let in_gap = start.is_some() && t.events.iter().all(|e| !matches!(e, Event::Gap { .. }));
        if let Some(h) = t.heads.iter().find(|h| h.seat == 0 && in_gap) {
            assert_eq!(h.draw, Draw::Gap, "a head in a gap moves without drawing");
        }
        if !head(&mut g, 0).alive {
            break;
        }
    }
    assert!(seen >= 1, "at least one complete gap in 10 s");
}

#[test]
fn gap_state_is_seeded_per_round() {
    let g = started(2, GameConfig::default(), 55);
    let mut a = Game::restore(g.save());
    let h = head(&mut a, 0);
    assert!(
        matches!(h.gap, GapState::Solid { ticks_left } if (120..=240).contains(&ticks_left)),
        "{:?}",
        h.gap
    );
    let ms = a.world_mut().resource::<MatchState>().clone();
    assert_eq!(ms.round, 1, "round 1");
}
