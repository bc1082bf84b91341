//! The headless test kit: runs any game ([`GameKind`]) without a server, from a script
//! of seat changes and inputs, and checks what the runtime relies on — the same seed and
//! script give the same state every run, a game saved mid-match resumes exactly, a
//! finished match's log replays to its standings, and every frame keeps the envelope
//! (CONTRACT §11). Each game's own tests call it (docs/GAMES.md, "Test it").

#[cfg(test)]
mod toy;

use bytes::Bytes;
use kurve_shared::envelope::{json_form, tick_number, tick_numbers, ticks_frame};
use serde_json::Value;

use super::{GameKind, Lifecycle, Outcome, RoomGame};

/// Something a player does, before a given step.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Sends `ready {"ready": true}`.
    Ready(usize),
    /// Sends `input` with this payload.
    Input(usize, Value),
    /// The player's socket drops (the seat is kept for a while).
    Disconnect(usize),
    /// The player's socket comes back.
    Reconnect(usize),
    /// The player leaves (`phx_leave`).
    Leave(usize),
}

/// Players seated at the start and what they do: `actions` are `(step, action)`, applied
/// before that step (0 = before the first), in the order listed. The index in an action
/// is into `players`.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// `(user_id, name)`, seated in order before anything else.
    pub players: Vec<(String, String)>,
    pub max_players: u8,
    pub actions: Vec<(u64, Action)>,
}

impl Script {
    /// `n` players `u0`, `u1`, … (named `P0`, `P1`, …) who are all ready at step 0.
    pub fn ready(n: usize, max_players: u8) -> Script {
        Script {
            players: (0..n).map(|i| (format!("u{i}"), format!("P{i}"))).collect(),
            max_players,
            actions: (0..n).map(|i| (0, Action::Ready(i))).collect(),
        }
    }

    /// Adds `action` before `step`.
    pub fn at(mut self, step: u64, action: Action) -> Script {
        self.actions.push((step, action));
        self
    }
}

/// What a scripted run produced.
#[derive(Debug)]
pub struct Run {
    /// The state hash after every step.
    pub hashes: Vec<u64>,
    /// Every `tick` payload, in order.
    pub ticks: Vec<Bytes>,
    /// Every JSON event, in order.
    pub lifecycle: Vec<Lifecycle>,
    /// The first match's outcome, if one ended.
    pub outcome: Option<Outcome>,
    /// The snapshot after the last step.
    pub snapshot: Bytes,
}

/// Seats the script's players in a new game of `kind`.
fn start(kind: &dyn GameKind, seed: u64, script: &Script) -> Box<dyn RoomGame> {
    let mut game = kind.create(seed, script.max_players);
    for (user_id, name) in &script.players {
        game.add_player(user_id, name)
            .unwrap_or_else(|e| panic!("{user_id} could not be seated: {e}"));
    }
    game
}

fn act(game: &mut dyn RoomGame, script: &Script, action: &Action) {
    let user = |i: &usize| script.players[*i].0.as_str();
    match action {
        Action::Ready(i) => game.set_ready(user(i), true),
        Action::Input(i, payload) => {
            // The seat hint is a guess, as a room's is: the game must cope with a wrong one.
            let seq = payload
                .get("seq")
                .and_then(Value::as_u64)
                .and_then(|s| u32::try_from(s).ok());
            if let Err(error) = game.input(Some(*i as u8), user(i), payload, seq) {
                panic!("the script's input {payload} was refused: {error:?}");
            }
        }
        Action::Disconnect(i) => game.set_connected(user(i), false),
        Action::Reconnect(i) => game.set_connected(user(i), true),
        Action::Leave(i) => game.remove_player(user(i)),
    }
}

/// Steps `game` from step `from` to `to`, applying the script's actions on the way.
fn advance(game: &mut dyn RoomGame, script: &Script, from: u64, to: u64, run: &mut Run) {
    for step in from..to {
        for (_, action) in script.actions.iter().filter(|(at, _)| *at == step) {
            act(game, script, action);
        }
        let out = game.step();
        run.ticks.extend(out.tick);
        run.lifecycle.extend(out.lifecycle);
        if run.outcome.is_none() {
            run.outcome = out.outcome;
        }
        run.hashes.push(game.state_hash());
    }
    run.snapshot = game.snapshot();
}

fn empty_run() -> Run {
    Run {
        hashes: Vec::new(),
        ticks: Vec::new(),
        lifecycle: Vec::new(),
        outcome: None,
        snapshot: Bytes::new(),
    }
}

/// Runs `script` for `steps` steps on a new game of `kind`.
pub fn run(kind: &dyn GameKind, seed: u64, script: &Script, steps: u64) -> Run {
    let mut game = start(kind, seed, script);
    let mut run = empty_run();
    advance(&mut *game, script, 0, steps, &mut run);
    run
}

/// Two runs of the same seed and script: the same state hash after every step, and the
/// same bytes in every frame.
pub fn assert_deterministic(kind: &dyn GameKind, seed: u64, script: &Script, steps: u64) {
    let a = run(kind, seed, script, steps);
    let b = run(kind, seed, script, steps);
    assert_eq!(
        a.hashes,
        b.hashes,
        "{}: the state hashes differ",
        kind.info().id
    );
    assert_eq!(
        a.ticks,
        b.ticks,
        "{}: the tick bytes differ",
        kind.info().id
    );
    assert_eq!(
        a.snapshot,
        b.snapshot,
        "{}: the snapshots differ",
        kind.info().id
    );
    assert_eq!(
        a.outcome,
        b.outcome,
        "{}: the outcomes differ",
        kind.info().id
    );
    let c = run(kind, seed ^ 0x9e37_79b9, script, steps);
    assert!(
        steps < 10 || c.hashes != a.hashes,
        "{}: another seed gave the very same states — is the seed used?",
        kind.info().id
    );
}

/// A game saved after step `at`, encoded as another node gets it, restored and run on:
/// the same states and frames as the run that never stopped.
pub fn assert_resumes(kind: &dyn GameKind, seed: u64, script: &Script, steps: u64, at: u64) {
    assert!(at < steps, "save before the end");
    let straight = run(kind, seed, script, steps);
    let mut game = start(kind, seed, script);
    let mut resumed = empty_run();
    advance(&mut *game, script, 0, at, &mut resumed);
    let bytes = game.save().encode();
    drop(game);
    let mut game = kind
        .restore(&bytes)
        .unwrap_or_else(|e| panic!("{}: its own saved state: {e}", kind.info().id));
    assert_eq!(
        game.state_hash(),
        resumed.hashes.last().copied().unwrap_or(game.state_hash()),
        "{}: restored to another state",
        kind.info().id
    );
    // The save slot's copy resumes too (a supervisor restart on the same node).
    let slot = game.save().resume();
    assert_eq!(slot.state_hash(), game.state_hash());
    advance(&mut *game, script, at, steps, &mut resumed);
    assert_eq!(
        straight.hashes,
        resumed.hashes,
        "{}: a resumed game went another way",
        kind.info().id
    );
    assert_eq!(
        straight.ticks,
        resumed.ticks,
        "{}: tick bytes differ",
        kind.info().id
    );
    assert_eq!(straight.outcome, resumed.outcome);
    assert!(
        kind.restore(b"\xc1 not a saved game").is_err(),
        "{}: garbage restored",
        kind.info().id
    );
}

/// The match the script plays must end within `steps`; its log, read back as a stored
/// match is, replays to the same standings, ending on the same tick. The outcome.
pub fn assert_replays(kind: &dyn GameKind, seed: u64, script: &Script, steps: u64) -> Outcome {
    let played = run(kind, seed, script, steps);
    let outcome = played
        .outcome
        .unwrap_or_else(|| panic!("{}: no match ended in {steps} steps", kind.info().id));
    let recording = kind
        .open_log(&outcome.log)
        .unwrap_or_else(|e| panic!("{}: its own log: {e}", kind.info().id));
    let mut playback = recording.play();
    let mut replayed = None;
    let mut checkpoint = None;
    let middle = recording.start_tick() + (recording.end_tick() - recording.start_tick()) / 2;
    while playback.tick() < recording.end_tick() {
        if playback.tick() == middle {
            checkpoint = Some((playback.checkpoint(), playback.state_hash()));
        }
        if let Some(outcome) = playback.step().outcome {
            replayed = Some(outcome);
        }
    }
    let replayed =
        replayed.unwrap_or_else(|| panic!("{}: the replay did not end the match", kind.info().id));
    assert_eq!(
        replayed.standings,
        outcome.standings,
        "{}: standings",
        kind.info().id
    );
    assert_eq!(replayed.winner, outcome.winner);
    assert_eq!(replayed.duration_ticks, outcome.duration_ticks);
    if let Some((checkpoint, hash)) = checkpoint {
        assert_eq!(
            checkpoint.resume().state_hash(),
            hash,
            "a checkpoint resumes"
        );
    }
    assert!(kind.open_log(b"\xc1 not a log").is_err());
    let mut cut = outcome.log.clone();
    cut.truncate(cut.len() / 2);
    assert!(kind.open_log(&cut).is_err(), "half a log is refused");
    outcome
}

/// Every frame keeps the envelope every client and tool relies on: each `tick` a map
/// whose `tick` key is consecutive while ticks flow, the `ticks` frame of them decodes to
/// the same numbers, snapshots carry `tick`, and everything has a JSON form (long-poll
/// and V1 sockets get that).
pub fn assert_envelope(kind: &dyn GameKind, seed: u64, script: &Script, steps: u64) {
    let id = kind.info().id;
    let played = run(kind, seed, script, steps);
    assert!(!played.ticks.is_empty(), "{id}: the script sent no tick");
    let numbers: Vec<u64> = played
        .ticks
        .iter()
        .map(|t| tick_number(t).unwrap_or_else(|e| panic!("{id}: a tick without `tick`: {e}")))
        .collect();
    // Consecutive while ticks flow; a game may skip the ticks it spent waiting between
    // matches (it sends nothing then), never go back.
    let jumps = numbers.windows(2).filter(|p| p[1] != p[0] + 1).count();
    let waits = played
        .lifecycle
        .iter()
        .filter(|e| e.event == "phase" && e.payload.get("phase") == Some(&Value::from("waiting")))
        .count();
    assert!(
        numbers.windows(2).all(|p| p[1] > p[0]),
        "{id}: tick numbers go back"
    );
    assert!(
        jumps <= waits,
        "{id}: {jumps} gaps in the tick numbers but {waits} returns to waiting"
    );
    for chunk in played.ticks.chunks(17) {
        let frame = ticks_frame(chunk);
        let want: Vec<u64> = chunk.iter().map(|t| tick_number(t).unwrap()).collect();
        assert_eq!(tick_numbers(&frame).unwrap(), want, "{id}: a ticks frame");
        json_form(&frame).unwrap_or_else(|e| panic!("{id}: a ticks frame has no JSON form: {e}"));
    }
    let snapshot: Value = serde_json::from_str(
        &json_form(&played.snapshot).unwrap_or_else(|e| panic!("{id}: snapshot: {e}")),
    )
    .expect("JSON");
    assert!(
        snapshot.get("tick").is_some_and(Value::is_u64),
        "{id}: a snapshot without `tick`"
    );
    for event in &played.lifecycle {
        assert!(!event.event.is_empty() && event.payload.is_object());
    }
    assert!(
        played.lifecycle.iter().any(|e| e.event == "phase"),
        "{id}: no `phase` event"
    );
}
