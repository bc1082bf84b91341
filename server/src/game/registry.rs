//! The games this server hosts, by id.

use std::sync::Arc;

use kurve_shared::room::{DEFAULT_GAME, GameInfo};

use super::GameKind;

/// Every game this server hosts, in the order `GET /api/games` lists them (the default
/// game first). Cheap to clone.
#[derive(Clone)]
pub struct Games {
    kinds: Arc<[Arc<dyn GameKind>]>,
}

impl Games {
    /// `kinds` must hold the default game ([`DEFAULT_GAME`]) and no id twice.
    pub fn new(kinds: Vec<Arc<dyn GameKind>>) -> Games {
        let ids: Vec<String> = kinds.iter().map(|k| k.info().id).collect();
        assert!(
            ids.iter().any(|id| id == DEFAULT_GAME),
            "the games must include {DEFAULT_GAME}"
        );
        for (i, id) in ids.iter().enumerate() {
            assert!(!ids[..i].contains(id), "game {id} registered twice");
        }
        Games {
            kinds: kinds.into(),
        }
    }

    /// The game called `id`.
    pub fn get(&self, id: &str) -> Option<&Arc<dyn GameKind>> {
        self.kinds.iter().find(|k| k.info().id == id)
    }

    /// The game rooms play when none is named.
    pub fn default_kind(&self) -> &Arc<dyn GameKind> {
        self.get(DEFAULT_GAME)
            .expect("Games::new checked the default game is there")
    }

    /// What `GET /api/games` lists.
    pub fn list(&self) -> Vec<GameInfo> {
        self.kinds.iter().map(|k| k.info()).collect()
    }
}
