//! The simulation's systems, grouped by feature, and the order they run in.
//!
//! Every system is a plain verb-named function over resources and components; none does
//! I/O. Each iterates players through [`Seats`](super::components::Seats) in seat order.
//! [`TickSystems`] runs them in order.

use bevy_ecs::prelude::*;

pub mod collision;
pub mod items;
pub mod motion;
pub mod round;

/// The systems of one tick, run one after another in this order:
///
/// 1. advance the clock;
/// 2. apply inputs to headings (countdown: rotate in place);
/// 3. move heads and lay trail segments;
/// 4. expire disconnected seats, then find walls, head-ons and trail hits;
/// 5. apply this tick's deaths together, score, remove leavers;
/// 6. start and end gaps;
/// 7. pick up items (starting effects), then spawn new ones;
/// 8. expire effects and recompute each head's speed, radius, controls;
/// 9. decide the round (≤ 1 alive);
/// 10. phase timers and the ready flow: start matches and rounds, finish matches;
/// 11. write head updates to the outbox.
///
/// Heads move before anything else happens, so a client applies a tick's head updates
/// first and its events after; every event is produced after the move.
///
/// They are run directly rather than through a bevy `Schedule`: the order is a fixed
/// chain, a room is one task, and the executor's bookkeeping (set conditions, the
/// dependency graph, per-run checks) was about half the fixed cost of a cold step. Deferred
/// commands are applied right after the system that queued them.
pub struct TickSystems {
    systems: Vec<Box<dyn System<In = (), Out = ()>>>,
}

impl TickSystems {
    /// The tick's systems, initialized for `world`.
    pub fn new(world: &mut World) -> Self {
        fn boxed<M>(system: impl IntoSystem<(), (), M>) -> Box<dyn System<In = (), Out = ()>> {
            Box::new(IntoSystem::into_system(system))
        }
        let mut systems = vec![
            boxed(advance_clock),
            boxed(motion::steer_heads),
            boxed(motion::move_heads),
            boxed(collision::expire_disconnects),
            boxed(collision::detect_collisions),
            boxed(collision::resolve_deaths),
            boxed(motion::advance_gaps),
            boxed(items::pick_up_items),
            boxed(items::spawn_items),
            boxed(items::update_effects),
            boxed(round::end_round),
            boxed(round::advance_phase),
            boxed(motion::emit_heads),
        ];
        for system in &mut systems {
            system.initialize(world);
        }
        TickSystems { systems }
    }

    /// Runs one tick.
    pub fn run(&mut self, world: &mut World) {
        for system in &mut self.systems {
            system.run((), world);
        }
        // Keeps change ticks from wrapping (cheap: it acts once in many runs).
        world.check_change_ticks();
    }
}

/// Starts a tick: every event of this run is stamped with the new tick number.
pub fn advance_clock(mut clock: ResMut<super::components::Clock>) {
    clock.tick += 1;
}
