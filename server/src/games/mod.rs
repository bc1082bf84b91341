//! The games this server hosts, each behind the game interface ([`crate::game`]).
//! Nothing outside this folder names a game's types except `lib.rs`, which registers
//! them, and tests.

pub mod bumper;
pub mod curve;

use std::sync::Arc;

use crate::game::Games;
use crate::sim::GameConfig;

/// Every game, Curve (the default) first, with their rules from the command line.
pub fn all(curve: GameConfig, bumper: bumper::BumperConfig) -> Games {
    Games::new(vec![
        Arc::new(curve::Curve { config: curve }),
        Arc::new(bumper::Bumper { config: bumper }),
    ])
}
