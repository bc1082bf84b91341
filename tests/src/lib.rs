//! kurve test helpers.
