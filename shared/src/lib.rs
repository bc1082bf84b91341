//! kurve-shared: the types that cross the wire.
//!
//! - [`phoenix`]: the Phoenix Channels frame codec (V1 JSON, V2 JSON, V2 binary).
//! - [`game`]: the MessagePack `snapshot` / `tick` types of a room, and the client-side
//!   arena that applies every `tick` to a `snapshot` (used by bots, tests and docs).
//! - [`bumper`]: Bumper's `tick` / `snapshot` and its client-side [`bumper::Board`].
//! - [`envelope`]: what every game's frames share (the tick number), for tools that
//!   know no game.
//! - [`lobby`], [`room`]: the JSON payloads of lobby and room topics.
//!
//! No tokio, axum or bevy here: this crate is pure data and codecs.

pub mod bumper;
pub mod envelope;
pub mod game;
pub mod lobby;
pub mod phoenix;
pub mod room;
