//! One bot: a task that signs in, opens a socket, joins its lobby and, in `play`, its
//! room, then reads frames until the run stops.
//!
//! Everything the bot does happens in this one task: requests are sent and their
//! replies awaited while other frames keep being handled (a bot never stops reading, so
//! the server never sees a slow client because of us). Every wait is bounded.
//!
//! In a room, a bot either steers ([`BotsMode::Steer`]: it keeps an [`Arena`] — for
//! Bumper a [`bumper::Board`], played by [`super::push`] — fed with the snapshot and
//! every tick) or stays light ([`BotsMode::Light`], see
//! [`super::light`]); getting in, ready and the tick accounting are the same for both.
//!
//! A `snapshot` after the one that follows a (re)join is a resync (CONTRACT §10): the
//! server found the bot behind, dropped the ticks queued for it and sent the state
//! afresh. The bot counts it, counts the ticks it skipped as missed, and carries on
//! from the snapshot; a resync is never an error.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use kurve_shared::bumper;
use kurve_shared::game::{self, Arena, Phase, Tick};
use kurve_shared::phoenix;
use kurve_shared::room::{RoomCreated, RoomJoined};
use std::pin::Pin;
use tokio::time::Sleep;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::WaitForCancellationFutureOwned;

use super::light::{self, LightRoom};
use super::net::{self, Ws};
use super::push::{self, Push};
use super::stats::{LocalStats, Stats};
use super::steer::{self, Motion};
use super::ticks::{self, TickTrack};
use super::wire::{self, BinaryFrame, PresenceEntry};
use super::{BotsMode, Place, Role, Shared};

/// A join, `create_room` or room join may take this long (a join storm is slow).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A group member waits this long for its creator to publish the room id.
const ROOM_ID_TIMEOUT: Duration = Duration::from_secs(30);

/// Players press ready once the room holds every player, or after this long waiting.
const READY_FALLBACK: Duration = Duration::from_secs(8);

/// Housekeeping (ready checks, stat flushes) runs this often.
const HOUSEKEEPING: Duration = Duration::from_secs(1);

/// Closing the socket at the end may take this long.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Steering decisions are made every this many ticks.
const DECIDE_EVERY: u32 = 3;

/// One in this many decisions tries a random change (inputs to measure echo on).
const WIGGLE_ONE_IN: u64 = 30;

/// A room may be rejoined after `phx_error` this many times.
const MAX_REJOINS: u32 = 3;

/// Why a bot stopped.
enum Stop {
    /// The run ended.
    Stopped,
    /// Something failed; the kind is counted.
    Failed(String),
}

impl From<String> for Stop {
    fn from(kind: String) -> Self {
        Stop::Failed(kind)
    }
}

/// A reply the bot waited for.
struct Reply {
    ok: bool,
    response: String,
}

/// The bot's view of its lobby.
struct LobbyView {
    topic: String,
    join_ref: String,
    base: u32,
    len: u32,
    /// One bit per lobby member, by index in the lobby.
    bits: Vec<u64>,
    count: u32,
    complete: bool,
}

impl LobbyView {
    fn set(&mut self, bot: u32, present: bool) {
        let Some(i) = bot.checked_sub(self.base).filter(|&i| i < self.len) else {
            return;
        };
        let (word, bit) = ((i / 64) as usize, 1u64 << (i % 64));
        let was = self.bits[word] & bit != 0;
        if was != present {
            self.bits[word] ^= bit;
            if present {
                self.count += 1;
            } else {
                self.count -= 1;
            }
        }
    }
}

/// The bot's room, in `play`.
struct RoomView {
    topic: String,
    join_ref: String,
    player: bool,
    creator: bool,
    /// Players the room should hold before pressing ready.
    players: u32,
    user_id: String,
    seat: Option<u8>,
    /// Delivery and jitter of the room's frames.
    ticks: TickTrack,
    /// A steering bot's arena, from the snapshot on.
    arena: Option<Arena>,
    /// A steering Bumper bot's board, from the snapshot on.
    board: Option<bumper::Board>,
    /// The floe's centre, wire units (from the join reply's arena).
    centre: [i32; 2],
    /// The last Bumper input sent, the next `seq`, and the input awaiting its ack
    /// (`seq`, sent at).
    push: Option<Push>,
    seq: u32,
    pending_seq: Option<(u32, Instant)>,
    /// A light bot's state; `None` for a steering bot.
    light: Option<LightRoom>,
    members: Vec<PresenceEntry>,
    ready_sent: bool,
    waiting_since: Instant,
    turn: i8,
    motion: Motion,
    /// An input awaiting its echo: (turn as the head shows it, sent at).
    pending: Option<(i8, Instant)>,
    decide_in: u32,
    rejoins: u32,
}

impl RoomView {
    fn players_present(&self) -> u32 {
        self.members.iter().filter(|m| m.player).count() as u32
    }

    /// The room's phase as this bot knows it; `None` before the snapshot.
    fn phase(&self) -> Option<Phase> {
        match &self.light {
            Some(light) => light.phase,
            None => self
                .arena
                .as_ref()
                .map(|a| a.phase)
                .or_else(|| self.board.as_ref().map(|b| bumper_phase(b.phase))),
        }
    }

    fn on_waiting(&mut self, now: Instant) {
        self.ready_sent = false;
        self.waiting_since = now;
        self.pending = None;
        self.pending_seq = None;
        self.push = None;
        self.turn = 0;
        self.ticks.restart(None);
        if let Some(light) = &mut self.light {
            light.on_waiting();
        }
    }

    /// Restarts the tick accounting at a snapshot of `tick` in `phase`. A `resync`
    /// (a snapshot answering no join) is counted, with the ticks it skipped as missed.
    fn after_snapshot(
        &mut self,
        phase: Phase,
        tick: u64,
        resync: bool,
        local: &mut LocalStats,
        stats: &Stats,
    ) {
        stats.snapshots.fetch_add(1, Relaxed);
        if resync {
            stats.resyncs.fetch_add(1, Relaxed);
        }
        if phase == Phase::Waiting {
            self.on_waiting(Instant::now());
        } else if resync {
            let skipped = self.ticks.resync(tick, local);
            stats.ticks_skipped_by_resync.fetch_add(skipped, Relaxed);
        } else {
            self.ticks.restart(Some(tick));
        }
    }

    /// Applies one tick to the arena and looks for the echo of the pending input;
    /// `false` if there is no arena or the tick is not new (the [`TickTrack`] has
    /// counted it already).
    fn apply_tick(
        &mut self,
        tick: &Tick,
        now: Instant,
        local: &mut LocalStats,
        stats: &Stats,
    ) -> bool {
        let Some(arena) = &mut self.arena else {
            // Before the snapshot (or after a phx_error): nothing to apply to.
            return false;
        };
        let was_waiting = arena.phase == Phase::Waiting;
        if !was_waiting && tick.tick <= arena.tick {
            return false;
        }
        if !was_waiting && tick.tick > arena.tick + 1 {
            // A gap: carry on from here (heads are absolute; the trail pieces of the
            // missed ticks are lost, which a bot can live with).
            arena.tick = tick.tick - 1;
        }
        let before = self
            .seat
            .and_then(|s| arena.player(s))
            .map(|p| (p.pos, p.heading));
        if arena.apply_tick(tick).is_err() {
            stats.error("tick:sequence");
        }
        let went_waiting = arena.phase == Phase::Waiting && !was_waiting;
        // My head this tick: learn speed and turn rate, and look for my input's echo.
        if let (Some(seat), Some((from, h0))) = (self.seat, before)
            && let Some(head) = tick.heads.iter().find(|h| h.seat == seat)
        {
            let delta = steer::heading_delta(h0, head.heading);
            if matches!(head.draw, game::Draw::Solid | game::Draw::Gap) {
                self.motion.observe(from, [head.x, head.y], delta);
            }
            if let Some((turn, sent)) = self.pending
                && arena.phase == Phase::Playing
            {
                let shown = if steer::reversed(arena, seat) {
                    -turn
                } else {
                    turn
                };
                if delta.signum() as i8 == shown {
                    local
                        .echo_us
                        .push(now.duration_since(sent).as_micros() as u64);
                    self.pending = None;
                }
            }
        }
        if went_waiting {
            self.on_waiting(now);
        }
        true
    }
}

struct Bot {
    sh: Arc<Shared>,
    ws: Ws,
    next_ref: u64,
    stop: Pin<Box<WaitForCancellationFutureOwned>>,
    timer: Pin<Box<Sleep>>,
    heartbeat_due: Instant,
    housekeeping_due: Instant,
    lobby: LobbyView,
    room: Option<RoomView>,
    local: LocalStats,
    joins: Vec<PresenceEntry>,
    leaves: Vec<PresenceEntry>,
    /// Tick numbers of the frame at hand.
    numbers: Vec<u64>,
    rng: u64,
}

/// A bot's whole life; errors are counted, never returned.
pub(crate) async fn run(sh: Arc<Shared>, index: u32, place: Place) {
    let stop = sh.stop.clone();
    // Signing in and connecting happen under the connect limit, and give up at the stop.
    let ws = tokio::select! {
        _ = stop.cancelled() => return,
        ws = connect(&sh, index) => ws,
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(kind) => {
            sh.stats.error(kind);
            sh.stats.settled.fetch_add(1, Relaxed);
            return;
        }
    };
    sh.stats.connected();
    let mut bot = Bot::new(sh.clone(), index, place, ws);
    let result = bot.live(place).await;
    bot.local.flush(&sh.stats);
    match result {
        Stop::Stopped => bot.close().await,
        Stop::Failed(kind) => {
            sh.stats.disconnects.fetch_add(1, Relaxed);
            sh.stats.error(kind);
        }
    }
    sh.stats.disconnected();
}

async fn connect(sh: &Shared, index: u32) -> Result<Ws, String> {
    let _permit = sh
        .connecting
        .acquire()
        .await
        .map_err(|_| "internal:semaphore".to_owned())?;
    let token = sh
        .signin
        .guest(index as usize, &wire::bot_name(index))
        .await?;
    sh.stats.signed_in.fetch_add(1, Relaxed);
    let ips = &sh.cfg.source_ips;
    let source = (!ips.is_empty()).then(|| ips[index as usize % ips.len()]);
    let (target, through_netem) = sh.target(index);
    let ws = net::connect_ws(target, source, &token)
        .await
        .map_err(|e| e.kind())?;
    if through_netem {
        sh.stats.netem_bots.fetch_add(1, Relaxed);
    }
    Ok(ws)
}

impl Bot {
    fn new(sh: Arc<Shared>, index: u32, place: Place, ws: Ws) -> Self {
        let now = Instant::now();
        let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (u64::from(index) << 17 | 1);
        let spread = xorshift(&mut rng) % 1000;
        // Heartbeats are spread over the first period so they do not arrive in lockstep.
        let heartbeat_due = now + sh.cfg.heartbeat.mul_f64(0.5 + spread as f64 / 2000.0);
        let lobby = LobbyView {
            topic: format!("lobby:{}-{}", sh.cfg.lobby_prefix, place.lobby),
            join_ref: String::new(),
            base: place.lobby_base,
            len: place.lobby_len,
            bits: vec![0; place.lobby_len.div_ceil(64) as usize],
            count: 0,
            complete: false,
        };
        Bot {
            stop: Box::pin(sh.stop.clone().cancelled_owned()),
            timer: Box::pin(tokio::time::sleep_until(heartbeat_due.into())),
            sh,
            ws,
            next_ref: 1,
            heartbeat_due,
            housekeeping_due: now + HOUSEKEEPING,
            lobby,
            room: None,
            local: LocalStats::default(),
            joins: Vec::new(),
            leaves: Vec::new(),
            numbers: Vec::new(),
            rng,
        }
    }

    async fn live(&mut self, place: Place) -> Stop {
        let got_in = self.get_in(place).await;
        self.sh.stats.settled.fetch_add(1, Relaxed);
        if let Err(stop) = got_in {
            return stop;
        }
        loop {
            match self.recv(None).await {
                Ok(Some(message)) => {
                    if let Err(stop) = self.handle(message).await {
                        return stop;
                    }
                }
                Ok(None) => {}
                Err(stop) => return stop,
            }
        }
    }

    /// Joins the lobby and, in `play`, the room. A bot that could not get into its
    /// room stays in the lobby.
    async fn get_in(&mut self, place: Place) -> Result<(), Stop> {
        self.join_lobby().await?;
        if let Some(group) = place.role.group()
            && let Err(stop) = self.join_room(place.role, group).await
        {
            match stop {
                Stop::Failed(kind) => {
                    self.sh.stats.room_joins_failed.fetch_add(1, Relaxed);
                    self.sh.stats.error(kind);
                }
                Stop::Stopped => return Err(Stop::Stopped),
            }
        }
        Ok(())
    }

    async fn join_lobby(&mut self) -> Result<(), Stop> {
        let sent = Instant::now();
        let at = self.sh.since_start_us(sent) + 1;
        let _ = self
            .sh
            .stats
            .first_join_us
            .compare_exchange(0, at, Relaxed, Relaxed);
        let topic = self.lobby.topic.clone();
        let (join_ref, reply) = self.join(&topic, "{}").await.inspect_err(|stop| {
            if matches!(stop, Stop::Failed(_)) {
                self.sh.stats.lobby_joins_failed.fetch_add(1, Relaxed);
            }
        })?;
        if !reply.ok {
            self.sh.stats.lobby_joins_failed.fetch_add(1, Relaxed);
            return Err(Stop::Failed(format!(
                "lobby_join:{}",
                reason(&reply.response)
            )));
        }
        self.lobby.join_ref = join_ref;
        self.sh.stats.lobby_joins_ok.fetch_add(1, Relaxed);
        let took = sent.elapsed().as_micros() as u64;
        self.sh
            .stats
            .with_hists(|h| h.join.saturating_record(took.max(1)));
        Ok(())
    }

    async fn join_room(&mut self, role: Role, group: u32) -> Result<(), Stop> {
        let sh = self.sh.clone();
        let sender = &sh.rooms[group as usize];
        let room_id: Arc<str> = if let Role::Creator { .. } = role {
            let send_hz = self
                .sh
                .cfg
                .send_hz
                .map_or_else(String::new, |hz| format!(",\"send_hz\":{hz}"));
            let payload = format!(
                "{{\"name\":\"soak {group}\",\"game\":\"{}\",\"max_players\":{}{send_hz}}}",
                self.sh.cfg.game, self.sh.cfg.room_size
            );
            let topic = self.lobby.topic.clone();
            let join_ref = self.lobby.join_ref.clone();
            let reply = self
                .request(Some(&join_ref), &topic, "create_room", &payload)
                .await?;
            if !reply.ok {
                return Err(Stop::Failed(format!(
                    "create_room:{}",
                    reason(&reply.response)
                )));
            }
            let id = serde_json::from_str::<RoomCreated>(&reply.response)
                .map_err(|_| "create_room:bad_reply".to_owned())?
                .room_id;
            let id: Arc<str> = id.into();
            self.sh.stats.rooms_created.fetch_add(1, Relaxed);
            sender.send_replace(Some(id.clone()));
            id
        } else {
            let mut rx = sender.subscribe();
            let deadline = Instant::now() + ROOM_ID_TIMEOUT;
            loop {
                if let Some(id) = rx.borrow_and_update().clone() {
                    break id;
                }
                tokio::select! {
                    changed = rx.changed() => {
                        if changed.is_err() {
                            return Err(Stop::Failed("room:no_id".into()));
                        }
                    }
                    message = self.recv(Some(deadline)) => match message? {
                        Some(message) => self.handle(message).await?,
                        None => return Err(Stop::Failed("room:id_timeout".into())),
                    }
                }
            }
        };
        let (player, creator, players) = match role {
            Role::Creator { players, .. } => (true, true, players),
            Role::Player { players, .. } => (true, false, players),
            _ => (false, false, 0),
        };
        let topic = format!("room:{room_id}");
        let params = if player {
            r#"{"as":"player"}"#
        } else {
            r#"{"as":"spectator"}"#
        };
        let light = (self.sh.cfg.bots_mode == BotsMode::Light).then(|| {
            let spread = (xorshift(&mut self.rng) % 1000) as f64 / 1000.0;
            let input_hz = player.then_some(self.sh.cfg.input_hz);
            // SoakConfig::check refused a game light bots cannot play.
            let inputs = light::inputs_for(&self.sh.cfg.game).unwrap_or_default();
            LightRoom::playing(inputs, input_hz, Instant::now(), spread)
        });
        // The view exists before the join so the snapshot right after the reply lands.
        self.room = Some(RoomView {
            topic: topic.clone(),
            join_ref: String::new(),
            player,
            creator,
            players,
            user_id: String::new(),
            seat: None,
            ticks: TickTrack::new(ticks::DEFAULT_FRAME_HZ),
            arena: None,
            board: None,
            centre: [0, 0],
            push: None,
            seq: 0,
            pending_seq: None,
            light,
            members: Vec::new(),
            ready_sent: false,
            waiting_since: Instant::now(),
            turn: 0,
            motion: Motion::default(),
            pending: None,
            decide_in: 0,
            rejoins: 0,
        });
        let (join_ref, reply) = self.join(&topic, params).await?;
        if !reply.ok {
            self.room = None;
            return Err(Stop::Failed(format!(
                "room_join:{}",
                reason(&reply.response)
            )));
        }
        let joined: RoomJoined =
            serde_json::from_str(&reply.response).map_err(|_| "room_join:bad_reply".to_owned())?;
        if let Some(room) = &mut self.room {
            room.join_ref = join_ref;
            room.user_id = joined.you.id;
            room.seat = joined.you.seat.or(room.seat);
            if let Some(hz) = joined.config.frame_hz() {
                room.ticks.set_frame_hz(hz);
            }
            room.centre = floe_centre(&joined.config.rules);
        }
        self.sh.stats.room_joins_ok.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Sends `phx_join` and waits for its reply; returns the join_ref.
    async fn join(&mut self, topic: &str, params: &str) -> Result<(String, Reply), Stop> {
        let join_ref = self.next_ref;
        let join_ref_text = join_ref.to_string();
        // For a join, join_ref = ref, as the JS client does.
        let reply = self
            .request(Some(&join_ref_text), topic, "phx_join", params)
            .await?;
        Ok((join_ref_text, reply))
    }

    /// Sends a push and waits (handling everything else) for its reply.
    async fn request(
        &mut self,
        join_ref: Option<&str>,
        topic: &str,
        event: &str,
        payload: &str,
    ) -> Result<Reply, Stop> {
        let msg_ref = self.push(join_ref, topic, event, payload).await?;
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        loop {
            let Some(message) = self.recv(Some(deadline)).await? else {
                return Err(Stop::Failed(format!("{event}:timeout")));
            };
            if let Some((r, reply)) = self.handle_reply_or(message).await? {
                if r == msg_ref {
                    return Ok(reply);
                }
                self.unawaited(&reply);
            }
        }
    }

    /// Writes one push; returns its ref.
    async fn push(
        &mut self,
        join_ref: Option<&str>,
        topic: &str,
        event: &str,
        payload: &str,
    ) -> Result<u64, Stop> {
        let msg_ref = self.next_ref;
        self.next_ref += 1;
        let text = phoenix::encode_client_text(
            join_ref,
            Some(&msg_ref.to_string()),
            topic,
            event,
            payload,
        );
        self.send(text).await?;
        Ok(msg_ref)
    }

    async fn send(&mut self, text: String) -> Result<(), Stop> {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .map_err(|e| Stop::Failed(format!("write:{}", ws_error_kind(&e))))
    }

    /// The next message, or `None` at `deadline`. Heartbeats and housekeeping run
    /// meanwhile; the run's stop ends the wait.
    async fn recv(&mut self, deadline: Option<Instant>) -> Result<Option<Message>, Stop> {
        loop {
            let mut wake = self.heartbeat_due.min(self.housekeeping_due);
            if let Some(d) = deadline {
                wake = wake.min(d);
            }
            if let Some(d) = self.input_due() {
                wake = wake.min(d);
            }
            let wake = tokio::time::Instant::from_std(wake);
            if self.timer.deadline() != wake {
                self.timer.as_mut().reset(wake);
            }
            tokio::select! {
                biased;
                _ = self.stop.as_mut() => return Err(Stop::Stopped),
                message = self.ws.next() => {
                    return match message {
                        Some(Ok(m)) => Ok(Some(m)),
                        Some(Err(e)) => Err(Stop::Failed(format!("read:{}", ws_error_kind(&e)))),
                        None => Err(Stop::Failed("read:eof".into())),
                    };
                }
                _ = self.timer.as_mut() => {
                    let now = Instant::now();
                    if now >= self.heartbeat_due {
                        self.heartbeat_due = now + self.sh.cfg.heartbeat;
                        self.push(None, "phoenix", "heartbeat", "{}").await?;
                        self.sh.stats.heartbeats.fetch_add(1, Relaxed);
                    }
                    if now >= self.housekeeping_due {
                        self.housekeeping_due = now + HOUSEKEEPING;
                        self.housekeeping(now).await?;
                    }
                    if self.input_due().is_some_and(|d| now >= d) {
                        self.light_input(now).await?;
                    }
                    if deadline.is_some_and(|d| now >= d) {
                        return Ok(None);
                    }
                }
            }
        }
    }

    async fn housekeeping(&mut self, now: Instant) -> Result<(), Stop> {
        self.local.flush(&self.sh.stats);
        self.maybe_ready(now).await
    }

    /// Handles a message; replies nobody waits for are checked and dropped.
    async fn handle(&mut self, message: Message) -> Result<(), Stop> {
        if let Some((_, reply)) = self.handle_reply_or(message).await? {
            self.unawaited(&reply);
        }
        Ok(())
    }

    /// Counts an error reply nobody waits for (an input, a ready, a rejoin).
    fn unawaited(&self, reply: &Reply) {
        if !reply.ok {
            self.sh
                .stats
                .error(format!("reply:{}", reason(&reply.response)));
        }
    }

    /// Handles a message; a `phx_reply` is returned with its ref instead.
    async fn handle_reply_or(&mut self, message: Message) -> Result<Option<(u64, Reply)>, Stop> {
        match message {
            Message::Text(text) => self.on_text(&text).await,
            Message::Binary(data) => {
                self.on_binary(&data).await?;
                Ok(None)
            }
            Message::Close(frame) => Err(Stop::Failed(format!(
                "closed_by_server:{}",
                frame.map_or(1005, |f| u16::from(f.code))
            ))),
            _ => Ok(None),
        }
    }

    async fn on_text(&mut self, text: &str) -> Result<Option<(u64, Reply)>, Stop> {
        let Ok(frame) = wire::text_frame(text) else {
            self.sh.stats.error("decode:text");
            return Ok(None);
        };
        let in_room = self.room.as_ref().is_some_and(|r| r.topic == frame.topic);
        match frame.event {
            phoenix::PHX_REPLY => {
                let Ok(reply) = serde_json::from_str::<wire::Reply>(frame.payload.get()) else {
                    self.sh.stats.error("decode:reply");
                    return Ok(None);
                };
                let ok = reply.status == "ok";
                let response = reply.response.map_or("{}", |r| r.get());
                let Some(r) = frame.msg_ref.and_then(|r| r.parse::<u64>().ok()) else {
                    return Ok(None);
                };
                return Ok(Some((
                    r,
                    Reply {
                        ok,
                        response: response.to_owned(),
                    },
                )));
            }
            "presence_state" | "presence_diff" => {
                self.joins.clear();
                self.leaves.clear();
                let parsed = if frame.event == "presence_state" {
                    wire::presence_state(frame.payload, &mut self.joins)
                } else {
                    wire::presence_diff(frame.payload, &mut self.joins, &mut self.leaves)
                };
                if parsed.is_err() {
                    self.sh.stats.error("decode:presence");
                    return Ok(None);
                }
                let reset = frame.event == "presence_state";
                if frame.topic == self.lobby.topic {
                    self.lobby_presence(reset);
                } else if in_room {
                    self.room_presence(reset);
                    self.maybe_ready(Instant::now()).await?;
                }
            }
            "phase" if in_room => {
                if let Ok(p) = serde_json::from_str::<wire::PhaseEvent>(frame.payload.get())
                    && let Some(room) = &mut self.room
                {
                    if let Some(light) = &mut room.light {
                        light.phase = light::phase_named(p.phase).or(light.phase);
                    }
                    if p.phase == "waiting" {
                        room.on_waiting(Instant::now());
                    }
                }
            }
            "round_end" if in_room && self.room.as_ref().is_some_and(|r| r.creator) => {
                self.sh.stats.rounds.fetch_add(1, Relaxed);
            }
            "match_end" if in_room && self.room.as_ref().is_some_and(|r| r.creator) => {
                self.sh.stats.matches.fetch_add(1, Relaxed);
            }
            "phx_error" => {
                self.sh
                    .stats
                    .error(format!("phx_error:{}", event_kind(frame.topic)));
                if in_room {
                    self.rejoin_room().await?;
                }
            }
            "phx_close" => self
                .sh
                .stats
                .error(format!("phx_close:{}", event_kind(frame.topic))),
            "server_shutdown" => return Err(Stop::Failed("server_shutdown".into())),
            _ => {}
        }
        Ok(None)
    }

    fn lobby_presence(&mut self, reset: bool) {
        let lobby = &mut self.lobby;
        if reset {
            lobby.bits.fill(0);
            lobby.count = 0;
        }
        // Leaves first: a meta update is a leave and a join of the same key.
        for e in &self.leaves {
            lobby.set(e.bot, false);
        }
        for e in &self.joins {
            lobby.set(e.bot, true);
        }
        if !lobby.complete && lobby.count == lobby.len {
            lobby.complete = true;
            let stats = &self.sh.stats;
            stats.presence_complete.fetch_add(1, Relaxed);
            let now = self.sh.since_start_us(Instant::now());
            stats.presence_last_complete_us.fetch_max(now, Relaxed);
        }
    }

    fn room_presence(&mut self, reset: bool) {
        let Some(room) = &mut self.room else {
            return;
        };
        if reset {
            room.members.clear();
        }
        for e in &self.leaves {
            room.members.retain(|m| m.bot != e.bot);
        }
        for e in &self.joins {
            room.members.retain(|m| m.bot != e.bot);
            room.members.push(*e);
        }
    }

    /// Players press ready once per waiting period, when the room is full enough.
    async fn maybe_ready(&mut self, now: Instant) -> Result<(), Stop> {
        let Some(room) = &mut self.room else {
            return Ok(());
        };
        let waiting = room.phase() == Some(Phase::Waiting);
        if !room.player || room.ready_sent || !waiting || room.join_ref.is_empty() {
            return Ok(());
        }
        let full = room.players_present() >= room.players;
        if !full && now.duration_since(room.waiting_since) < READY_FALLBACK {
            return Ok(());
        }
        room.ready_sent = true;
        let (join_ref, topic) = (room.join_ref.clone(), room.topic.clone());
        self.push(Some(&join_ref), &topic, "ready", r#"{"ready":true}"#)
            .await?;
        Ok(())
    }

    async fn rejoin_room(&mut self) -> Result<(), Stop> {
        let Some(room) = &mut self.room else {
            return Ok(());
        };
        room.arena = None;
        if let Some(light) = &mut room.light {
            light.phase = None;
        }
        room.rejoins += 1;
        if room.rejoins > MAX_REJOINS {
            return Ok(());
        }
        let params = if room.player {
            r#"{"as":"player"}"#
        } else {
            r#"{"as":"spectator"}"#
        };
        let topic = room.topic.clone();
        let join_ref = self.next_ref.to_string();
        if let Some(room) = &mut self.room {
            room.join_ref = join_ref.clone();
        }
        // The reply is not awaited: the snapshot after it restores the arena.
        self.push(Some(&join_ref), &topic, "phx_join", params)
            .await?;
        Ok(())
    }

    async fn on_binary(&mut self, data: &[u8]) -> Result<(), Stop> {
        let Some(frame) = wire::binary_frame(data) else {
            self.sh.stats.error("decode:binary");
            return Ok(());
        };
        let (topic, event, payload) = match frame {
            BinaryFrame::Push {
                topic,
                event,
                payload,
            } => (topic, event, payload),
            BinaryFrame::Reply { status, .. } => {
                if status != b"ok" {
                    self.sh.stats.error("reply:binary_error");
                }
                return Ok(());
            }
        };
        let Some(room) = &self.room else {
            return Ok(());
        };
        if topic != room.topic.as_bytes() {
            return Ok(());
        }
        let light = room.light.is_some();
        let bumper = self.sh.cfg.game == "bumper";
        match event {
            ticks::TICK | ticks::TICKS if light => {
                self.on_light_frame(event, payload);
                Ok(())
            }
            ticks::TICK | ticks::TICKS if bumper => self.on_bumper_ticks(event, payload).await,
            b"snapshot" if bumper && !light => {
                self.on_bumper_snapshot(payload);
                self.maybe_ready(Instant::now()).await
            }
            ticks::TICK | ticks::TICKS => self.on_ticks(event, payload).await,
            b"snapshot" => {
                if light {
                    self.on_light_snapshot(payload);
                } else {
                    self.on_snapshot(payload);
                }
                self.maybe_ready(Instant::now()).await
            }
            _ => Ok(()),
        }
    }

    /// A steering bot's snapshot: a fresh arena.
    fn on_snapshot(&mut self, payload: &[u8]) {
        let Some(room) = &mut self.room else {
            return;
        };
        let snapshot = match game::decode_snapshot(payload) {
            Ok(snapshot) => snapshot,
            Err(_) => {
                self.sh.stats.error("decode:snapshot");
                return;
            }
        };
        // An arena already there means this snapshot answers no join: a resync.
        let resync = room.arena.is_some();
        let arena = Arena::from_snapshot(&snapshot);
        if let Some(me) = arena.players.iter().find(|p| p.id == room.user_id) {
            room.seat = Some(me.seat);
        }
        room.pending = None;
        room.after_snapshot(
            arena.phase,
            arena.tick,
            resync,
            &mut self.local,
            &self.sh.stats,
        );
        room.arena = Some(arena);
    }

    /// A steering Bumper bot's snapshot: a fresh board.
    fn on_bumper_snapshot(&mut self, payload: &[u8]) {
        let Some(room) = &mut self.room else {
            return;
        };
        let Ok(snapshot) = bumper::decode_snapshot(payload) else {
            self.sh.stats.error("decode:snapshot");
            return;
        };
        let resync = room.board.is_some();
        let board = bumper::Board::from_snapshot(&snapshot);
        if let Some(me) = board.players.iter().find(|p| p.id == room.user_id) {
            room.seat = Some(me.seat);
        }
        room.pending_seq = None;
        room.after_snapshot(
            bumper_phase(board.phase),
            board.tick,
            resync,
            &mut self.local,
            &self.sh.stats,
        );
        room.board = Some(board);
    }

    /// A steering Bumper bot's `tick` or `ticks` frame: counted, each tick applied in
    /// order (an input's ack timed), then one decision.
    async fn on_bumper_ticks(&mut self, event: &[u8], payload: &[u8]) -> Result<(), Stop> {
        let now = Instant::now();
        let Some(room) = &mut self.room else {
            return Ok(());
        };
        let Some(board) = &mut room.board else {
            // Before the snapshot (or after a phx_error): nothing to apply to.
            return Ok(());
        };
        let decoded = match event {
            ticks::TICKS => bumper::decode_ticks(payload),
            _ => bumper::decode_tick(payload).map(|t| vec![t]),
        };
        let Ok(decoded) = decoded else {
            self.sh.stats.error("decode:tick");
            return Ok(());
        };
        self.numbers.clear();
        self.numbers.extend(decoded.iter().map(|t| t.tick));
        room.ticks.frame(now, &self.numbers, &mut self.local);
        let mut applied = 0;
        let mut went_waiting = false;
        for tick in &decoded {
            let was_waiting = board.phase == bumper::Phase::Waiting;
            if !was_waiting && tick.tick <= board.tick {
                continue;
            }
            if !was_waiting && tick.tick > board.tick + 1 {
                // A gap: carry on from here (discs are absolute).
                board.tick = tick.tick - 1;
            }
            if board.apply_tick(tick).is_err() {
                self.sh.stats.error("tick:sequence");
            }
            applied += 1;
            went_waiting |= board.phase == bumper::Phase::Waiting && !was_waiting;
            if let (Some(seat), Some((seq, sent))) = (room.seat, room.pending_seq)
                && board.player(seat).and_then(|p| p.ack) >= Some(seq)
            {
                self.local
                    .echo_us
                    .push(now.duration_since(sent).as_micros() as u64);
                room.pending_seq = None;
            }
        }
        if went_waiting {
            room.on_waiting(now);
        }
        if self.local.due() {
            self.local.flush(&self.sh.stats);
        }
        if applied == 0 {
            return Ok(());
        }
        self.push_on(now, applied).await
    }

    /// Decides a Bumper bot's input after `new_ticks` ticks: every [`DECIDE_EVERY`]
    /// ticks, sent when it changed.
    async fn push_on(&mut self, now: Instant, new_ticks: u32) -> Result<(), Stop> {
        let Some(room) = &mut self.room else {
            return Ok(());
        };
        let (Some(board), Some(seat)) = (&room.board, room.seat) else {
            return Ok(());
        };
        if !room.player || board.phase != bumper::Phase::Playing {
            return Ok(());
        }
        if room.decide_in >= new_ticks {
            room.decide_in -= new_ticks;
            return Ok(());
        }
        room.decide_in = DECIDE_EVERY - 1;
        let roll = xorshift(&mut self.rng);
        let Some(push) = push::choose(board, seat, room.centre, roll) else {
            return Ok(());
        };
        if room.push == Some(push) {
            return Ok(());
        }
        room.push = Some(push);
        room.seq = room.seq.wrapping_add(1);
        if room.pending_seq.is_none() {
            room.pending_seq = Some((room.seq, now));
        }
        let payload = push.payload(room.seq);
        let (join_ref, topic) = (room.join_ref.clone(), room.topic.clone());
        self.push(Some(&join_ref), &topic, "input", &payload)
            .await?;
        self.sh.stats.inputs_sent.fetch_add(1, Relaxed);
        Ok(())
    }

    /// A light bot's snapshot: its tick and phase only.
    fn on_light_snapshot(&mut self, payload: &[u8]) {
        let Some(room) = &mut self.room else {
            return;
        };
        let head = match light::snapshot_head(payload) {
            Ok(head) => head,
            Err(_) => {
                self.sh.stats.error("decode:snapshot");
                return;
            }
        };
        // A phase already known means this snapshot answers no join: a resync.
        let resync = room.phase().is_some();
        if let Some(light) = &mut room.light {
            light.on_snapshot(head.phase);
        }
        room.after_snapshot(
            head.phase,
            head.tick,
            resync,
            &mut self.local,
            &self.sh.stats,
        );
    }

    /// A steering bot's `tick` or `ticks` frame: counted, then each tick applied in
    /// order, then one steering decision.
    async fn on_ticks(&mut self, event: &[u8], payload: &[u8]) -> Result<(), Stop> {
        let now = Instant::now();
        let Some(room) = &mut self.room else {
            return Ok(());
        };
        if room.arena.is_none() {
            // Before the snapshot (or after a phx_error): nothing to apply to.
            return Ok(());
        }
        let decoded = match ticks::decode_ticks(event, payload) {
            Ok(decoded) => decoded,
            Err(_) => {
                self.sh.stats.error("decode:tick");
                return Ok(());
            }
        };
        self.numbers.clear();
        self.numbers.extend(decoded.iter().map(|t| t.tick));
        room.ticks.frame(now, &self.numbers, &mut self.local);
        let mut applied = 0;
        for tick in &decoded {
            if room.apply_tick(tick, now, &mut self.local, &self.sh.stats) {
                applied += 1;
            }
        }
        if self.local.due() {
            self.local.flush(&self.sh.stats);
        }
        if applied == 0 {
            return Ok(());
        }
        self.steer(now, applied).await
    }

    /// A light bot's `tick` or `ticks` frame: tick numbers only.
    fn on_light_frame(&mut self, event: &[u8], payload: &[u8]) {
        let now = Instant::now();
        self.numbers.clear();
        if ticks::tick_numbers(event, payload, &mut self.numbers).is_err() {
            self.sh.stats.error("decode:tick");
            return;
        }
        let Some(room) = &mut self.room else {
            return;
        };
        if room.phase().is_none() {
            // Before the snapshot (or after a phx_error).
            return;
        }
        room.ticks.frame(now, &self.numbers, &mut self.local);
        if let (Some(light), Some(&newest)) = (&mut room.light, self.numbers.iter().max()) {
            light.frame(now, newest, &mut self.local);
        }
        if self.local.due() {
            self.local.flush(&self.sh.stats);
        }
    }

    /// When a light player's next input is due.
    fn input_due(&self) -> Option<Instant> {
        self.room.as_ref()?.light.as_ref()?.input_due()
    }

    /// Sends a light player's input, if one is due.
    async fn light_input(&mut self, now: Instant) -> Result<(), Stop> {
        let Some(room) = &mut self.room else {
            return Ok(());
        };
        let last_tick = room.ticks.last();
        let Some(payload) = room.light.as_mut().and_then(|l| l.input(now, last_tick)) else {
            return Ok(());
        };
        let (join_ref, topic) = (room.join_ref.clone(), room.topic.clone());
        self.push(Some(&join_ref), &topic, "input", payload).await?;
        self.sh.stats.inputs_sent.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Steers after `new_ticks` ticks were applied: a decision every [`DECIDE_EVERY`]
    /// ticks.
    async fn steer(&mut self, now: Instant, new_ticks: u32) -> Result<(), Stop> {
        let Some(room) = &mut self.room else {
            return Ok(());
        };
        let (Some(arena), Some(seat)) = (&room.arena, room.seat) else {
            return Ok(());
        };
        if !room.player || !matches!(arena.phase, Phase::Countdown | Phase::Playing) {
            return Ok(());
        }
        let Some(me) = arena.player(seat).filter(|p| p.alive) else {
            room.pending = None;
            return Ok(());
        };
        if room.decide_in >= new_ticks {
            room.decide_in -= new_ticks;
            return Ok(());
        }
        room.decide_in = DECIDE_EVERY - 1;
        let roll = xorshift(&mut self.rng);
        let wiggle = roll
            .is_multiple_of(WIGGLE_ONE_IN)
            .then(|| ((roll >> 32) % 3) as i8 - 1);
        let turn = steer::choose(arena, me, room.turn, room.motion, wiggle);
        if turn == room.turn {
            return Ok(());
        }
        room.turn = turn;
        room.pending = (arena.phase == Phase::Playing).then_some((turn, now));
        let payload = match turn {
            -1 => r#"{"turn":-1}"#,
            1 => r#"{"turn":1}"#,
            _ => r#"{"turn":0}"#,
        };
        let (join_ref, topic) = (room.join_ref.clone(), room.topic.clone());
        self.push(Some(&join_ref), &topic, "input", payload).await?;
        self.sh.stats.inputs_sent.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Sends a close frame and waits (bounded) for the server to end the connection.
    async fn close(&mut self) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            if self.ws.close(None).await.is_err() {
                return;
            }
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

/// `lobby` or `room` from a topic, for error kinds.
fn event_kind(topic: &str) -> &str {
    topic.split(':').next().unwrap_or("?")
}

/// The `reason` of an error response, or `error`.
fn reason(response: &str) -> String {
    serde_json::from_str::<wire::Reason>(response)
        .ok()
        .and_then(|r| r.reason.map(str::to_owned))
        .unwrap_or_else(|| "error".into())
}

fn ws_error_kind(e: &tokio_tungstenite::tungstenite::Error) -> &'static str {
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::ConnectionClosed | Error::AlreadyClosed => "closed",
        Error::Io(_) => "io",
        Error::Protocol(_) => "protocol",
        Error::Capacity(_) => "capacity",
        Error::WriteBufferFull(_) => "write_buffer_full",
        _ => "other",
    }
}

/// Bumper's phases as the shared room code counts them.
fn bumper_phase(phase: bumper::Phase) -> Phase {
    match phase {
        bumper::Phase::Waiting => Phase::Waiting,
        bumper::Phase::Countdown => Phase::Countdown,
        bumper::Phase::Playing => Phase::Playing,
        bumper::Phase::Finished => Phase::Finished,
    }
}

/// The centre of the arena a join reply's config describes (`arena {w, h}`, px), in
/// wire units; Bumper's floe is centred there.
fn floe_centre(rules: &serde_json::Map<String, serde_json::Value>) -> [i32; 2] {
    let side = |key: &str| {
        rules
            .get("arena")
            .and_then(|a| a.get(key))
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0) as i32
    };
    [
        side("w") * bumper::POS_SCALE / 2,
        side("h") * bumper::POS_SCALE / 2,
    ]
}

fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}
