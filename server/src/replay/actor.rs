//! One replay: the re-simulation ([`Resim`]), its checkpoints, its viewers — each with
//! its own playback — and the clock that steps them at their chosen speeds.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kurve_shared::room::Standing;
use serde_json::json;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::{ReplayDeps, ReplayHandle, Replays};
use crate::game::{GameKind, Outcome, Playback, PlaybackCheckpoint, Recording, Step};
use crate::limits::{Bucket, Rate, Refusal};
use crate::mailbox::MailboxReceiver;
use crate::outbound::{Broadcast, ChannelRef, Outbound, Payload, SocketId};
use crate::protocol::ReplayEvent;
use crate::protocol::error::ChannelError;
use crate::store::{MatchPlayer, MatchSummary};

/// How long a replay with no viewer waits for one before it stops.
const EMPTY_GRACE: Duration = Duration::from_secs(5);

/// A viewer whose playback has not moved (paused, or at the end) for this long is closed
/// (`phx_close`): a replay channel is a slot of a small budget, not a bookmark.
pub const IDLE_VIEWER: Duration = Duration::from_secs(5 * 60);

/// Game time between two checkpoints: 3 s at 60 Hz. A seek restores the nearest
/// checkpoint at or before its target and steps from there, so it costs at most this
/// many steps (a step is tens of microseconds; see docs/PERF.md).
pub const CHECKPOINT_TICKS: u64 = 180;

/// Most checkpoints one replay keeps: a match longer than this many intervals (2.6 h at
/// 60 Hz) spaces them wider rather than holding more saved games in memory.
const MAX_CHECKPOINTS: u64 = 3_000;

/// Steps a seek past the furthest checkpoint may take per frame, before the rest waits
/// for the next frame: the first pass over a long match is spread out, never one burst.
const SEEK_STEPS_PER_FRAME: u64 = 240;

/// `control` events one viewer may send per second (then `rate_limited`, counted): a
/// person drags a slider at a few a second; a script seeking 300 a second is refused.
const CONTROLS_PER_SEC: u32 = 5;

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

/// A stored match, stepped tick by tick as the room stepped it: the game's
/// [`Recording`] and one [`Playback`] of it.
pub struct Resim {
    recording: Arc<dyn Recording>,
    playback: Box<dyn Playback>,
    /// The match's outcome, once the re-simulation has reached the tick it ended on.
    outcome: Option<Outcome>,
}

impl Resim {
    /// Opens a stored log of `kind`'s; Err when it does not decode, was cut short, or
    /// is not a finished match's log.
    pub fn new(kind: &dyn GameKind, log_bytes: &[u8]) -> Result<Resim, ChannelError> {
        let recording = kind
            .open_log(log_bytes)
            .map_err(|_| ChannelError::CorruptReplay)?;
        Ok(Resim {
            playback: recording.play(),
            recording,
            outcome: None,
        })
    }

    /// A second playback of the same match, from `checkpoint`.
    fn playback_at(&self, checkpoint: &Checkpoint) -> Resim {
        Resim {
            recording: self.recording.clone(),
            playback: checkpoint.playback.resume(),
            outcome: checkpoint.outcome.clone(),
        }
    }

    fn restore(&mut self, checkpoint: &Checkpoint) {
        self.playback = checkpoint.playback.resume();
        self.outcome = checkpoint.outcome.clone();
    }

    fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            playback: self.playback.checkpoint(),
            outcome: self.outcome.clone(),
        }
    }

    /// The tick the re-simulation is at.
    pub fn tick(&self) -> u64 {
        self.playback.tick()
    }

    /// Ticks from the first to the last of the match.
    pub fn duration_ticks(&self) -> u64 {
        self.recording.end_tick() - self.recording.start_tick()
    }

    /// The first tick of the log.
    pub fn start_tick(&self) -> u64 {
        self.recording.start_tick()
    }

    pub fn done(&self) -> bool {
        self.playback.tick() >= self.recording.end_tick()
    }

    /// The outcome of the match, once reached.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    pub fn playback(&self) -> &dyn Playback {
        &*self.playback
    }

    /// Applies the commands logged after the current tick, then steps once.
    pub fn step(&mut self) -> Step {
        let out = self.playback.step();
        if let Some(outcome) = &out.outcome {
            self.outcome = Some(outcome.clone());
        }
        out
    }

    /// Moves towards `tick` (clamped to the match): restores the nearest checkpoint at
    /// or before it when that saves steps, then steps at most `budget` times, saving the
    /// checkpoints it passes. True once at `tick`.
    pub fn seek(&mut self, tick: u64, checkpoints: &mut Checkpoints, budget: u64) -> bool {
        let tick = tick.clamp(self.recording.start_tick(), self.recording.end_tick());
        if let Some((at, checkpoint)) = checkpoints.at_or_before(tick)
            && (tick < self.tick() || at > self.tick())
        {
            self.restore(&checkpoint);
        }
        let mut steps = 0;
        while self.tick() < tick && steps < budget {
            self.step();
            checkpoints.offer(self);
            steps += 1;
        }
        self.tick() >= tick
    }

    /// Runs to the end; the match's outcome if the re-simulation produced one.
    pub fn run_to_end(&mut self) -> Option<&Outcome> {
        while !self.done() {
            self.step();
        }
        self.outcome.as_ref()
    }
}

/// A saved playback position.
struct Checkpoint {
    playback: Box<dyn PlaybackCheckpoint>,
    outcome: Option<Outcome>,
}

/// The saved games of one match every [`CHECKPOINT_TICKS`] of game time, shared by its
/// viewers: taken by the first playback to pass each one.
pub struct Checkpoints {
    start: u64,
    every: u64,
    saved: BTreeMap<u64, Arc<Checkpoint>>,
}

impl Checkpoints {
    /// The checkpoints of `resim`'s match, starting with its first tick.
    pub fn new(resim: &Resim) -> Self {
        let every = CHECKPOINT_TICKS.max(resim.duration_ticks().div_ceil(MAX_CHECKPOINTS));
        let mut checkpoints = Checkpoints {
            start: resim.start_tick(),
            every,
            saved: BTreeMap::new(),
        };
        checkpoints.offer(resim);
        checkpoints
    }

    /// Saves `resim`'s position if it is a checkpoint not yet taken.
    fn offer(&mut self, resim: &Resim) {
        let tick = resim.tick();
        if !(tick - self.start).is_multiple_of(self.every) || self.saved.contains_key(&tick) {
            return;
        }
        self.saved.insert(tick, Arc::new(resim.checkpoint()));
    }

    fn at_or_before(&self, tick: u64) -> Option<(u64, Arc<Checkpoint>)> {
        self.saved
            .range(..=tick)
            .next_back()
            .map(|(at, checkpoint)| (*at, checkpoint.clone()))
    }

    /// How many are saved.
    pub fn len(&self) -> usize {
        self.saved.len()
    }

    pub fn is_empty(&self) -> bool {
        self.saved.is_empty()
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
pub fn verify(recorded: &[MatchPlayer], resim: Option<&Outcome>) -> Verdict {
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
        .standings
        .iter()
        .map(|s| (s.id.as_str(), s.points, s.place, s.won))
        .collect();
    want.sort_unstable();
    have.sort_unstable();
    Verdict {
        verified: !want.is_empty() && want == have,
        standings: resim.standings.clone(),
    }
}

/// One viewer's playback.
struct Viewer {
    chan: ChannelRef,
    resim: Resim,
    speed: f64,
    /// Ticks owed at the current speed (0.5× steps every other frame).
    owed: f64,
    /// A seek still under way (its target lay past the furthest checkpoint).
    seeking: Option<u64>,
    /// `replay_end` was sent for the current pass.
    ended: bool,
    /// When the playback last moved (joined, stepped or sought).
    moved_at: Instant,
    controls: Bucket,
}

impl Viewer {
    fn playing(&self) -> bool {
        self.seeking.is_some() || (self.speed > 0.0 && !self.resim.done())
    }

    fn snapshot(&self) {
        self.chan.push_reset(
            "snapshot",
            Payload::Binary(self.resim.playback().snapshot()),
        );
    }

    /// Sends `event` to this viewer as the topic's broadcast would go: a `tick` stays a
    /// replaceable state broadcast, skipped while the socket lags and restated by a
    /// resync's snapshot.
    fn send(&self, topic: &Arc<str>, event: &'static str, payload: Payload) {
        let broadcast = Arc::new(Broadcast::new(topic.clone(), event, payload));
        self.chan.socket.outbox.broadcast(&broadcast);
    }
}

struct Replay {
    match_id: i64,
    topic: Arc<str>,
    deps: ReplayDeps,
    /// The match at its first tick: every new playback is a copy.
    origin: Resim,
    checkpoints: Checkpoints,
    summary: MatchSummary,
    recorded: Vec<MatchPlayer>,
    viewers: HashMap<SocketId, Viewer>,
    frame: Duration,
    next_frame: Instant,
    empty_since: Option<Instant>,
}

/// Loads match `id` and prepares its re-simulation.
async fn load(
    deps: &ReplayDeps,
    match_id: i64,
) -> Result<(Resim, MatchSummary, Vec<MatchPlayer>), ChannelError> {
    let stored = match deps.store.stored_match(match_id).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return Err(ChannelError::NotFound),
        Err(error) => {
            tracing::error!(match_id, %error, "could not read a match to replay");
            return Err(ChannelError::Unavailable);
        }
    };
    let kind = deps.games.get(&stored.summary.game).ok_or_else(|| {
        tracing::warn!(match_id, game = %stored.summary.game, "a stored match of a game this server does not host");
        ChannelError::CorruptReplay
    })?;
    let resim = Resim::new(&**kind, &stored.input_log)?;
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
            replays.forget(match_id, &handle);
            inbox.close();
            while let Some(command) = inbox.try_recv() {
                refuse(command, error.clone());
            }
            return;
        }
    };
    let tick_hz = resim.playback().tick_hz().max(1);
    let mut replay = Replay {
        match_id,
        topic: Arc::from(format!("replay:{match_id}")),
        deps,
        checkpoints: Checkpoints::new(&resim),
        origin: resim,
        summary,
        recorded,
        viewers: HashMap::new(),
        frame: Duration::from_secs(1) / tick_hz,
        next_frame: Instant::now(),
        empty_since: Some(Instant::now()),
    };
    tracing::info!(match_id, "replay started");
    let far = Instant::now() + Duration::from_secs(86_400 * 365);
    loop {
        let next_frame = if replay.viewers.values().any(Viewer::playing) {
            replay.next_frame
        } else {
            far
        };
        let idle_at = replay
            .viewers
            .values()
            .map(|v| v.moved_at + IDLE_VIEWER)
            .min()
            .unwrap_or(far);
        let expire_at = replay.empty_since.map_or(far, |since| since + EMPTY_GRACE);
        tokio::select! {
            _ = cancel.cancelled() => break,
            command = inbox.recv() => match command {
                Some(command) => replay.handle(command),
                None => break,
            },
            _ = sleep_until(next_frame) => replay.on_frame(),
            _ = sleep_until(idle_at) => replay.close_idle(),
            _ = sleep_until(expire_at) => {
                replays.forget(match_id, &handle);
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
        let now = Instant::now();
        let resim = match self.checkpoints.at_or_before(self.origin.start_tick()) {
            Some((_, start)) => self.origin.playback_at(&start),
            None => self.origin.playback_at(&self.origin.checkpoint()),
        };
        let tick_hz = self.origin.playback().tick_hz();
        let mut config = self.origin.playback().client_config();
        config.insert("tick_hz".into(), json!(tick_hz));
        config.insert("send_hz".into(), json!(tick_hz));
        config.insert("name".into(), json!(self.summary.room_name));
        config.insert("match_id".into(), json!(self.match_id));
        config.insert("game".into(), json!(self.summary.game));
        let viewer = Viewer {
            chan: chan.clone(),
            resim,
            speed: 1.0,
            owed: 0.0,
            seeking: None,
            ended: false,
            moved_at: now,
            controls: Bucket::full(Rate::per_second(CONTROLS_PER_SEC), now),
        };
        chan.reply(
            &msg_ref,
            "ok",
            Payload::json(&json!({
                "config": config,
                "duration_ticks": self.origin.duration_ticks(),
                "start_tick": self.origin.start_tick(),
                "tick": viewer.resim.tick(),
                "speed": viewer.speed,
                "playback": "per_viewer",
                "match": self.summary,
            })),
        );
        viewer.snapshot();
        let socket = chan.socket.id;
        // Subscribed only so a crash reaches the viewer (`phx_error`); its frames go to
        // it alone.
        self.deps
            .pubsub
            .subscribe(&self.topic, socket, chan.socket.outbox.clone());
        if !self.viewers.values().any(Viewer::playing) {
            self.next_frame = now + self.frame;
        }
        self.viewers.insert(socket, viewer);
        self.empty_since = None;
    }

    /// Where the viewer's playback is now, for a viewer that missed some of its ticks.
    fn resync(&self, chan: &ChannelRef) {
        match self.viewers.get(&chan.socket.id) {
            Some(viewer) => viewer.snapshot(),
            None => chan.socket.outbox.end_lag(&chan.topic),
        }
    }

    fn leave(&mut self, socket: SocketId) {
        if self.viewers.remove(&socket).is_some() {
            self.deps.pubsub.unsubscribe(&self.topic, socket);
        }
        if self.viewers.is_empty() && self.empty_since.is_none() {
            self.empty_since = Some(Instant::now());
        }
    }

    /// Closes the channels of viewers whose playback has not moved for [`IDLE_VIEWER`].
    fn close_idle(&mut self) {
        let now = Instant::now();
        let idle: Vec<SocketId> = self
            .viewers
            .iter()
            .filter(|(_, v)| now.duration_since(v.moved_at) >= IDLE_VIEWER)
            .map(|(socket, _)| *socket)
            .collect();
        for socket in idle {
            if let Some(viewer) = self.viewers.get(&socket) {
                viewer.chan.socket.outbox.send(Outbound::ChannelClosed {
                    topic: viewer.chan.topic.clone(),
                    join_ref: viewer.chan.join_ref.clone(),
                });
            }
            tracing::debug!(
                match_id = self.match_id,
                socket,
                "replay viewer idle: closed"
            );
            self.leave(socket);
        }
    }

    fn event(&mut self, chan: ChannelRef, msg_ref: Arc<str>, event: ReplayEvent) {
        let was_playing = self.viewers.values().any(Viewer::playing);
        let Some(viewer) = self.viewers.get_mut(&chan.socket.id) else {
            chan.reply_error(&msg_ref, ChannelError::NotJoined);
            return;
        };
        let now = Instant::now();
        if viewer
            .controls
            .take(Rate::per_second(CONTROLS_PER_SEC), now)
            .is_err()
        {
            Refusal::ReplayControls.count();
            chan.reply_error(&msg_ref, ChannelError::RateLimited);
            return;
        }
        let ReplayEvent::Control { speed, seek_tick } = event;
        if let Some(speed) = speed {
            viewer.speed = speed.0;
            viewer.owed = 0.0;
        }
        if let Some(tick) = seek_tick {
            let target = viewer.resim.start_tick().saturating_add(tick);
            viewer.ended = false;
            viewer.moved_at = now;
            viewer.seeking = Some(target);
            if viewer
                .resim
                .seek(target, &mut self.checkpoints, SEEK_STEPS_PER_FRAME)
            {
                viewer.seeking = None;
                viewer.snapshot();
            }
        }
        let tick = viewer.seeking.unwrap_or(viewer.resim.tick());
        chan.reply(
            &msg_ref,
            "ok",
            Payload::json(&json!({ "speed": viewer.speed, "tick": tick })),
        );
        if viewer.seeking.is_none() && viewer.resim.done() && !viewer.ended {
            viewer.ended = true;
            let verdict = verify(&self.recorded, viewer.resim.outcome());
            viewer.send(
                &self.topic,
                "replay_end",
                Payload::json(&end_payload(&verdict)),
            );
        }
        if !was_playing && self.viewers.values().any(Viewer::playing) {
            self.next_frame = now + self.frame;
        }
    }

    /// One frame of the clock: every viewer's playback moves by the ticks owed at its
    /// speed (or by a slice of its seek), each tick sent as a live spectator gets it.
    fn on_frame(&mut self) {
        self.next_frame += self.frame;
        let now = Instant::now();
        if self.next_frame < now {
            // Fell behind: carry on from now rather than catch up in a burst.
            self.next_frame = now + self.frame;
        }
        for viewer in self.viewers.values_mut() {
            if let Some(target) = viewer.seeking {
                if viewer
                    .resim
                    .seek(target, &mut self.checkpoints, SEEK_STEPS_PER_FRAME)
                {
                    viewer.seeking = None;
                    viewer.snapshot();
                }
                viewer.moved_at = now;
                continue;
            }
            if viewer.speed <= 0.0 || viewer.resim.done() {
                continue;
            }
            viewer.owed += viewer.speed;
            while viewer.owed >= 1.0 && !viewer.resim.done() {
                viewer.owed -= 1.0;
                let out = viewer.resim.step();
                self.checkpoints.offer(&viewer.resim);
                send(viewer, &self.topic, out);
                viewer.moved_at = now;
            }
            if viewer.resim.done() && !viewer.ended {
                viewer.ended = true;
                let verdict = verify(&self.recorded, viewer.resim.outcome());
                if !verdict.verified {
                    tracing::warn!(
                        match_id = self.match_id,
                        "a replay did not reproduce its recorded standings"
                    );
                }
                viewer.send(
                    &self.topic,
                    "replay_end",
                    Payload::json(&end_payload(&verdict)),
                );
            }
        }
    }
}

/// One step's frames, to one viewer.
fn send(viewer: &Viewer, topic: &Arc<str>, out: Step) {
    if let Some(tick) = out.tick {
        viewer.send(topic, "tick", Payload::Binary(tick));
    }
    for event in &out.lifecycle {
        viewer.send(topic, event.event, Payload::json(&event.payload));
    }
}

fn end_payload(verdict: &Verdict) -> serde_json::Value {
    json!({ "standings": verdict.standings, "verified": verdict.verified })
}
