//! Room wire types and the client-side arena.
//!
//! - [`wire`]: the binary `snapshot` / `tick` (MessagePack, named fields) and the JSON
//!   lifecycle events of a `room:<id>` topic, with [`encode_snapshot`], [`decode_snapshot`],
//!   [`encode_tick`], [`decode_tick`].
//! - [`arena`]: [`Arena`], which applies every [`Tick`] to a [`Snapshot`] and so draws
//!   exactly what the server simulated; bots steer with [`Arena::is_free`].
//! - [`geom`] and [`grid`]: exact integer capsule geometry and the spatial grid, shared by
//!   the server's collision step and the arena, so both agree bit for bit.
//!
//! **Invariant:** nothing here simulates; the server's `sim` module is the only author of
//! game state, and these types are only what crosses the wire.

pub mod arena;
pub mod geom;
pub mod grid;
pub mod wire;

pub use arena::{Arena, ArenaError, ArenaPlayer, Trail};
pub use geom::Pt;
pub use wire::*;
