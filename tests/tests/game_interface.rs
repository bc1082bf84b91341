//! The runtime knows games only through the game interface (`server/src/game/`): no
//! module outside `games/` and Curve's simulation (`sim/`) names a game's types — the
//! "done" of issue 22 made executable. `lib.rs` registers the games and is exempt.

use std::path::{Path, PathBuf};

/// How code reaches into a game.
const GAME_PATHS: &[&str] = &[
    "crate::sim",
    "sim::",
    "crate::games",
    "games::",
    "kurve_shared::game::",
    "kurve_shared::game;",
    "kurve_shared::game::{",
    "kurve_shared::bumper",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable source folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether `code` holds `path` as a path of its own (not the end of a longer name:
/// `Resim::new` is not `sim::`).
fn names(code: &str, path: &str) -> bool {
    code.match_indices(path).any(|(at, _)| {
        code[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

#[test]
fn nothing_below_the_game_interface_names_a_game() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut offences = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        let first = rel.components().next().expect("a component");
        let first = first.as_os_str().to_string_lossy();
        if ["games", "sim", "lib.rs", "main.rs"].contains(&first.as_ref()) {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("a readable file");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if GAME_PATHS.iter().any(|p| names(code, p)) {
                offences.push(format!("{}:{}: {}", rel.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "the runtime names a game:\n{}",
        offences.join("\n")
    );
    assert!(
        files.len() > 50,
        "expected to have read the server's sources"
    );
}

#[test]
fn a_path_is_told_from_the_end_of_a_longer_name() {
    assert!(names("use crate::sim::Game;", "crate::sim"));
    assert!(names("let g = sim::Game::new();", "sim::"));
    assert!(!names("let r = Resim::new(kind, log);", "sim::"));
}
