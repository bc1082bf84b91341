//! The games this server hosts, each behind the game interface ([`crate::game`]).
//! Nothing outside this folder names a game's types except `lib.rs`, which registers
//! them, and tests.

pub mod curve;

use std::sync::Arc;

use crate::game::Games;
use crate::sim::GameConfig;

/// Every game, with Curve's rules from the command line.
pub fn all(curve: GameConfig) -> Games {
    Games::new(vec![Arc::new(curve::Curve { config: curve })])
}
