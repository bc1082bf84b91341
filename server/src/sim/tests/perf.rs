//! Timings of the step, ignored by default: `cargo test -p kurve-server --release --lib perf_ -- --ignored --nocapture`.

use super::*;

/// `cargo test --release -p kurve-server --lib sim::tests::perf -- --ignored --nocapture`
///
/// A late-round field: 32 full-width trail lines (≈ 33k segments, 24 px apart), eight
/// heads running between them with walls wrapping and gaps on (items off: a `clear_all`
/// would empty the field). 600 steps: less than a lap, so nobody meets their own line.
#[test]
#[ignore]
fn perf_step_with_eight_players_late_in_a_round() {
    let mut g = started(
        8,
        GameConfig {
            items_enabled: false,
            ..GameConfig::default()
        },
        1,
    );
    to_playing(&mut g);
    for k in 0..32 {
        let y = 12 + 24 * k;
        draw_line(&mut g, (k % 8) as u8, [0, y], [1023, y]);
    }
    for s in 0..8u8 {
        place(
            &mut g,
            s,
            100 * s as i32 + 50,
            24 * (4 * s as i32 + 1),
            EAST,
        );
    }
    g.world_mut()
        .resource_mut::<crate::sim::components::Effects>()
        .list
        .push(crate::sim::components::ActiveEffect {
            id: 999,
            kind: ItemKind::WrapAll,
            by: 0,
            targets: 0xff,
            ends_at: u64::MAX,
        });
    let steps = 600;
    let t0 = std::time::Instant::now();
    for _ in 0..steps {
        g.step();
    }
    let dt = t0.elapsed();
    let segs = g.world_mut().resource::<Trails>().grid.segments().len();
    let alive = g.players().iter().filter(|p| p.alive).count();
    eprintln!(
        "perf: {:.2} µs/step over {steps} steps, {segs} trail segments at the end, {alive} alive",
        dt.as_secs_f64() * 1e6 / steps as f64
    );
    assert_eq!(alive, 8, "the scenario keeps everyone alive");
}

/// Steps each game in turn, `rounds` times, with 1 MiB of other memory touched before
/// each step (sockets, other tasks), so each World is cold in the cache when it steps;
/// `before` runs untimed before each step. Returns µs per step.
fn cold_steps(
    games: &mut [Game],
    rounds: usize,
    mut before: impl FnMut(usize, usize, &mut Game),
) -> f64 {
    let mut other = vec![0u8; 1 << 20];
    let mut stepping = std::time::Duration::ZERO;
    for r in 0..rounds {
        for (i, g) in games.iter_mut().enumerate() {
            for b in other.iter_mut().step_by(64) {
                *b = b.wrapping_add(1);
            }
            before(r, i, g);
            let t0 = std::time::Instant::now();
            std::hint::black_box(g.step());
            stepping += t0.elapsed();
        }
    }
    stepping.as_secs_f64() * 1e6 / (rounds * games.len()) as f64
}

/// The cost of a step as a busy server sees it: 100 six-player rooms in play stepped in
/// turn with cold caches ([`cold_steps`]), against one room stepped alone.
/// `cargo test --release -p kurve-server --lib sim::tests::perf_hundred -- --ignored --nocapture`
#[test]
#[ignore]
fn perf_hundred_rooms_stepped_in_turn() {
    let mut games: Vec<Game> = (0..100)
        .map(|seed| {
            let mut g = started(6, GameConfig::default(), seed);
            to_playing(&mut g);
            g
        })
        .collect();
    let rounds = 300;
    let cold = cold_steps(&mut games, rounds, |r, i, g| {
        g.set_input(&uid(r % 6), ((r + i) % 3) as i8 - 1)
    });
    let g = &mut games[0];
    let t0 = std::time::Instant::now();
    for r in 0..rounds {
        g.set_input(&uid(r % 6), (r % 3) as i8 - 1);
        std::hint::black_box(g.step());
    }
    let warm = t0.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    eprintln!(
        "perf: {cold:.2} µs/step cold (100 rooms in turn), {warm:.2} µs/step warm (one room)"
    );
}

/// The fixed part of a cold step (schedule, systems, resource lookups): 100 empty waiting
/// rooms stepped in turn with cold caches ([`cold_steps`]).
#[test]
#[ignore]
fn perf_empty_rooms_stepped_in_turn() {
    let mut games: Vec<Game> = (0..100)
        .map(|seed| Game::new(GameConfig::default(), seed, 6))
        .collect();
    let cold = cold_steps(&mut games, 300, |_, _, _| {});
    eprintln!("perf: {cold:.2} µs/step cold for an empty waiting room");
}
