//! `kurve-sim-trace`: a scripted match through the server's simulation, printed as JSON,
//! for the web client's prediction test (`web-client/test/predict.test.mjs`) to run its
//! TypeScript port of the motion rules over and compare with, tick by tick and exactly.
//!
//! The output: `{"seed", "config", "players", "ticks": [{"tick", "inputs": [[seat, turn,
//! seq|null]], "msg", "exact": [[seat, alive, fx, fy, hf]]}]}` where `inputs` were sent
//! just before the tick ran, `msg` is the tick as a client receives it (the JSON form of
//! the binary frame) and `exact` is every head after it at full precision.
//!
//! The script steers at random (seeded), spawns large items every 0.2–0.4 s so that
//! speed, slow, reverse and wrap effects happen within a few rounds, and leaves one seat
//! without `seq` (an old client).

use anyhow::{Context, Result};
use clap::Parser;
use kurve_server::sim::{Game, GameConfig};
use kurve_shared::game::{encode_tick, json_form};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

/// Print a JSON trace of a scripted match: per-tick inputs, tick messages and exact heads.
#[derive(Debug, Parser)]
#[command(name = "kurve-sim-trace")]
struct Cli {
    /// Room seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Seated players (2–8); the last one sends inputs without `seq`.
    #[arg(long, default_value_t = 3)]
    players: usize,
    /// Ticks to run.
    #[arg(long, default_value_t = 7200)]
    ticks: u64,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let config = GameConfig {
        // Many large items, so that pickups (and the effects that change speed, controls
        // and walls) are common before random steering runs a head into a wall.
        item_spawn_min_ms: 200,
        item_spawn_max_ms: 400,
        item_radius_px: 60,
        max_items: 24,
        item_head_clearance_px: 0,
        // Short rounds between, so many rounds (spawns, countdowns) fit in the trace.
        countdown_ms: 500,
        round_over_ms: 300,
        ..GameConfig::default()
    };
    let mut game = Game::new(config.clone(), cli.seed, 8);
    let n = cli.players.clamp(2, 8);
    for i in 0..n {
        game.add_player(&format!("u{i}"), &format!("p{i}"))
            .context("seat a player")?;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cli.seed ^ 0x7ace);
    let mut seqs = vec![0u32; n];
    let mut ticks = Vec::new();
    // Inputs sent while the room waits (no tick is broadcast) steer later ticks.
    let mut inputs = Vec::new();
    for _ in 0..cli.ticks {
        for (i, seq) in seqs.iter_mut().enumerate() {
            let user = format!("u{i}");
            game.set_ready(&user, true);
            // About one input per 8 ticks per player, some in bursts of two in one tick.
            let sends = match rng.random_range(0..16) {
                0 => 2,
                1 | 2 => 1,
                _ => 0,
            };
            for _ in 0..sends {
                let turn: i8 = rng.random_range(-1..=1);
                let sent = (i + 1 < n).then(|| {
                    *seq += 1 + rng.random_range(0..3);
                    *seq
                });
                game.set_input_seq(Some(i as u8), &user, turn, sent);
                inputs.push(json!([i, turn, sent]));
            }
        }
        let out = game.step();
        let Some(tick) = out.tick else { continue };
        let msg: Value = serde_json::from_str(&json_form(&encode_tick(&tick)?)?)?;
        let exact: Vec<Value> = game
            .exact_heads()
            .into_iter()
            .map(|(seat, alive, pos, heading)| json!([seat, alive, pos[0], pos[1], heading]))
            .collect();
        ticks.push(json!({
            "tick": tick.tick,
            "inputs": std::mem::take(&mut inputs),
            "msg": msg,
            "exact": exact,
        }));
    }
    let trace = json!({
        "seed": cli.seed,
        "config": config,
        "players": n,
        "ticks": ticks,
    });
    println!("{trace}");
    Ok(())
}
