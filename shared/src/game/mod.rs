//! Room wire types (snapshot, tick) and the client-side arena. Filled in by the rooms work.
