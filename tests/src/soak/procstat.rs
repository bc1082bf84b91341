//! The server's memory and CPU from `/proc`, when it runs on this machine.

use std::net::SocketAddr;
use std::path::Path;

/// Clock ticks per second of `/proc/PID/stat` times (USER_HZ, 100 on Linux).
const CLK_TCK: f64 = 100.0;

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcSample {
    /// Resident set size, KiB (`VmRSS`).
    pub rss_kb: u64,
    /// User + system CPU time, seconds.
    pub cpu_s: f64,
}

/// Reads `/proc/PID/status` and `/proc/PID/stat`; `None` if the process is gone.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(ProcSample {
        rss_kb,
        cpu_s: stat_cpu_s(&stat)?,
    })
}

/// This process's user + system CPU time, seconds (`/proc/self/stat`).
pub fn own_cpu_s() -> Option<f64> {
    stat_cpu_s(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// User + system CPU time, seconds, from a `/proc/.../stat` line.
fn stat_cpu_s(stat: &str) -> Option<f64> {
    // Fields after the command (which may contain spaces) start after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLK_TCK)
}

/// Where a thread's CPU time was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CpuSource {
    /// `/proc/thread-self/schedstat`: time on the CPU, ns.
    Schedstat,
    /// `/proc/thread-self/stat`: utime + stime, in clock ticks (10 ms).
    Stat,
}

impl CpuSource {
    /// The source's name, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            CpuSource::Schedstat => "schedstat",
            CpuSource::Stat => "stat",
        }
    }
}

/// A reading of the calling thread's CPU time, from both `/proc/thread-self` files.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThreadCpu {
    schedstat_ns: Option<u64>,
    stat_s: Option<f64>,
}

impl ThreadCpu {
    /// Reads the calling thread's CPU time.
    pub fn now() -> Self {
        let schedstat_ns = std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok());
        let stat_s = std::fs::read_to_string("/proc/thread-self/stat")
            .ok()
            .and_then(|s| stat_cpu_s(&s));
        ThreadCpu {
            schedstat_ns,
            stat_s,
        }
    }

    /// CPU time from `earlier` to this reading, seconds, and where it came from:
    /// `schedstat` (ns) when it moved (it is 0 where schedstats are off), else `stat`.
    pub fn since(&self, earlier: &ThreadCpu) -> Option<(f64, CpuSource)> {
        if let (Some(from), Some(to)) = (earlier.schedstat_ns, self.schedstat_ns)
            && to > from
        {
            return Some(((to - from) as f64 / 1e9, CpuSource::Schedstat));
        }
        let (from, to) = (earlier.stat_s?, self.stat_s?);
        Some(((to - from).max(0.0), CpuSource::Stat))
    }
}

/// The process listening on `addr` (a TCP socket in state LISTEN on this machine), found
/// through `/proc/net/tcp{,6}` and the `/proc/PID/fd` links. `None` if not found (another
/// user's process, a container, or a remote server).
pub fn find_listener(addr: SocketAddr) -> Option<u32> {
    let port = addr.port();
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (cols.get(1), cols.get(3), cols.get(9))
            else {
                continue;
            };
            let listening = *state == "0A";
            let port_matches = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                == Some(port);
            if listening && port_matches {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let procs = std::fs::read_dir("/proc").ok()?;
    // Bounded: one pass over the process table and each process's descriptors.
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if owns_socket(&entry.path(), &inodes) {
            return Some(pid);
        }
    }
    None
}

fn owns_socket(proc_dir: &Path, inodes: &[String]) -> bool {
    let Ok(fds) = std::fs::read_dir(proc_dir.join("fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .ok()
            .and_then(|target| target.to_str().map(|t| inodes.iter().any(|i| i == t)))
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_finds_its_listener() {
        let me = std::process::id();
        let s = sample(me).expect("our own /proc entry");
        assert!(s.rss_kb > 0);
        let start = ThreadCpu::now();
        let mut x = 1u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        let (cpu, _) = ThreadCpu::now()
            .since(&start)
            .expect("our own thread's /proc entry");
        assert!(cpu >= 0.0 && x != 0);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert_eq!(find_listener(addr), Some(me));
    }
}
