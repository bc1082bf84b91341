//! One replay: the re-simulation ([`Resim`]), its viewers, and the clock that steps it
//! at the chosen speed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kurve_shared::game::{self, Standing};
use serde_json::json;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::{ReplayDeps, ReplayHandle, Replays};
use crate::actor::MailboxReceiver;
use crate::auth::{MatchPlayer, MatchSummary};
use crate::events::ReplayEvent;
use crate::events::error::ChannelError;
use crate::outbound::{Broadcast, ChannelRef, Payload, SocketId};
use crate::sim::{self, Game, InputLog, StepOutput};

/// How long a replay with no viewer waits for one before it stops.
const EMPTY_GRACE: Duration = Duration::from_secs(5);

/// What a replay's mailbox carries.
#[derive(Debug)]
pub enum ReplayCommand {
    Join {
        chan: ChannelRef,
        msg_ref: Arc<str>,
    },
    Leave {
        socket: SocketId,
    },
    /// A viewer's socket fell behind and drained: it gets a fresh snapshot.
    Resync {
        chan: ChannelRef,
    },
    Event {
        chan: ChannelRef,
        msg_ref: Arc<str>,
        event: ReplayEvent,
    },
}

/// A stored match's input log, stepped tick by tick as the room stepped it.
pub struct Resim {
    log: InputLog,
    game: Game,
    next_entry: usize,
    end_tick: u64,
    /// The match's record, once the re-simulation has reached the tick it ended on.
    record: Option<sim::MatchRecord>,
}

impl Resim {
    /// Decodes a stored log; Err when it does not decode, was cut short, or is not a
    /// finished match's log.
    pub fn new(log_bytes: &[u8]) -> Result<Resim, ChannelError> {
        let log = InputLog::from_bytes(log_bytes).map_err(|_| ChannelError::CorruptReplay)?;
        if log.truncated {
            return Err(ChannelError::CorruptReplay);
        }
        let end_tick = log.end_tick.ok_or(ChannelError::CorruptReplay)?;
        if end_tick < log.start_tick {
            return Err(ChannelError::CorruptReplay);
        }
        Ok(Resim {
            game: Game::from_log_start(&log),
            log,
            next_entry: 0,
            end_tick,
            record: None,
        })
    }

    /// The tick the re-simulation is at.
    pub fn tick(&self) -> u64 {
        self.game.tick()
    }

    /// Ticks from the first to the last of the match.
    pub fn duration_ticks(&self) -> u64 {
        self.end_tick - self.log.start_tick
    }

    /// The first tick of the log.
    pub fn start_tick(&self) -> u64 {
        self.log.start_tick
    }

    pub fn done(&self) -> bool {
        self.game.tick() >= self.end_tick
    }

    /// The record of the match, once reached.
    pub fn record(&self) -> Option<&sim::MatchRecord> {
        self.record.as_ref()
    }

    pub fn game(&self) -> &Game {
        &self.game
    }

    /// Applies the commands logged after the current tick, then steps once.
    pub fn step(&mut self) -> StepOutput {
        let entries = &self.log.entries;
        while self.next_entry < entries.len() && entries[self.next_entry].tick <= self.game.tick() {
            self.game.apply(&entries[self.next_entry].cmd);
            self.next_entry += 1;
        }
        let out = self.game.step();
        if let Some(record) = &out.record {
            self.record = Some(record.clone());
        }
        out
    }

    /// Moves to `tick` (clamped to the match), from the start when it lies behind.
    pub fn seek(&mut self, tick: u64) {
        let tick = tick.clamp(self.log.start_tick, self.end_tick);
        if tick < self.game.tick() {
            self.game = Game::from_log_start(&self.log);
            self.next_entry = 0;
        }
        while self.game.tick() < tick {
            self.step();
        }
    }

    /// Runs to the end; the match's record if the re-simulation produced one.
    pub fn run_to_end(&mut self) -> Option<&sim::MatchRecord> {
        while !self.done() {
            self.step();
        }
        self.record.as_ref()
    }
}

/// Whether a re-simulated match ended as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub verified: bool,
    /// The re-simulated standings (the recorded ones when it produced none).
    pub standings: Vec<Standing>,
}

/// Compares the re-simulated record with the standings stored when the match ended:
/// the same players with the same points, places and winner.
pub fn verify(recorded: &[MatchPlayer], resim: Option<&sim::MatchRecord>) -> Verdict {
    let Some(resim) = resim else {
        let standings = recorded
            .iter()
            .map(|p| Standing {
                id: p.user_id.clone(),
                name: p.name.clone(),
                seat: 0,
                points: p.points,
                place: p.place,
                won: p.won,
                left: false,
            })
            .collect();
        return Verdict {
            verified: false,
            standings,
        };
    };
    let mut want: Vec<(&str, u32, u32, bool)> = recorded
        .iter()
        .map(|p| (p.user_id.as_str(), p.points, p.place, p.won))
        .collect();
    let mut have: Vec<(&str, u32, u32, bool)> = resim
        .players
        .iter()
        .map(|s| (s.id.as_str(), s.points, s.place, s.won))
        .collect();
    want.sort_unstable();
    have.sort_unstable();
    Verdict {
        verified: !want.is_empty() && want == have,
        standings: resim.players.clone(),
    }
}

struct Replay {
    match_id: i64,
    topic: Arc<str>,
    deps: ReplayDeps,
    resim: Resim,
    summary: MatchSummary,
    recorded: Vec<MatchPlayer>,
    viewers: HashMap<SocketId, ChannelRef>,
    speed: f64,
    /// Ticks owed at the current speed (0.5× steps every other frame).
    owed: f64,
    frame: Duration,
    next_frame: Instant,
    empty_since: Option<Instant>,
    /// `replay_end` was sent for the current pass.
    ended: bool,
}

/// Loads match `id` and prepares its re-simulation.
async fn load(
    deps: &ReplayDeps,
    match_id: i64,
) -> Result<(Resim, MatchSummary, Vec<MatchPlayer>), ChannelError> {
    let stored = match deps.accounts.stored_match(match_id).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return Err(ChannelError::NotFound),
        Err(error) => {
            tracing::error!(match_id, %error, "could not read a match to replay");
            return Err(ChannelError::Unavailable);
        }
    };
    let resim = Resim::new(&stored.input_log)?;
    Ok((resim, stored.summary, stored.players))
}

pub(super) async fn run(
    match_id: i64,
    mut inbox: MailboxReceiver<ReplayCommand>,
    handle: ReplayHandle,
    replays: Replays,
    cancel: CancellationToken,
) {
    let deps = replays.deps.clone();
    let (resim, summary, recorded) = match load(&deps, match_id).await {
        Ok(loaded) => loaded,
        Err(error) => {
            if error == ChannelError::CorruptReplay {
                tracing::warn!(
                    match_id,
                    "a stored match does not replay: its input log is corrupt"
                );
            }
            replays.forget(&handle);
            inbox.close();
            while let Some(command) = inbox.try_recv() {
                refuse(command, error.clone());
            }
            return;
        }
    };
    let tick_hz = resim.game().config().tick_hz.max(1);
    let mut replay = Replay {
        match_id,
        topic: Arc::from(format!("replay:{match_id}")),
        deps,
        resim,
        summary,
        recorded,
        viewers: HashMap::new(),
        speed: 1.0,
        owed: 0.0,
        frame: Duration::from_secs(1) / tick_hz,
        next_frame: Instant::now(),
        empty_since: Some(Instant::now()),
        ended: false,
    };
    tracing::info!(match_id, "replay started");
    let far = Instant::now() + Duration::from_secs(86_400 * 365);
    loop {
        let next_frame = if replay.playing() {
            replay.next_frame
        } else {
            far
        };
        let expire_at = replay.empty_since.map_or(far, |since| since + EMPTY_GRACE);
        tokio::select! {
            _ = cancel.cancelled() => break,
            command = inbox.recv() => match command {
                Some(command) => replay.handle(command),
                None => break,
            },
            _ = sleep_until(next_frame) => replay.on_frame(),
            _ = sleep_until(expire_at) => {
                replays.forget(&handle);
                inbox.close();
                while let Some(command) = inbox.try_recv() {
                    match command {
                        ReplayCommand::Leave { socket } => replay.leave(socket),
                        other => refuse(other, ChannelError::Unavailable),
                    }
                }
                tracing::info!(match_id, "replay stopped: nobody watches");
                break;
            }
        }
    }
    for socket in replay.viewers.keys().copied().collect::<Vec<_>>() {
        replay.deps.pubsub.unsubscribe(&replay.topic, socket);
    }
}

/// Answers a command that reached a replay which cannot serve it.
fn refuse(command: ReplayCommand, error: ChannelError) {
    match command {
        ReplayCommand::Join { chan, msg_ref } => chan.refuse_join(&msg_ref, error),
        ReplayCommand::Event { chan, msg_ref, .. } => {
            chan.reply_error(&msg_ref, error);
        }
        ReplayCommand::Leave { .. } => {}
        ReplayCommand::Resync { chan } => chan.socket.outbox.end_lag(&chan.topic),
    }
}

impl Replay {
    fn playing(&self) -> bool {
        self.speed > 0.0 && !self.viewers.is_empty() && !self.resim.done()
    }

    fn handle(&mut self, command: ReplayCommand) {
        match command {
            ReplayCommand::Join { chan, msg_ref } => self.join(chan, msg_ref),
            ReplayCommand::Leave { socket } => self.leave(socket),
            ReplayCommand::Resync { chan } => self.resync(&chan),
            ReplayCommand::Event {
                chan,
                msg_ref,
                event,
            } => self.event(chan, msg_ref, event),
        }
    }

    fn join(&mut self, chan: ChannelRef, msg_ref: Arc<str>) {
        let config = self.resim.game().arena_config();
        chan.reply(
            &msg_ref,
            "ok",
            Payload::json(&json!({
                "config": {
                    "tick_hz": config.tick_hz,
                    "send_hz": config.tick_hz,
                    "arena": { "w": config.w, "h": config.h },
                    "pos_scale": config.pos_scale,
                    "item_radius": config.item_radius,
                    "name": self.summary.room_name,
                    "match_id": self.match_id,
                },
                "duration_ticks": self.resim.duration_ticks(),
                "start_tick": self.resim.start_tick(),
                "tick": self.resim.tick(),
                "speed": self.speed,
                "match": self.summary,
            })),
        );
        let snapshot = game::encode_snapshot(&self.resim.game().snapshot());
        chan.push_reset("snapshot", Payload::Binary(Bytes::from(snapshot)));
        let socket = chan.socket.id;
        self.deps
            .pubsub
            .subscribe(&self.topic, socket, chan.socket.outbox.clone());
        if self.viewers.is_empty() {
            self.next_frame = Instant::now() + self.frame;
        }
        self.viewers.insert(socket, chan);
        self.empty_since = None;
        if self.resim.done() && self.ended {
            // A late viewer of a finished pass learns the outcome too.
            let verdict = verify(&self.recorded, self.resim.record());
            if let Some(chan) = self.viewers.get(&socket) {
                chan.push("replay_end", Payload::json(&end_payload(&verdict)));
            }
        }
    }

    /// The state where the replay is now, for a viewer that missed some of its ticks.
    fn resync(&self, chan: &ChannelRef) {
        if !self.viewers.contains_key(&chan.socket.id) {
            chan.socket.outbox.end_lag(&chan.topic);
            return;
        }
        let snapshot = game::encode_snapshot(&self.resim.game().snapshot());
        chan.push_reset("snapshot", Payload::Binary(Bytes::from(snapshot)));
    }

    fn leave(&mut self, socket: SocketId) {
        if self.viewers.remove(&socket).is_some() {
            self.deps.pubsub.unsubscribe(&self.topic, socket);
        }
        if self.viewers.is_empty() && self.empty_since.is_none() {
            self.empty_since = Some(Instant::now());
        }
    }

    fn event(&mut self, chan: ChannelRef, msg_ref: Arc<str>, event: ReplayEvent) {
        if !self.viewers.contains_key(&chan.socket.id) {
            chan.reply_error(&msg_ref, ChannelError::NotJoined);
            return;
        }
        let ReplayEvent::Control { speed, seek_tick } = event;
        if let Some(speed) = speed {
            if self.speed == 0.0 && speed.0 > 0.0 {
                self.next_frame = Instant::now() + self.frame;
            }
            self.speed = speed.0;
            self.owed = 0.0;
        }
        if let Some(tick) = seek_tick {
            self.resim
                .seek(self.resim.start_tick().saturating_add(tick));
            self.ended = false;
            let snapshot = game::encode_snapshot(&self.resim.game().snapshot());
            self.broadcast("snapshot", Payload::Binary(Bytes::from(snapshot)));
            if self.resim.done() {
                self.end();
            }
        }
        chan.reply(
            &msg_ref,
            "ok",
            Payload::json(&json!({
                "speed": self.speed,
                "tick": self.resim.tick(),
            })),
        );
    }

    /// One frame of the clock: the ticks owed at this speed, each sent as a live
    /// spectator gets it.
    fn on_frame(&mut self) {
        self.next_frame += self.frame;
        let now = Instant::now();
        if self.next_frame < now {
            // Fell behind (a long seek): carry on from now rather than catch up in a burst.
            self.next_frame = now + self.frame;
        }
        self.owed += self.speed;
        while self.owed >= 1.0 && !self.resim.done() {
            self.owed -= 1.0;
            let out = self.resim.step();
            self.send(out);
        }
        if self.resim.done() && !self.ended {
            self.end();
        }
    }

    fn send(&self, out: StepOutput) {
        if let Some(tick) = &out.tick {
            let bytes = Bytes::from(game::encode_tick(tick));
            self.broadcast("tick", Payload::Binary(bytes));
        }
        for event in &out.lifecycle {
            self.broadcast(event.name(), Payload::json(&event.payload()));
        }
    }

    fn end(&mut self) {
        self.ended = true;
        let verdict = verify(&self.recorded, self.resim.record());
        if !verdict.verified {
            tracing::warn!(
                match_id = self.match_id,
                "a replay did not reproduce its recorded standings"
            );
        }
        self.broadcast("replay_end", Payload::json(&end_payload(&verdict)));
    }

    fn broadcast(&self, event: &'static str, payload: Payload) {
        self.deps
            .pubsub
            .broadcast(Broadcast::new(self.topic.clone(), event, payload));
    }
}

fn end_payload(verdict: &Verdict) -> serde_json::Value {
    json!({ "standings": verdict.standings, "verified": verdict.verified })
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::sim::GameConfig;
    use kurve_shared::game::Phase;

    /// Plays a short match with random steering; returns its record.
    fn play(seed: u64, players: usize) -> sim::MatchRecord {
        let cfg = GameConfig {
            points_per_opponent: 1,
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
        record
            .players
            .iter()
            .map(|s| MatchPlayer {
                user_id: s.id.clone(),
                name: s.name.clone(),
                guest: false,
                points: s.points,
                place: s.place,
                won: s.won,
            })
            .collect()
    }

    #[test]
    fn every_match_of_a_random_batch_replays_to_its_recorded_standings() {
        for seed in 0..12_u64 {
            let players = 2 + (seed as usize % 3);
            let record = play(seed * 7919 + 1, players);
            let mut resim = Resim::new(&record.input_log).expect("the log decodes");
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
        let mut straight = Resim::new(&record.input_log).expect("decodes");
        let target = straight.start_tick() + straight.duration_ticks() / 2;
        while straight.tick() < target {
            straight.step();
        }
        let mut seeking = Resim::new(&record.input_log).expect("decodes");
        seeking.seek(target + 100);
        seeking.seek(target);
        assert_eq!(seeking.tick(), target);
        assert_eq!(seeking.game().state_hash(), straight.game().state_hash());
        assert_eq!(seeking.game().snapshot(), straight.game().snapshot());
    }

    #[test]
    fn a_corrupt_log_is_reported_not_panicked_on() {
        let record = play(99, 2);
        let recorded = as_recorded(&record);
        assert_eq!(
            Resim::new(b"not a log").err(),
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
            if let Ok(mut resim) = Resim::new(&bytes) {
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
            Resim::new(&log.to_bytes()).err(),
            Some(ChannelError::CorruptReplay)
        );
    }
}
