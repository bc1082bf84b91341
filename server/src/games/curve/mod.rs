//! Curve behind the game interface: [`crate::sim`] is Curve's simulation, unchanged;
//! this adapter is all the runtime sees of it. Everything Curve sends is byte for byte
//! what it sent before the interface existed (the golden recording,
//! `sim/tests/golden.rs`, pins it), and every stored match still replays.

#[cfg(test)]
mod replays;

use std::sync::Arc;

use bytes::Bytes;
use kurve_shared::game::{self, Phase};
use kurve_shared::lobby::RoomPhase;
use kurve_shared::room::GameInfo;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::game::envelope::frame_bytes;
use crate::game::{
    ConfigFor, GameDataError, GameKind, Lifecycle, Outcome, Playback, PlaybackCheckpoint,
    Recording, RoomGame, SavedGame, SeatError, SeatView, Status, Step,
};
use crate::protocol::decode_json;
use crate::protocol::error::ChannelError;
use crate::sim::{self, Game, GameConfig, GameError, InputLog};

/// Curve's id.
pub const ID: &str = "curve";

/// Curve: its rules for new rooms.
pub struct Curve {
    pub config: GameConfig,
}

impl GameKind for Curve {
    fn info(&self) -> GameInfo {
        GameInfo {
            id: ID.into(),
            name: "Curve".into(),
            min_players: 1,
            max_players: sim::components::MAX_SEATS as u8,
        }
    }

    fn create(&self, seed: u64, max_players: u8) -> Box<dyn RoomGame> {
        Box::new(Game::new(self.config.clone(), seed, max_players))
    }

    fn restore(&self, saved: &[u8]) -> Result<Box<dyn RoomGame>, GameDataError> {
        let saved: sim::SavedGame =
            rmp_serde::from_slice(saved).map_err(|e| GameDataError(e.to_string()))?;
        Ok(Box::new(Game::restore(saved)))
    }

    fn open_log(&self, log: &[u8]) -> Result<Arc<dyn Recording>, GameDataError> {
        let log = InputLog::from_bytes(log).map_err(|e| GameDataError(e.to_string()))?;
        if log.truncated {
            return Err(GameDataError("the log was cut short".into()));
        }
        let end_tick = log
            .end_tick
            .ok_or_else(|| GameDataError("not a finished match's log".into()))?;
        if end_tick < log.start_tick {
            return Err(GameDataError("the log ends before it starts".into()));
        }
        Ok(Arc::new(CurveLog {
            log: Arc::new(log),
            end_tick,
        }))
    }
}

/// Curve's `input {"turn": -1|0|1, "seq"?}`.
#[derive(Deserialize)]
struct InputIn {
    turn: Turn,
}

/// -1, 0 or +1; anything else is refused while decoding, naming `turn`.
#[derive(Deserialize)]
#[serde(try_from = "i64")]
struct Turn(i8);

impl TryFrom<i64> for Turn {
    type Error = &'static str;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        match value {
            -1..=1 => Ok(Turn(value as i8)),
            _ => Err("turn must be -1, 0 or 1"),
        }
    }
}

/// The phase a lobby's listing shows for a room in `phase` at `round`: `countdown` only
/// before a match's first round (the match is starting); between rounds the match is
/// `playing`. A listing that flipped at every round sent every lobby member two
/// `room_updated` per room and round, for a change nobody in the lobby needs
/// (docs/PERF.md, "Where the late ticks came from").
fn listed_phase(phase: Phase, round: u32) -> RoomPhase {
    match phase {
        Phase::Waiting => RoomPhase::Waiting,
        Phase::Countdown if round <= 1 => RoomPhase::Countdown,
        Phase::Countdown | Phase::Playing | Phase::RoundOver => RoomPhase::Playing,
        Phase::Finished => RoomPhase::Finished,
    }
}

fn step_out(out: sim::StepOutput) -> Step {
    Step {
        tick: out
            .tick
            .map(|tick| frame_bytes("tick", game::encode_tick(&tick))),
        lifecycle: out
            .lifecycle
            .iter()
            .map(|event| Lifecycle {
                event: event.name(),
                payload: event.payload(),
            })
            .collect(),
        outcome: out.record.map(|r| Outcome {
            seed: r.seed,
            duration_ticks: r.duration_ticks,
            rounds: r.rounds,
            winner: r.winner,
            standings: r.players,
            log: r.input_log,
        }),
    }
}

/// Curve's part of a `config`: the arena, items, and (for a room, whose players
/// predict) the motion rules.
fn curve_config(game: &Game, config_for: ConfigFor) -> Map<String, Value> {
    let arena = game.arena_config();
    let rules = game.config();
    let mut map = Map::new();
    map.insert("arena".into(), json!({"h": arena.h, "w": arena.w}));
    map.insert("item_radius".into(), json!(arena.item_radius));
    map.insert("pos_scale".into(), json!(arena.pos_scale));
    if config_for == ConfigFor::Room {
        map.insert(
            "motion".into(),
            json!({
                "speed_px_per_s": rules.speed_px_per_s,
                "turn_rate_mrad_per_s": rules.turn_rate_mrad_per_s,
            }),
        );
    }
    map
}

fn snapshot_bytes(game: &Game) -> Bytes {
    frame_bytes("snapshot", game::encode_snapshot(&game.snapshot()))
}

impl RoomGame for Game {
    fn add_player(&mut self, user_id: &str, name: &str) -> Result<u8, SeatError> {
        Game::add_player(self, user_id, name)
            .map(|slot| slot.seat)
            .map_err(|e| match e {
                GameError::Full => SeatError::Full,
                GameError::AlreadyStarted => SeatError::AlreadyStarted,
                GameError::AlreadySeated => SeatError::AlreadySeated,
            })
    }

    fn remove_player(&mut self, user_id: &str) {
        Game::remove_player(self, user_id);
    }

    fn set_connected(&mut self, user_id: &str, connected: bool) {
        Game::set_connected(self, user_id, connected);
    }

    fn set_ready(&mut self, user_id: &str, ready: bool) {
        Game::set_ready(self, user_id, ready);
    }

    fn input(
        &mut self,
        seat: Option<u8>,
        user_id: &str,
        payload: &Value,
        seq: Option<u32>,
    ) -> Result<(), ChannelError> {
        let input: InputIn = decode_json(payload)?;
        self.set_input_seq(seat, user_id, input.turn.0, seq);
        Ok(())
    }

    fn step(&mut self) -> Step {
        step_out(Game::step(self))
    }

    fn is_idle(&self) -> bool {
        Game::is_idle(self)
    }

    fn tick(&self) -> u64 {
        Game::tick(self)
    }

    fn tick_hz(&self) -> u32 {
        self.config().tick_hz
    }

    fn status(&self) -> Status {
        Status {
            listed: listed_phase(self.phase(), self.round()),
            waiting: self.phase() == Phase::Waiting,
        }
    }

    fn seats(&self) -> Vec<SeatView> {
        self.players()
            .into_iter()
            .map(|p| SeatView {
                seat: p.seat,
                user_id: p.user_id,
                name: p.name,
                ready: p.ready,
                connected: p.connected,
            })
            .collect()
    }

    fn client_config(&self, config_for: ConfigFor) -> Map<String, Value> {
        curve_config(self, config_for)
    }

    fn snapshot(&self) -> Bytes {
        snapshot_bytes(self)
    }

    fn state_hash(&self) -> u64 {
        Game::state_hash(self)
    }

    fn save(&self) -> Arc<dyn SavedGame> {
        Arc::new(Game::save(self))
    }
}

impl SavedGame for sim::SavedGame {
    fn resume(&self) -> Box<dyn RoomGame> {
        Box::new(Game::restore(self.clone()))
    }

    fn encode(&self) -> Vec<u8> {
        // Plain data always encodes; a failure is a bug in the saved types.
        rmp_serde::to_vec_named(self)
            .unwrap_or_else(|e| panic!("a saved Curve game did not encode: {e}"))
    }
}

/// A stored match's input log, checked.
struct CurveLog {
    log: Arc<InputLog>,
    end_tick: u64,
}

impl Recording for CurveLog {
    fn start_tick(&self) -> u64 {
        self.log.start_tick
    }

    fn end_tick(&self) -> u64 {
        self.end_tick
    }

    fn play(&self) -> Box<dyn Playback> {
        Box::new(CurvePlayback {
            game: Game::from_log_start(&self.log),
            log: self.log.clone(),
            next_entry: 0,
        })
    }
}

/// A re-simulation: the game plus the next log entry to apply.
struct CurvePlayback {
    log: Arc<InputLog>,
    game: Game,
    next_entry: usize,
}

impl Playback for CurvePlayback {
    fn step(&mut self) -> Step {
        let entries = &self.log.entries;
        while self.next_entry < entries.len() && entries[self.next_entry].tick <= self.game.tick() {
            self.game.apply(&entries[self.next_entry].cmd);
            self.next_entry += 1;
        }
        step_out(self.game.step())
    }

    fn tick(&self) -> u64 {
        self.game.tick()
    }

    fn tick_hz(&self) -> u32 {
        self.game.config().tick_hz
    }

    fn client_config(&self) -> Map<String, Value> {
        curve_config(&self.game, ConfigFor::Replay)
    }

    fn snapshot(&self) -> Bytes {
        snapshot_bytes(&self.game)
    }

    fn state_hash(&self) -> u64 {
        self.game.state_hash()
    }

    fn checkpoint(&self) -> Box<dyn PlaybackCheckpoint> {
        Box::new(CurveCheckpoint {
            log: self.log.clone(),
            saved: self.game.save(),
            next_entry: self.next_entry,
        })
    }
}

struct CurveCheckpoint {
    log: Arc<InputLog>,
    saved: sim::SavedGame,
    next_entry: usize,
}

impl PlaybackCheckpoint for CurveCheckpoint {
    fn resume(&self) -> Box<dyn Playback> {
        Box::new(CurvePlayback {
            log: self.log.clone(),
            game: Game::restore(self.saved.clone()),
            next_entry: self.next_entry,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(field: &str) -> ChannelError {
        ChannelError::BadPayload {
            field: Some(field.into()),
        }
    }

    use crate::game::kit::{self, Action, Script};

    /// Two players, one match point: the first crash ends the match.
    fn short_match() -> (Curve, Script) {
        let curve = Curve {
            config: GameConfig {
                points_per_opponent: 1,
                ..GameConfig::default()
            },
        };
        let script = Script::ready(2, 4)
            .at(200, Action::Input(0, json!({"turn": 1, "seq": 1})))
            .at(260, Action::Input(0, json!({"turn": 0})))
            .at(230, Action::Input(1, json!({"turn": -1})))
            .at(400, Action::Disconnect(1))
            .at(430, Action::Reconnect(1));
        (curve, script)
    }

    #[test]
    fn the_kit_s_checks_hold_for_curve() {
        let (curve, script) = short_match();
        kit::assert_deterministic(&curve, 11, &script, 900);
        kit::assert_resumes(&curve, 11, &script, 900, 300);
        kit::assert_envelope(&curve, 11, &script, 900);
        let outcome = kit::assert_replays(&curve, 11, &script, 4_000);
        assert_eq!(outcome.standings.len(), 2);
    }

    #[test]
    fn an_input_is_a_turn_or_refused_naming_it() {
        let mut game = Curve {
            config: GameConfig::default(),
        }
        .create(1, 2);
        game.add_player("u1", "Ann").unwrap();
        let mut input = |payload: Value| game.input(Some(0), "u1", &payload, None);
        assert_eq!(input(json!({"turn": -1})), Ok(()));
        assert_eq!(input(json!({"turn": 1, "seq": 4, "extra": true})), Ok(()));
        assert_eq!(input(json!({"turn": 2})), Err(bad("turn")));
        assert_eq!(input(json!({"turn": "left"})), Err(bad("turn")));
        assert_eq!(input(json!({})), Err(bad("turn")));
    }

    #[test]
    fn a_listing_shows_countdown_only_before_a_match_starts() {
        assert_eq!(listed_phase(Phase::Waiting, 0), RoomPhase::Waiting);
        assert_eq!(listed_phase(Phase::Countdown, 1), RoomPhase::Countdown);
        assert_eq!(listed_phase(Phase::Playing, 1), RoomPhase::Playing);
        assert_eq!(listed_phase(Phase::RoundOver, 1), RoomPhase::Playing);
        assert_eq!(
            listed_phase(Phase::Countdown, 2),
            RoomPhase::Playing,
            "a later round's countdown is part of the match being played"
        );
        assert_eq!(listed_phase(Phase::Finished, 4), RoomPhase::Finished);
    }
}
