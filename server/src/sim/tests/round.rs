//! Rounds and matches: phases, ready and countdown, scores and the match end, seats, spawns, idling.

use super::*;

#[test]
fn match_end_needs_target_and_a_lead_of_two() {
    assert!(!match_decided(&[10, 9], 10, 2), "10-9 does not end");
    assert!(match_decided(&[11, 9], 10, 2), "11-9 ends");
    assert!(!match_decided(&[9, 0], 10, 2), "below target");
    assert!(match_decided(&[20, 3, 18], 20, 2), "3 players: 20 vs 18");
    assert!(!match_decided(&[21, 20, 3], 20, 2), "lead of one");
}

fn set_score(g: &mut Game, seat: u8, s: u32) {
    let e = entity(g, seat);
    g.world_mut().get_mut::<Player>(e).expect("player").score = s;
}

#[test]
fn match_ends_at_eleven_nine_not_ten_nine() {
    let mut g = started(2, plain(), 8);
    to_playing(&mut g);
    set_score(&mut g, 0, 9);
    set_score(&mut g, 1, 9);
    place(&mut g, 1, 10, 400, WEST);
    place(&mut g, 0, 500, 400, EAST);
    step_until(&mut g, 20, is_death).expect("seat 1 dies");
    assert_eq!((score(&g, 0), score(&g, 1)), (10, 9), "10-9");
    while g.phase() == Phase::RoundOver {
        g.step();
    }
    assert_eq!(g.phase(), Phase::Countdown, "10-9 → next round");
    to_playing(&mut g);
    place(&mut g, 1, 10, 400, WEST);
    place(&mut g, 0, 500, 400, EAST);
    step_until(&mut g, 20, is_death).expect("seat 1 dies again");
    let mut record = None;
    let mut match_end = None;
    while g.phase() == Phase::RoundOver {
        let out = g.step();
        record = record.or(out.record);
        for e in out.lifecycle {
            if let RoomEvent::MatchEnd(m) = e {
                match_end = Some(m);
            }
        }
    }
    assert_eq!(g.phase(), Phase::Finished, "11-9 ends the match");
    let m = match_end.expect("match_end");
    assert_eq!(m.winner.as_deref(), Some("u0"), "seat 0 wins");
    assert_eq!(
        (
            m.standings[0].points,
            m.standings[0].place,
            m.standings[0].won
        ),
        (11, 1, true),
        "{m:?}"
    );
    assert_eq!(
        (m.standings[1].points, m.standings[1].place),
        (9, 2),
        "{m:?}"
    );
    let r = record.expect("db record");
    assert_eq!(r.winner.as_deref(), Some("u0"), "record winner");
    assert!(!r.input_log.is_empty(), "record carries the input log");
    for _ in 0..g.config().match_over_ms * 60 / 1000 {
        g.step();
    }
    assert_eq!(
        g.phase(),
        Phase::Waiting,
        "finished lasts 5 s, then waiting"
    );
    assert!(g.players().iter().all(|p| !p.ready), "ready flags cleared");
    assert_eq!(g.players().len(), 2, "same players");
}

#[test]
fn phases_and_ready_flow() {
    let mut g = Game::new(plain(), 9, 2);
    g.add_player("a", "A").expect("seat a");
    g.add_player("b", "B").expect("seat b");
    assert_eq!(
        g.add_player("c", "C"),
        Err(GameError::Full),
        "max_players 2"
    );
    assert_eq!(
        g.add_player("a", "A"),
        Err(GameError::AlreadySeated),
        "no second seat"
    );
    g.set_ready("a", true);
    assert!(g.step().tick.is_none(), "no ticks while waiting");
    assert_eq!(g.phase(), Phase::Waiting, "one of two ready: still waiting");
    g.set_ready("b", true);
    let out = g.step();
    assert_eq!(g.phase(), Phase::Countdown, "all ready → countdown");
    let names: Vec<&str> = out.lifecycle.iter().map(|e| e.name()).collect();
    assert_eq!(
        names,
        vec!["round_start", "phase"],
        "round_start then phase"
    );
    let t = out.tick.expect("the transition tick is sent");
    assert!(
        matches!(t.events.first(), Some(Event::RoundStart { round: 1, .. })),
        "round start event"
    );
    let mut countdown = 1;
    while g.phase() == Phase::Countdown {
        g.step();
        countdown += 1;
    }
    assert_eq!(
        countdown,
        180 + 1,
        "3 s countdown at 60 Hz (plus the start tick)"
    );
    assert_eq!(g.phase(), Phase::Playing, "then playing");
    // No late seats.
    g.remove_player("b");
    let mut g2 = Game::new(plain(), 9, 4);
    g2.add_player("a", "A").expect("a");
    g2.add_player("b", "B").expect("b");
    g2.set_ready("a", true);
    g2.set_ready("b", true);
    g2.step();
    assert_eq!(
        g2.add_player("c", "C"),
        Err(GameError::AlreadyStarted),
        "no joins mid-match"
    );
    // Leaving ends the round (counts as dead) and, with one player left, the match.
    g.step();
    assert_eq!(g.phase(), Phase::RoundOver, "a leaver counts as dead");
    assert_eq!(score(&g, 0), 1, "the remaining player scores");
    while g.phase() == Phase::RoundOver {
        g.step();
    }
    assert_eq!(
        g.phase(),
        Phase::Finished,
        "one seated player left: the match ends by forfeit"
    );
}

#[test]
fn a_lone_player_practises_without_match_end() {
    let mut g = Game::new(plain(), 10, 4);
    g.add_player("a", "A").expect("seat");
    g.set_ready("a", true);
    g.step();
    assert_eq!(g.phase(), Phase::Countdown, "a lone ready player practises");
    to_playing(&mut g);
    place(&mut g, 0, 10, 400, WEST);
    step_until(&mut g, 20, is_death).expect("dies");
    assert_eq!(
        g.phase(),
        Phase::RoundOver,
        "round over when nobody is left"
    );
    while g.phase() == Phase::RoundOver {
        g.step();
    }
    assert_eq!(
        g.phase(),
        Phase::Countdown,
        "practice rounds keep coming, no match end"
    );
    assert_eq!(g.round(), 2, "second round");
    g.add_player("b", "B").expect("joining stops practice");
    g.step();
    assert_eq!(
        g.phase(),
        Phase::Waiting,
        "back to waiting for the ready flow"
    );
}

#[test]
fn countdown_rotates_heads_in_place() {
    let mut g = started(2, plain(), 11);
    let before = head(&mut g, 0);
    g.set_input(&uid(0), 1);
    let out = g.step();
    let after = head(&mut g, 0);
    assert_eq!(after.pos, before.pos, "no movement in the countdown");
    assert_ne!(after.heading, before.heading, "steering rotates the head");
    let h = out
        .tick
        .expect("tick")
        .heads
        .into_iter()
        .find(|h| h.seat == 0)
        .expect("head update");
    assert_eq!(h.draw, Draw::Still, "sent as a still head");
    assert!(g.snapshot().trails.is_empty(), "nothing drawn");
}

#[test]
fn disconnect_keeps_input_then_expires_the_seat() {
    let mut g = started(3, plain(), 12);
    to_playing(&mut g);
    place(&mut g, 0, 500, 400, EAST);
    place(&mut g, 1, 100, 100, EAST);
    place(&mut g, 2, 100, 700, EAST);
    // Keep everyone alive: 1 and 2 circle; 0 circles too.
    for i in 0..3 {
        g.set_input(&uid(i), 1);
    }
    // Seat 0 circles forever only if immune; make the field safe by removing trails each tick.
    g.set_connected(&uid(0), false);
    let h0 = head(&mut g, 0).heading;
    let grace = 15 * 60;
    for t in 1..=grace {
        g.world_mut().resource_mut::<Trails>().grid.clear();
        g.step();
        if t == 1 {
            assert_ne!(
                head(&mut g, 0).heading,
                h0,
                "a disconnected head keeps turning with its last input"
            );
        }
        if t < grace {
            assert!(
                g.players().iter().any(|p| p.user_id == "u0"),
                "seat kept during the grace period (tick {t})"
            );
        }
    }
    assert!(
        !g.players().iter().any(|p| p.user_id == "u0"),
        "seat expires after 15 s"
    );
    assert_eq!(
        (score(&g, 1), score(&g, 2)),
        (1, 1),
        "the expired player counts as dead"
    );

    // Reconnecting within the grace period keeps the seat.
    let mut g = started(2, plain(), 13);
    g.set_connected(&uid(1), false);
    for _ in 0..100 {
        g.step();
    }
    g.set_connected(&uid(1), true);
    for _ in 0..grace {
        g.step();
    }
    assert!(
        g.players().iter().any(|p| p.user_id == "u1" && p.connected),
        "rejoined seat kept"
    );
}

#[test]
fn spawns_keep_their_distances() {
    let cfg = plain();
    let st = Settings::new(cfg.clone());
    let margin = 2 * st.min_turn_radius;
    for seed in 0..40 {
        let g = started(8, cfg.clone(), seed);
        let s = g.snapshot();
        for p in &s.players {
            assert!(
                p.x >= margin && p.y >= margin && p.x <= st.w - margin && p.y <= st.h - margin,
                "seed {seed}: spawn {:?} within 2 turning radii of a wall",
                (p.x, p.y)
            );
        }
        for (i, a) in s.players.iter().enumerate() {
            for b in &s.players[i + 1..] {
                let d2 = ((a.x - b.x) as i64).pow(2) + ((a.y - b.y) as i64).pow(2);
                assert!(
                    d2 >= (80 * POS_SCALE as i64).pow(2),
                    "seed {seed}: spawns closer than 80 px"
                );
            }
        }
    }
}

/// A waiting room with nothing to decide is idle; readiness, a dropped connection or a
/// seat being given up each need ticks, and so does every phase after waiting.
#[test]
fn a_waiting_game_is_idle_until_something_needs_ticks() {
    let mut g = Game::new(GameConfig::default(), 7, 8);
    assert!(g.is_idle(), "an empty waiting room");
    g.add_player(&uid(0), "p0").expect("seat");
    g.add_player(&uid(1), "p1").expect("seat");
    assert!(g.is_idle(), "seated, nobody ready");
    g.set_ready(&uid(0), true);
    assert!(!g.is_idle(), "a ready player: the start must be checked");
    g.set_ready(&uid(0), false);
    assert!(g.is_idle(), "unready again");
    g.set_connected(&uid(1), false);
    assert!(!g.is_idle(), "a dropped player's seat must expire");
    g.set_connected(&uid(1), true);
    assert!(g.is_idle(), "back");
    g.remove_player(&uid(1));
    let settled = (0..5).any(|_| {
        g.step();
        g.is_idle()
    });
    assert!(settled, "a freed seat settles within a few ticks");
    let mut g = started(2, GameConfig::default(), 7);
    assert!(!g.is_idle(), "countdown ticks");
    to_playing(&mut g);
    assert!(!g.is_idle(), "playing ticks");
}

#[test]
fn a_waiting_room_logs_nothing_however_much_its_players_send() {
    let mut g = Game::new(GameConfig::default(), 9, 8);
    g.add_player(&uid(0), "a").expect("seat");
    g.add_player(&uid(1), "b").expect("seat");
    for i in 0..10_000 {
        g.set_input(&uid(0), if i % 2 == 0 { 1 } else { -1 });
        g.set_ready(&uid(1), i % 3 == 0);
        g.set_ready(&uid(1), false);
        g.step();
    }
    assert_eq!(g.phase(), Phase::Waiting, "nobody stayed ready");
    assert!(
        g.input_log().entries.is_empty(),
        "expected no log while waiting, got {} entries",
        g.input_log().entries.len()
    );
}
