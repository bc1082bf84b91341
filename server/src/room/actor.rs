//! The room actor: one task that owns a game ([`RoomGame`]), steps it at the tick rate
//! and fans out what each step produces.
//!
//! Per tick: [`RoomGame::step`], whose binary `tick` delta the game encoded **once**, is
//! handed to the pubsub, which gives every member (players and spectators) the same bytes.
//! Lifecycle events go out as JSON broadcasts. Between ticks the room answers joins,
//! leaves, `ready` and `input`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kurve_shared::lobby::{PublicUser, RoomSummary, Status};
use kurve_shared::room::{MatchSaved, RoomConfig, RoomJoined, You, seat_color};
use metrics::{Counter, Histogram};
use serde::ser::SerializeStruct;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::alarm::Alarm;
use super::clock::TickClock;
use super::{RoomSpec, Rooms};
use crate::config::presence_flush_window;
use crate::game::envelope::ticks_frame;
use crate::game::{ConfigFor, Outcome, RoomGame, SavedGame, SeatError};
use crate::mailbox::MailboxReceiver;
use crate::outbound::{ChannelRef, Outbound, Payload, SocketId};
use crate::presence::{MetaFields, Presence};
use crate::protocol::error::ChannelError;
use crate::protocol::{Role, RoomEvent, RoomJoin};
use crate::pubsub::Broadcast;
use crate::store::{MatchPlayer, MatchRecord};

/// An empty room is disposed after this long.
pub const EMPTY_ROOM_TTL: Duration = Duration::from_secs(30);

/// Commands a room understands.
#[derive(Debug)]
pub enum RoomCommand {
    Join {
        chan: ChannelRef,
        msg_ref: Arc<str>,
        params: RoomJoin,
    },
    Leave {
        socket: SocketId,
        explicit: bool,
    },
    /// A member's socket fell behind and drained: it gets a fresh snapshot and
    /// `presence_state`, then the ticks after it.
    Resync {
        chan: ChannelRef,
    },
    Event {
        chan: ChannelRef,
        msg_ref: Arc<str>,
        event: RoomEvent,
    },
    /// The operator closes the room: every member gets `phx_close` and the room ends.
    Close,
}

/// Room presence meta: `{"name", "role", "color"?, "seat"?, "ready"?}` (the last three
/// for players), so everyone sees who sits where and who is ready while the room waits.
#[derive(Debug, Clone, PartialEq)]
struct RoomMeta {
    name: Arc<str>,
    role: Role,
    seat: Option<Seat>,
}

/// A player's seat as presence shows it.
#[derive(Debug, Clone, PartialEq)]
struct Seat {
    seat: u8,
    color: Arc<str>,
    ready: bool,
}

impl MetaFields for RoomMeta {
    const FIELDS: usize = 5;
    fn serialize_fields<S: SerializeStruct>(&self, s: &mut S) -> Result<(), S::Error> {
        s.serialize_field("name", &*self.name)?;
        s.serialize_field("role", self.role.as_str())?;
        if let Some(seat) = &self.seat {
            s.serialize_field("color", &*seat.color)?;
            s.serialize_field("seat", &seat.seat)?;
            s.serialize_field("ready", &seat.ready)?;
        }
        Ok(())
    }
}

struct Member {
    chan: ChannelRef,
    role: Role,
    phx_ref: Arc<str>,
    /// What presence shows for this session now.
    meta: RoomMeta,
}

/// Everything a room incarnation starts from.
pub(super) struct RoomStart {
    pub id: Arc<str>,
    pub spec: RoomSpec,
    pub inbox: MailboxReceiver<RoomCommand>,
    pub restored: Option<Arc<dyn SavedGame>>,
    pub save_slot: Arc<Mutex<Option<Arc<dyn SavedGame>>>>,
    /// Where the room stores its last tick for the operator's view.
    pub tick: Arc<std::sync::atomic::AtomicU64>,
    pub rooms: Rooms,
    pub cancel: CancellationToken,
    pub restarts: u32,
}

/// Metric handles a room uses every tick, looked up once.
struct TickMetrics {
    duration: Histogram,
    lateness: Histogram,
    ticks: Counter,
    skipped: Counter,
    tick_bytes: Counter,
}

impl TickMetrics {
    fn new() -> Self {
        use crate::metrics as m;
        TickMetrics {
            duration: metrics::histogram!(m::TICK_DURATION),
            lateness: metrics::histogram!(m::TICK_LATENESS),
            ticks: metrics::counter!(m::TICKS),
            skipped: metrics::counter!(m::TICKS_SKIPPED),
            tick_bytes: metrics::counter!(m::TICK_BYTES),
        }
    }
}

struct Room {
    id: Arc<str>,
    topic: Arc<str>,
    spec: RoomSpec,
    game: Box<dyn RoomGame>,
    rooms: Rooms,
    members: HashMap<SocketId, Member>,
    /// Members whose socket is on another node. While there are none, the room's
    /// broadcasts stay on this node: no other node has a subscriber of its topic (a
    /// member on another node joins through a proxy member here).
    remote_members: usize,
    presence: Presence<RoomMeta>,
    flush_at: Option<Instant>,
    empty_since: Option<Instant>,
    save_slot: Arc<Mutex<Option<Arc<dyn SavedGame>>>>,
    /// Where the last tick is stored for the operator's view.
    tick_cell: Arc<std::sync::atomic::AtomicU64>,
    metrics: TickMetrics,
    test_hooks: bool,
    /// The summary last published, to publish only changes.
    last_summary: Option<RoomSummary>,
    /// Ticks stepped but not yet sent (each encoded once), and how many go in one frame
    /// (tick rate / send rate).
    unsent: Vec<Bytes>,
    ticks_per_frame: usize,
}

/// Ticks per frame for a room sending `send_hz` frames a second at `tick_hz`: the
/// nearest whole divisor, at least one.
fn ticks_per_frame(tick_hz: u32, send_hz: u32) -> usize {
    let tick_hz = tick_hz.max(1);
    let send_hz = send_hz.clamp(1, tick_hz);
    ((tick_hz + send_hz / 2) / send_hz).max(1) as usize
}

pub(super) async fn run(start: RoomStart) {
    let RoomStart {
        id,
        spec,
        mut inbox,
        restored,
        save_slot,
        tick,
        rooms,
        cancel,
        restarts,
    } = start;
    let deps = rooms.deps.clone();
    let game = match restored {
        Some(saved) => {
            let mut game = saved.resume();
            // Every socket was lost with the crash: seats are kept for 15 s for the
            // players' clients to rejoin, as after any disconnect.
            for player in game.seats() {
                game.set_connected(&player.user_id, false);
            }
            tracing::warn!(room = %id, restarts, tick = game.tick(), "room resumed from its last saved state");
            game
        }
        None => {
            // Rooms::start checked the game exists; a room that lost its game (an
            // adopted room of a game this build lacks) cannot run.
            let Some(kind) = deps.games.get(&spec.game) else {
                panic!(
                    "room:{id} plays {}, which this server does not host",
                    spec.game
                );
            };
            kind.create(rand::random(), spec.max_players)
        }
    };
    let tick_hz = game.tick_hz();
    let per_frame = ticks_per_frame(tick_hz, spec.send_hz.unwrap_or(deps.send_hz));
    let mut room = Room {
        topic: Arc::from(format!("room:{id}")),
        id,
        spec,
        game,
        rooms,
        members: HashMap::new(),
        remote_members: 0,
        presence: Presence::new(),
        flush_at: None,
        empty_since: Some(Instant::now()),
        save_slot,
        tick_cell: tick,
        metrics: TickMetrics::new(),
        test_hooks: deps.test_hooks,
        last_summary: None,
        unsent: Vec::with_capacity(per_frame),
        ticks_per_frame: per_frame,
    };
    room.save();
    room.publish_summary();
    tracing::info!(room = %room.id, lobby = %room.spec.lobby, "room started");

    let mut clock = TickClock::new(tick_hz, Instant::now());
    let alarm = Alarm::new();
    // An idle waiting room does not tick: it costs nothing until a command changes
    // that, and its schedule then starts afresh (no catching up on the pause).
    let mut ticking = !room.game.is_idle();
    // Made once: a fresh cancellation future per turn costs a lock per tick.
    let cancelled = cancel.cancelled();
    tokio::pin!(cancelled);
    loop {
        // tokio timers only for the rare deadlines, and only polled (registered in the
        // timer wheel) while they exist: a room turns this loop on every tick and input.
        let flush_at = room.flush_at;
        let dispose_at = room.empty_since.map(|t| t + EMPTY_ROOM_TTL);
        tokio::select! {
            biased;
            _ = &mut cancelled => break,
            _ = alarm.sleep_until(clock.deadline().into_std()), if ticking => {
                let due = clock.wake(Instant::now());
                room.metrics.lateness.record(due.lateness.as_secs_f64());
                if due.skipped > 0 {
                    room.metrics.skipped.increment(due.skipped);
                    tracing::warn!(room = %room.id, skipped = due.skipped, "room fell behind, ticks skipped");
                }
                for _ in 0..due.run {
                    room.step();
                }
                ticking = !room.game.is_idle();
            }
            command = inbox.recv() => match command {
                Some(RoomCommand::Close) => {
                    tracing::info!(room = %room.id, "room closed by the operator");
                    room.close();
                    inbox.close();
                    while let Some(command) = inbox.try_recv() {
                        room.refuse_after_close(command);
                    }
                    break;
                }
                Some(command) => {
                    room.handle(command);
                    if !ticking && !room.game.is_idle() {
                        ticking = true;
                        clock = TickClock::new(tick_hz, Instant::now());
                    }
                }
                None => break,
            },
            _ = sleep_until(flush_at.unwrap_or_else(Instant::now)), if flush_at.is_some() => {
                room.flush_presence();
            }
            _ = sleep_until(dispose_at.unwrap_or_else(Instant::now)), if dispose_at.is_some() => {
                tracing::info!(room = %room.id, "empty room disposed");
                inbox.close();
                while let Some(command) = inbox.try_recv() {
                    room.refuse_after_close(command);
                }
                break;
            }
        }
    }
    room.flush_presence();
}

impl Room {
    fn handle(&mut self, command: RoomCommand) {
        match command {
            RoomCommand::Join {
                chan,
                msg_ref,
                params,
            } => self.join(chan, msg_ref, &params),
            RoomCommand::Leave { socket, explicit } => self.leave(socket, explicit),
            RoomCommand::Resync { chan } => self.resync(&chan),
            RoomCommand::Event {
                chan,
                msg_ref,
                event,
            } => self.event(chan, msg_ref, event),
            // Handled by the loop, which ends the room.
            RoomCommand::Close => {}
        }
    }

    /// Sends every member `phx_close` (their sockets forget the channel) and lets the
    /// room end.
    fn close(&mut self) {
        self.remote_members = 0;
        for (socket, member) in self.members.drain().collect::<Vec<_>>() {
            member.chan.socket.outbox.send(Outbound::ChannelClosed {
                topic: self.topic.clone(),
                join_ref: member.chan.join_ref.clone(),
            });
            self.rooms.deps.pubsub.unsubscribe(&self.topic, socket);
            self.set_lobby_status(&member.chan.socket.user.id, Status::Lobby, None);
        }
    }

    /// Advances the game one tick and fans out what it produced.
    fn step(&mut self) {
        let started = std::time::Instant::now();
        let out = self.game.step();
        self.tick_cell
            .store(self.game.tick(), std::sync::atomic::Ordering::Relaxed);
        let phase_changed = !out.lifecycle.is_empty();
        if let Some(tick) = out.tick {
            self.unsent.push(tick);
        }
        // A frame is due, or an event must not overtake the ticks before it.
        if self.unsent.len() >= self.ticks_per_frame || phase_changed {
            self.send_ticks();
        }
        for event in &out.lifecycle {
            self.broadcast(event.event, Payload::json(&event.payload));
        }
        if let Some(outcome) = out.outcome {
            self.store_match(outcome);
        }
        if phase_changed {
            self.save();
            self.publish_summary();
            // Ready flags are cleared when a finished match goes back to waiting.
            self.sync_player_metas();
        }
        self.metrics.ticks.increment(1);
        self.metrics
            .duration
            .record(started.elapsed().as_secs_f64());
    }

    /// Sends the ticks not sent yet, in one frame: `tick` for one, `ticks` for several
    /// (each tick was encoded once, as it was stepped; a `ticks` frame joins them).
    fn send_ticks(&mut self) {
        let (event, bytes) = match self.unsent.as_slice() {
            [] => return,
            [tick] => ("tick", tick.clone()),
            ticks => ("ticks", Bytes::from(ticks_frame(ticks))),
        };
        self.unsent.clear();
        self.metrics.tick_bytes.increment(bytes.len() as u64);
        self.broadcast(event, Payload::Binary(bytes));
    }

    /// Network frames per second this room sends.
    fn send_hz(&self) -> u32 {
        self.game.tick_hz().max(1) / self.ticks_per_frame as u32
    }

    /// A join whose password the socket already checked (and counted if wrong) before
    /// sending it here.
    fn join(&mut self, chan: ChannelRef, msg_ref: Arc<str>, params: &RoomJoin) {
        let role = params.role;
        let user = chan.socket.user.clone();
        let socket = chan.socket.id;
        if self.members.contains_key(&socket) {
            self.leave(socket, false);
        }
        if role == Role::Player {
            let seated = self.game.seats().iter().any(|p| p.user_id == user.id);
            if seated {
                // A rejoin within the seat-keeping window, or a second tab.
                self.game.set_connected(&user.id, true);
            } else {
                match self.game.add_player(&user.id, &user.name) {
                    Ok(_) => {}
                    Err(SeatError::Full) => {
                        return chan.refuse_join(&msg_ref, ChannelError::RoomFull);
                    }
                    Err(SeatError::AlreadyStarted) => {
                        return chan.refuse_join(&msg_ref, ChannelError::AlreadyStarted);
                    }
                    Err(SeatError::AlreadySeated) => {
                        return chan.refuse_join(&msg_ref, ChannelError::AlreadySeated);
                    }
                }
            }
        }
        // Members get every tick up to now before the joiner's snapshot is taken, so the
        // snapshot is followed by exactly the ticks after it.
        self.send_ticks();
        let meta = self.meta_for(&user.id, &user.name, role);
        let joined = RoomJoined {
            config: RoomConfig {
                game: self.spec.game.clone(),
                lobby: self.spec.lobby.to_string(),
                max_players: self.spec.max_players,
                name: self.spec.name.clone(),
                room_id: self.id.to_string(),
                send_hz: self.send_hz(),
                tick_hz: self.game.tick_hz(),
                rules: self.game.client_config(ConfigFor::Room),
            },
            you: You {
                color: meta.seat.as_ref().map(|seat| seat.color.to_string()),
                id: user.id.to_string(),
                role,
                seat: meta.seat.as_ref().map(|seat| seat.seat),
            },
        };
        // Through a JSON value: the game's fields and the runtime's go out sorted by
        // name together, as they always have.
        chan.reply(
            &msg_ref,
            "ok",
            Payload::json(&serde_json::to_value(&joined).unwrap_or_default()),
        );
        chan.push_reset("snapshot", Payload::Binary(self.game.snapshot()));
        let phx_ref = self.presence.track(&user.id, meta.clone());
        chan.push_reset("presence_state", Payload::Json(self.presence.state_json()));
        self.rooms
            .deps
            .pubsub
            .subscribe(&self.topic, socket, chan.socket.outbox.clone());
        self.set_lobby_status(
            &user.id,
            match role {
                Role::Player => Status::Playing,
                Role::Spectator => Status::Spectating,
            },
            Some(self.id.clone()),
        );
        self.remote_members += usize::from(chan.socket.outbox.forwards());
        let replaced = self.members.insert(
            socket,
            Member {
                chan,
                role,
                phx_ref,
                meta,
            },
        );
        if let Some(old) = replaced {
            self.remote_members -= usize::from(old.chan.socket.outbox.forwards());
        }
        self.empty_since = None;
        self.schedule_flush();
        self.save_if_waiting();
        self.publish_summary();
    }

    /// The present for a member that missed some of the room's ticks or presence
    /// diffs: every tick up to now goes out first (as for a join), so the snapshot is
    /// followed by exactly the ticks after it.
    fn resync(&mut self, chan: &ChannelRef) {
        if !self.members.contains_key(&chan.socket.id) {
            chan.socket.outbox.end_lag(&chan.topic);
            return;
        }
        self.send_ticks();
        chan.push_reset("snapshot", Payload::Binary(self.game.snapshot()));
        chan.push_reset("presence_state", Payload::Json(self.presence.state_json()));
    }

    fn leave(&mut self, socket: SocketId, explicit: bool) {
        let Some(member) = self.members.remove(&socket) else {
            return;
        };
        self.remote_members -= usize::from(member.chan.socket.outbox.forwards());
        self.rooms.deps.pubsub.unsubscribe(&self.topic, socket);
        let user_id = member.chan.socket.user.id.clone();
        self.presence.untrack(&user_id, &member.phx_ref);
        let still_here = self
            .members
            .values()
            .any(|m| m.chan.socket.user.id == user_id);
        if !still_here {
            if member.role == Role::Player {
                if explicit {
                    self.game.remove_player(&user_id);
                } else {
                    self.game.set_connected(&user_id, false);
                }
            }
            self.set_lobby_status(&user_id, Status::Lobby, None);
        }
        if self.members.is_empty() {
            self.empty_since = Some(Instant::now());
        }
        self.schedule_flush();
        self.save_if_waiting();
        self.publish_summary();
    }

    fn event(&mut self, chan: ChannelRef, msg_ref: Arc<str>, event: RoomEvent) {
        let Some(member) = self.members.get_mut(&chan.socket.id) else {
            chan.reply_error(&msg_ref, ChannelError::NotJoined);
            return;
        };
        match event {
            RoomEvent::Input { payload, seq } => {
                if member.role != Role::Player {
                    chan.reply_error(&msg_ref, ChannelError::NotAPlayer);
                    return;
                }
                let seat = member.meta.seat.as_ref().map(|s| s.seat);
                if let Err(error) = self.game.input(seat, &chan.socket.user.id, &payload, seq) {
                    chan.reply_error(&msg_ref, error);
                }
            }
            RoomEvent::Ready { ready } => {
                if member.role != Role::Player {
                    chan.reply_error(&msg_ref, ChannelError::NotAPlayer);
                    return;
                }
                self.game.set_ready(&chan.socket.user.id, ready);
                chan.reply(&msg_ref, "ok", Payload::empty());
                self.save_if_waiting();
                self.sync_player_metas();
            }
            RoomEvent::DebugCrash if self.test_hooks => {
                panic!("debug_crash requested on room:{}", self.id);
            }
            RoomEvent::DebugCrash => {
                chan.reply_error(&msg_ref, ChannelError::UnknownEvent);
            }
        }
    }

    /// The presence meta `user_id` should have in `role` now.
    fn meta_for(&self, user_id: &str, name: &str, role: Role) -> RoomMeta {
        let seat = match role {
            Role::Spectator => None,
            Role::Player => self
                .game
                .seats()
                .into_iter()
                .find(|p| p.user_id == user_id)
                .map(|p| Seat {
                    seat: p.seat,
                    color: Arc::from(seat_color(p.seat)),
                    ready: p.ready,
                }),
        };
        RoomMeta {
            name: Arc::from(name),
            role,
            seat,
        }
    }

    /// Updates the presence of every player whose seat or ready flag changed.
    fn sync_player_metas(&mut self) {
        let sockets: Vec<SocketId> = self
            .members
            .iter()
            .filter(|(_, m)| m.role == Role::Player)
            .map(|(id, _)| *id)
            .collect();
        let mut changed = false;
        for socket in sockets {
            let Some(member) = self.members.get(&socket) else {
                continue;
            };
            let user = member.chan.socket.user.clone();
            let wanted = self.meta_for(&user.id, &user.name, Role::Player);
            let Some(member) = self.members.get_mut(&socket) else {
                continue;
            };
            if member.meta == wanted {
                continue;
            }
            if let Some(new_ref) = self
                .presence
                .update(&user.id, &member.phx_ref, wanted.clone())
            {
                member.phx_ref = new_ref;
                member.meta = wanted;
                changed = true;
            }
        }
        if changed {
            self.schedule_flush();
        }
    }

    /// Sends to every member: those on this node directly, and, only while some member
    /// is on another node, to the other nodes too ([`crate::pubsub::Remote`]).
    fn broadcast(&self, event: &'static str, payload: Payload) {
        let broadcast = Broadcast::new(self.topic.clone(), event, payload);
        let pubsub = &self.rooms.deps.pubsub;
        if self.remote_members > 0 {
            pubsub.broadcast(broadcast);
        } else {
            pubsub.broadcast_local(broadcast);
        }
    }

    /// Keeps the state a restart would resume from. Saved at phase changes (cheap: when
    /// play begins the arena is empty) and on every change while waiting, so a crash
    /// mid-round replays that round from the moment play began.
    fn save(&mut self) {
        let saved = self.game.save();
        self.rooms.share_state(&self.id, &self.spec, &*saved);
        *self
            .save_slot
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(saved);
    }

    fn save_if_waiting(&mut self) {
        if self.game.status().waiting {
            self.save();
        }
    }

    fn summary(&self) -> RoomSummary {
        let players = self.game.seats();
        let spectators = self
            .members
            .values()
            .filter(|m| m.role == Role::Spectator)
            .count();
        RoomSummary {
            id: self.id.to_string(),
            name: self.spec.name.clone(),
            lobby: self.spec.lobby.to_string(),
            game: self.spec.game.clone(),
            phase: self.game.status().listed,
            players: players
                .into_iter()
                .map(|p| PublicUser {
                    id: p.user_id,
                    name: p.name,
                })
                .collect(),
            spectators: spectators as u32,
            max_players: self.spec.max_players,
            private: self.spec.private,
            node: self.rooms.deps.node.as_deref().map(str::to_owned),
        }
    }

    fn publish_summary(&mut self) {
        let summary = self.summary();
        if self.last_summary.as_ref() != Some(&summary) {
            self.rooms.update(summary.clone());
            self.last_summary = Some(summary);
        }
    }

    /// Shows the user's new status in the lobby. A private room's id is never shown:
    /// its members appear as playing or spectating, but not where.
    fn set_lobby_status(&self, user_id: &str, status: Status, room_id: Option<Arc<str>>) {
        let room_id = room_id.filter(|_| !self.spec.private);
        if let Some(lobby) = self.rooms.deps.lobbies.get(&self.spec.lobby) {
            lobby.set_user_status(user_id, status, room_id);
        }
    }

    fn schedule_flush(&mut self) {
        if self.flush_at.is_none() {
            self.flush_at = Some(Instant::now() + presence_flush_window(self.members.len()));
        }
    }

    fn flush_presence(&mut self) {
        self.flush_at = None;
        if let Some(diff) = self.presence.flush() {
            self.broadcast("presence_diff", Payload::Json(Arc::from(diff)));
        }
    }

    /// Writes a finished match to the database without blocking the tick loop.
    fn store_match(&self, outcome: Outcome) {
        let tick_hz = u64::from(self.game.tick_hz().max(1));
        let ended_at_ms = unix_millis();
        let duration_ms = outcome.duration_ticks * 1000 / tick_hz;
        let row = MatchRecord {
            room_id: self.id.to_string(),
            room_name: self.spec.name.clone(),
            game: self.spec.game.clone(),
            rounds: outcome.rounds,
            seed: outcome.seed,
            started_at_ms: ended_at_ms - duration_ms as i64,
            ended_at_ms,
            winner_user_id: outcome.winner.clone(),
            input_log: outcome.log,
            players: outcome.standings.iter().map(MatchPlayer::from).collect(),
        };
        let store = self.rooms.deps.store.clone();
        let room = self.id.clone();
        let pubsub = self.rooms.deps.pubsub.clone();
        let topic = self.topic.clone();
        self.rooms.deps.writes.spawn(async move {
            match store.record_match(row).await {
                Ok(id) => {
                    tracing::info!(room = %room, match_id = id, "match stored");
                    // Members may watch it again: the match-end screen links the replay.
                    let saved = MatchSaved::new(id);
                    pubsub.broadcast(Broadcast::new(topic, "match_saved", Payload::json(&saved)));
                }
                Err(error) => tracing::error!(room = %room, %error, "could not store a match"),
            }
        });
    }

    fn refuse_after_close(&mut self, command: RoomCommand) {
        match command {
            RoomCommand::Join { chan, msg_ref, .. } => {
                chan.refuse_join(&msg_ref, ChannelError::NotFound);
            }
            RoomCommand::Event { chan, msg_ref, .. } => {
                chan.reply_error(&msg_ref, ChannelError::NotFound);
            }
            RoomCommand::Leave { socket, explicit } => self.leave(socket, explicit),
            RoomCommand::Resync { chan } => chan.socket.outbox.end_lag(&chan.topic),
            RoomCommand::Close => {}
        }
    }
}

fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::ticks_per_frame;

    #[test]
    fn send_rates_round_to_a_whole_number_of_ticks_per_frame() {
        assert_eq!(ticks_per_frame(60, 60), 1);
        assert_eq!(ticks_per_frame(60, 30), 2);
        assert_eq!(ticks_per_frame(60, 20), 3);
        assert_eq!(ticks_per_frame(60, 25), 2, "nearest divisor");
        assert_eq!(ticks_per_frame(60, 240), 1, "never above the tick rate");
        assert_eq!(ticks_per_frame(60, 1), 60);
        assert_eq!(ticks_per_frame(0, 0), 1, "degenerate rates stay sane");
    }
}
