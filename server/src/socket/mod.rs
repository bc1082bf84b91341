//! A connected socket: one task per connection ([`connection`]) that reads frames,
//! routes them to channels and writes what actors queue in its bounded
//! [`crate::outbound::Outbox`] — no task per channel. The HTTP upgrade that starts it
//! is `http::websocket`.
//!
//! Routing is socket-side: [`route`] says which actor a topic names (starting it if
//! need be), [`channels`] keeps the channels a socket has joined, and [`session`]
//! matches client frames against them with Phoenix's join_ref rules.

pub mod channels;
pub mod connection;
pub mod longpoll;
pub mod route;
pub mod session;
