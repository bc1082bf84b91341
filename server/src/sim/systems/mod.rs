//! The simulation's systems, grouped by feature, and the order they run in.
//!
//! Every system is a plain verb-named function over resources and components; none does
//! I/O. Each iterates players through [`Seats`](super::components::Seats) in seat order.

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::ExecutorKind;

pub mod collision;
pub mod items;
pub mod motion;
pub mod round;

/// The stages of one tick, in order (chained).
///
/// Heads move before anything else happens, so a client applies a tick's head updates
/// first and its events after; every event is produced after `Move`.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimSet {
    /// Advance the clock.
    Clock,
    /// Apply inputs to headings (countdown: rotate in place).
    Steer,
    /// Move heads and lay trail segments.
    Move,
    /// Find walls, head-ons and trail hits; expire disconnected seats.
    Collide,
    /// Apply this tick's deaths together, score, remove leavers.
    Resolve,
    /// Start and end gaps.
    Gaps,
    /// Pick up items (starting effects), spawn new ones.
    Items,
    /// Expire effects and recompute each head's speed, radius, controls.
    Effects,
    /// Decide the round (≤ 1 alive).
    Round,
    /// Phase timers and the ready flow: start matches and rounds, finish matches.
    Phase,
    /// Write head updates to the outbox.
    Emit,
}

/// The tick schedule, single-threaded (determinism does not depend on it, but a room is
/// one task and gains nothing from threads).
pub fn build_schedule() -> Schedule {
    let mut s = Schedule::default();
    s.set_executor_kind(ExecutorKind::SingleThreaded);
    s.configure_sets(
        (
            SimSet::Clock,
            SimSet::Steer,
            SimSet::Move,
            SimSet::Collide,
            SimSet::Resolve,
            SimSet::Gaps,
            SimSet::Items,
            SimSet::Effects,
            SimSet::Round,
            SimSet::Phase,
            SimSet::Emit,
        )
            .chain(),
    );
    s.add_systems((
        advance_clock.in_set(SimSet::Clock),
        motion::steer_heads.in_set(SimSet::Steer),
        motion::move_heads.in_set(SimSet::Move),
        (collision::expire_disconnects, collision::detect_collisions)
            .chain()
            .in_set(SimSet::Collide),
        collision::resolve_deaths.in_set(SimSet::Resolve),
        motion::advance_gaps.in_set(SimSet::Gaps),
        (items::pick_up_items, items::spawn_items)
            .chain()
            .in_set(SimSet::Items),
        items::update_effects.in_set(SimSet::Effects),
        round::end_round.in_set(SimSet::Round),
        round::advance_phase.in_set(SimSet::Phase),
        motion::emit_heads.in_set(SimSet::Emit),
    ));
    s
}

/// Starts a tick: every event of this run is stamped with the new tick number.
pub fn advance_clock(mut clock: ResMut<super::components::Clock>) {
    clock.tick += 1;
}
