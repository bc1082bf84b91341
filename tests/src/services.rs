//! Real services the cluster tests run against: a private nats-server and a private
//! PostgreSQL (Debian's packages; `scripts/install-nats.sh` and
//! `scripts/install-postgres.sh` install them).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository")
        .to_path_buf()
}

/// `nats-server` on PATH or where Debian puts it.
pub fn nats_server_binary() -> PathBuf {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/usr/bin"])
    {
        let candidate = PathBuf::from(dir).join("nats-server");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("nats-server is missing: apt-get install nats-server (scripts/test.sh does)");
}

/// nats-server with JetStream on `port`, its store in a fresh directory. Killed on drop.
pub struct Nats {
    child: Child,
    pub url: String,
    _store: tempfile::TempDir,
}

impl Nats {
    pub fn start(port: u16) -> Nats {
        Nats::start_with(port, &[])
    }

    /// nats-server that lets in only `user` with `password` (a locked cluster's bus).
    pub fn start_locked(port: u16, user: &str, password: &str) -> Nats {
        Nats::start_with(port, &["--user", user, "--pass", password])
    }

    fn start_with(port: u16, extra: &[&str]) -> Nats {
        let store = tempfile::tempdir().expect("a store directory");
        let child = Command::new(nats_server_binary())
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store.path())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        Nats {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            _store: store,
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A private PostgreSQL server (`scripts/pg-test-server.sh`). Stopped on drop.
pub struct Postgres {
    dir: tempfile::TempDir,
    pub url: String,
}

impl Postgres {
    pub fn start() -> Postgres {
        let dir = tempfile::tempdir().expect("a data directory");
        let out = Command::new(repo().join("scripts/pg-test-server.sh"))
            .arg("start")
            .arg(dir.path())
            .arg(free_port().to_string())
            .output()
            .expect("scripts/pg-test-server.sh runs");
        assert!(
            out.status.success(),
            "PostgreSQL did not start (scripts/install-postgres.sh installs it): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Postgres { dir, url }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/pg-test-server.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}
