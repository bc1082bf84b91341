//! The Curve game simulation in bevy_ecs.
