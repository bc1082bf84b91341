//! Input: which seat an input steers, and its `seq` acknowledged in the tick.

use super::*;

fn turn_of(g: &mut Game, seat: u8) -> i8 {
    let e = entity(g, seat);
    g.world_mut().get::<Player>(e).expect("player").turn
}

#[test]
fn input_at_a_seat_applies_to_that_seat_and_a_wrong_seat_falls_back_to_the_user() {
    let mut g = started(3, GameConfig::default(), 5);
    g.set_input_at(1, &uid(1), 1);
    assert_eq!(turn_of(&mut g, 1), 1);
    // A stale seat (someone else sits there): the user's own seat still gets it.
    g.set_input_at(0, &uid(2), -1);
    assert_eq!(turn_of(&mut g, 2), -1);
    assert_eq!(
        turn_of(&mut g, 0),
        0,
        "the player at the guessed seat is untouched"
    );
    // An empty or out-of-range seat too.
    g.set_input_at(7, &uid(0), 1);
    g.set_input_at(200, &uid(1), 0);
    assert_eq!((turn_of(&mut g, 0), turn_of(&mut g, 1)), (1, 0));
    // A leaving player's input is ignored, as by user id.
    g.remove_player(&uid(1));
    g.set_input_at(1, &uid(1), -1);
    assert_eq!(turn_of(&mut g, 1), 0);
    // Logged by seat, as an input by user id is.
    let log = g.input_log().entries.clone();
    assert!(
        log.iter()
            .any(|e| matches!(e.cmd, crate::sim::Command::Turn { seat: 2, turn: -1 })),
        "{log:?}"
    );
}

/// The head update of `seat` in a tick.
fn head_update(t: &Tick, seat: u8) -> Option<kurve_shared::game::HeadUpdate> {
    t.heads.iter().find(|h| h.seat == seat).copied()
}

#[test]
fn an_input_seq_is_acknowledged_once_in_the_next_head_update_of_its_seat() {
    let mut g = started(2, plain(), 9);
    to_playing(&mut g);
    let t = g.step().tick.expect("a tick");
    assert_eq!(
        head_update(&t, 0).and_then(|h| h.ack),
        None,
        "no seq sent yet"
    );

    g.set_input_seq(Some(0), &uid(0), 1, Some(7));
    g.set_input_seq(None, &uid(1), -1, None);
    let before = head(&mut g, 0).heading;
    let t = g.step().tick.expect("a tick");
    assert_eq!(
        head_update(&t, 0).and_then(|h| h.ack),
        Some(7),
        "seat 0 acks seq 7"
    );
    assert_eq!(
        head_update(&t, 1).and_then(|h| h.ack),
        None,
        "seat 1 sent no seq"
    );
    assert_ne!(
        head(&mut g, 0).heading,
        before,
        "the acked input steered this tick"
    );

    let t = g.step().tick.expect("a tick");
    assert_eq!(
        head_update(&t, 0).and_then(|h| h.ack),
        None,
        "only when it changed"
    );

    // Two inputs between ticks: the last one is what steered, and what is acked.
    g.set_input_seq(Some(0), &uid(0), -1, Some(8));
    g.set_input_seq(Some(0), &uid(0), 0, Some(9));
    let t = g.step().tick.expect("a tick");
    assert_eq!(head_update(&t, 0).and_then(|h| h.ack), Some(9));
    assert_eq!(turn_of(&mut g, 0), 0);

    // A snapshot carries the last seq applied and the exact head.
    let s = g.snapshot();
    let exact = s.players[0].exact.expect("exact head");
    let h = head(&mut g, 0);
    assert_eq!(
        (exact.fx, exact.fy, exact.hf, exact.seq),
        (h.pos[0], h.pos[1], h.heading, Some(9))
    );
    assert_eq!(s.players[1].exact.and_then(|e| e.seq), None);

    // A socket that comes back numbers its inputs afresh.
    g.set_connected(&uid(0), false);
    g.set_connected(&uid(0), true);
    assert_eq!(g.snapshot().players[0].exact.and_then(|e| e.seq), None);
}

#[test]
fn input_seqs_change_neither_the_state_hash_nor_the_input_log() {
    let run = |with_seq: bool| {
        let mut g = started(2, GameConfig::default(), 21);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut hashes = Vec::new();
        for n in 0..2000u32 {
            for i in 0..2 {
                if rng.random_range(0..6) == 0 {
                    let turn = rng.random_range(-1..=1);
                    let seq = with_seq.then_some(n * 2 + i as u32);
                    g.set_input_seq(Some(i as u8), &uid(i), turn, seq);
                }
            }
            g.step();
            hashes.push(g.state_hash());
        }
        (hashes, g.input_log().to_bytes().unwrap())
    };
    let (plain_hashes, plain_log) = run(false);
    let (seq_hashes, seq_log) = run(true);
    assert_eq!(plain_hashes, seq_hashes, "per-tick state hashes");
    assert_eq!(plain_log, seq_log, "the recorded input log");
}

/// Bytes a 6-player tick costs with and without acknowledgements (docs/PERF.md): the
/// same tick encoded with its acks and with them removed.
#[test]
fn an_ack_costs_a_few_bytes_of_a_six_player_tick() {
    let mut g = started(6, plain(), 4);
    to_playing(&mut g);
    let size_without_acks = |t: &Tick| {
        let mut t = t.clone();
        for h in &mut t.heads {
            h.ack = None;
        }
        encode_tick(&t).unwrap().len()
    };
    g.set_input_seq(Some(0), &uid(0), 0, Some(70_000));
    let one = g.step().tick.expect("a tick");
    for i in 0..6 {
        g.set_input_seq(Some(i as u8), &uid(i), 0, Some(100 + i as u32));
    }
    let six = g.step().tick.expect("a tick");
    let none = g.step().tick.expect("a tick");
    assert_eq!(six.heads.len(), 6, "six moving heads");
    assert_eq!(
        decode_tick(&encode_tick(&six).unwrap()).expect("decodes"),
        six,
        "round trip"
    );
    let (base, with_one) = (size_without_acks(&one), encode_tick(&one).unwrap().len());
    let with_six = encode_tick(&six).unwrap().len();
    eprintln!(
        "6-player tick: {base} B; + one ack (seq 70000) {with_one} B; + six acks (seq 100..105) {with_six} B (without them {} B); a tick without a changed seq {} B = {} B without acks",
        size_without_acks(&six),
        encode_tick(&none).unwrap().len(),
        size_without_acks(&none)
    );
    assert_eq!(
        encode_tick(&none).unwrap().len(),
        size_without_acks(&none),
        "no seq changed: not one byte more"
    );
    // An ack is the key "a" (2 bytes) and a u32 (1 to 5 bytes).
    assert_eq!(with_one - base, 2 + 5, "one ack of a seq ≥ 65536");
    assert_eq!(
        with_six - size_without_acks(&six),
        6 * (2 + 1),
        "six acks of seqs < 128"
    );
}
