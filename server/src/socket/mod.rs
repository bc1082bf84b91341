//! A connected socket: one task per connection ([`connection`]) that reads frames,
//! routes them to channels and writes what actors queue in its bounded
//! [`crate::outbound::Outbox`] — no task per channel. The HTTP upgrade that starts it
//! is `http::websocket`.

pub mod connection;
pub mod longpoll;
pub mod session;
