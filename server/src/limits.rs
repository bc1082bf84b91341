//! Budgets a client may spend (CONTRACT §8): what each limit is, the rate limiters and
//! counters that enforce them, and the refusal metric.
//!
//! Per-address budgets (failed logins, guest sign-ins, open sockets) are kept here, in
//! one [`Limits`] shared by every request. Per-socket budgets (channels, lobby joins and
//! room creations, wrong room passwords) live in the socket's own task, which asks
//! [`Limits::config`] for their sizes. `--limits off` lifts the per-address ones only.
//!
//! Every table keyed by something a client chooses is bounded: entries whose budget has
//! refilled are forgotten, and a table that is still full refuses new keys rather than
//! growing.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{LimitsConfig, LimitsMode};

/// Counter of refusals, labelled by `kind` (a fixed set, never client text).
pub const REFUSALS: &str = "kurve_limit_refusals_total";

/// Most keys one rate table holds. Past it, refilled entries are swept; if the table
/// is still full, new keys are refused (counted) rather than remembered.
const MAX_KEYS: usize = 65_536;

/// What was refused, as the `kind` label of [`REFUSALS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    FailedLoginsPerName,
    FailedLoginsPerNameAndAddress,
    FailedLoginsPerAddress,
    GuestSignIns,
    SocketsPerAddress,
    ChannelsPerSocket,
    LobbiesPerAddress,
    RoomsPerUser,
    JoinsPerSocket,
    WrongRoomPasswords,
    WrongRoomPasswordsPerAddress,
    ReplaysPerUser,
    ReplaysPerAddress,
    ReplayControls,
    ReplayViewers,
    ConnectionsPerAddress,
    RequestReadTimeout,
    RequestBodyTooLarge,
    PasswordHashQueue,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Refusal::FailedLoginsPerName => "failed_logins_per_name",
            Refusal::FailedLoginsPerNameAndAddress => "failed_logins_per_name_address",
            Refusal::FailedLoginsPerAddress => "failed_logins_per_address",
            Refusal::GuestSignIns => "guest_sign_ins_per_address",
            Refusal::SocketsPerAddress => "sockets_per_address",
            Refusal::ChannelsPerSocket => "channels_per_socket",
            Refusal::LobbiesPerAddress => "lobbies_per_address",
            Refusal::RoomsPerUser => "rooms_per_user",
            Refusal::JoinsPerSocket => "joins_per_socket",
            Refusal::WrongRoomPasswords => "wrong_room_passwords",
            Refusal::WrongRoomPasswordsPerAddress => "wrong_room_passwords_per_address",
            Refusal::ReplaysPerUser => "replays_per_user",
            Refusal::ReplaysPerAddress => "replays_per_address",
            Refusal::ReplayControls => "replay_controls",
            Refusal::ReplayViewers => "replay_viewers",
            Refusal::ConnectionsPerAddress => "connections_per_address",
            Refusal::RequestReadTimeout => "request_read_timeout",
            Refusal::RequestBodyTooLarge => "request_body_too_large",
            Refusal::PasswordHashQueue => "password_hash_queue",
        }
    }

    /// Counts one refusal of this kind.
    pub fn count(self) {
        metrics::counter!(REFUSALS, "kind" => self.label()).increment(1);
    }
}

/// A budget of `burst` events refilled evenly over `per` (a token bucket).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: u32,
    pub per: Duration,
}

impl Rate {
    pub fn per_minute(burst: u32) -> Self {
        Rate {
            burst,
            per: Duration::from_secs(60),
        }
    }

    pub fn per_second(burst: u32) -> Self {
        Rate {
            burst,
            per: Duration::from_secs(1),
        }
    }

    /// Seconds for one token to come back.
    fn refill_secs(self) -> f64 {
        self.per.as_secs_f64() / f64::from(self.burst.max(1))
    }
}

/// One key's bucket: tokens left as of `at`.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn full(rate: Rate, now: Instant) -> Self {
        Bucket {
            tokens: f64::from(rate.burst),
            at: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed / rate.refill_secs()).min(f64::from(rate.burst));
        self.at = now;
    }

    /// Takes one token; Err is how long until one is back.
    pub fn take(&mut self, rate: Rate, now: Instant) -> Result<(), Duration> {
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) * rate.refill_secs(),
            ))
        }
    }

    /// Gives one token back (the event it paid for turned out not to count).
    pub fn refund(&mut self, rate: Rate) {
        self.tokens = (self.tokens + 1.0).min(f64::from(rate.burst));
    }

    fn is_full(&self, rate: Rate, now: Instant) -> bool {
        let mut copy = *self;
        copy.refill(rate, now);
        copy.tokens >= f64::from(rate.burst)
    }
}

/// Token buckets by key, bounded to [`MAX_KEYS`].
#[derive(Debug)]
pub struct RateTable<K> {
    rate: Rate,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> RateTable<K> {
    pub fn new(rate: Rate) -> Self {
        RateTable {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Bucket>> {
        self.buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes one event from `key`'s budget; Err is when to retry.
    pub fn take(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let rate = self.rate;
        let mut buckets = self.lock();
        if !buckets.contains_key(key) && buckets.len() >= MAX_KEYS {
            buckets.retain(|_, bucket| !bucket.is_full(rate, now));
            if buckets.len() >= MAX_KEYS {
                return Err(rate.per);
            }
        }
        buckets
            .entry(key.clone())
            .or_insert_with(|| Bucket::full(rate, now))
            .take(rate, now)
    }

    /// Whether `key` has budget left, without spending it; Err is when to retry.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        match self.lock().get(key) {
            None => Ok(()),
            Some(bucket) => {
                let mut copy = *bucket;
                copy.take(self.rate, now)
            }
        }
    }

    /// Whether `key` has spent nothing lately (its bucket is full or forgotten).
    pub fn is_untouched(&self, key: &K) -> bool {
        let now = Instant::now();
        self.lock()
            .get(key)
            .is_none_or(|bucket| bucket.is_full(self.rate, now))
    }

    /// Gives back one event taken from `key`.
    pub fn refund(&self, key: &K) {
        if let Some(bucket) = self.lock().get_mut(key) {
            bucket.refund(self.rate);
        }
    }

    /// Keys remembered now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// The address budgets are kept by: an IPv4 address, or the /64 of an IPv6 one (one
/// host usually holds a whole /64).
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

/// How long a login for a name whose failure budget is spent waits before its password
/// is checked, when it comes from an address with no recent failures (those are never
/// refused). One second keeps the owner's sign-in usable while a guesser spread over
/// many addresses gets one guess per address per minute, each a second slower.
pub const LOGIN_SLOW_DOWN: Duration = Duration::from_secs(1);

/// A login that may go ahead once [`LoginAttempt::slow_down`] has passed; give its
/// budget back with [`Limits::refund_login`].
#[derive(Debug)]
pub struct LoginAttempt {
    name: String,
    address: IpAddr,
    /// Whether a token of the name's budget was taken (not when it was already spent and
    /// the address was let through as clean).
    took_name: bool,
    slow_down: Duration,
}

impl LoginAttempt {
    /// How long to wait before checking the password (zero unless the name is under
    /// attack).
    pub fn slow_down(&self) -> Duration {
        self.slow_down
    }
}

/// The server's per-address budgets. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Limits(Arc<LimitsInner>);

#[derive(Debug)]
struct LimitsInner {
    config: LimitsConfig,
    failed_logins_by_name: RateTable<String>,
    failed_logins_by_name_and_address: RateTable<(String, IpAddr)>,
    failed_logins_by_address: RateTable<IpAddr>,
    guests_by_address: RateTable<IpAddr>,
    /// Wrong passwords by (room id, user id): both chosen by the server, never by the
    /// client, so the table cannot be filled with made-up keys faster than rooms exist.
    wrong_room_passwords: RateTable<(String, String)>,
    wrong_room_passwords_by_address: RateTable<IpAddr>,
    sockets_by_address: Mutex<HashMap<IpAddr, u32>>,
    /// Open TCP connections by peer address (not the forwarded client: a connection is
    /// the peer's).
    connections_by_address: Mutex<HashMap<IpAddr, u32>>,
    replays: Mutex<ReplayCounts>,
}

/// Replay channels open at once on this node, whoever holds them: each is a playback
/// stepping a re-simulation at up to 4× the match's rate, about what a playing room
/// costs, so this is sized like the rooms the node can run (docs/PERF.md), not more.
pub const MAX_REPLAY_VIEWERS: u32 = 400;

/// Replay channels open now, by user and by address, and in all.
#[derive(Debug, Default)]
struct ReplayCounts {
    by_user: HashMap<Arc<str>, u32>,
    by_address: HashMap<IpAddr, u32>,
    total: u32,
}

/// Why a request was refused, and when it may be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub refusal: Refusal,
    pub retry_after: Duration,
}

impl Limits {
    pub fn new(config: LimitsConfig) -> Self {
        Limits(Arc::new(LimitsInner {
            failed_logins_by_name: RateTable::new(Rate::per_minute(
                config.max_failed_logins_per_name,
            )),
            failed_logins_by_name_and_address: RateTable::new(Rate::per_minute(
                config.max_failed_logins_per_name,
            )),
            failed_logins_by_address: RateTable::new(Rate::per_minute(
                config.max_failed_logins_per_address,
            )),
            guests_by_address: RateTable::new(Rate::per_minute(
                config.max_guest_sign_ins_per_address,
            )),
            wrong_room_passwords: RateTable::new(Rate::per_minute(config.max_wrong_room_passwords)),
            wrong_room_passwords_by_address: RateTable::new(Rate::per_minute(
                config.max_wrong_room_passwords,
            )),
            sockets_by_address: Mutex::new(HashMap::new()),
            connections_by_address: Mutex::new(HashMap::new()),
            replays: Mutex::default(),
            config,
        }))
    }

    pub fn config(&self) -> &LimitsConfig {
        &self.0.config
    }

    /// `address`, when the per-address budgets apply (None with `--limits off`).
    pub fn counted(&self, address: IpAddr) -> Option<IpAddr> {
        self.per_address().then(|| address_key(address))
    }

    fn per_address(&self) -> bool {
        self.0.config.limits == LimitsMode::On
    }

    /// Reserves one failed login for `name` (by its folded form) and `address` before
    /// any hashing. A login that succeeds gives it back.
    ///
    /// Three budgets (CONTRACT §8): the lock is per (name, address), so a guesser locks
    /// only itself out; the address's budget spans names; the name's budget spans
    /// addresses, and once it is spent an address with failures of its own is refused
    /// while an address with none is only slowed down ([`LOGIN_SLOW_DOWN`]) — so the
    /// owner's correct password from a clean address is never refused.
    pub fn login_attempt(&self, name: &str, address: IpAddr) -> Result<LoginAttempt, Limited> {
        let name = crate::auth::names::skeleton(name);
        let address = address_key(address);
        let pair = (name, address);
        let limited = |refusal: Refusal, retry_after| {
            refusal.count();
            Limited {
                refusal,
                retry_after,
            }
        };
        let inner = &self.0;
        inner
            .failed_logins_by_name_and_address
            .check(&pair)
            .map_err(|after| limited(Refusal::FailedLoginsPerNameAndAddress, after))?;
        if self.per_address() {
            inner
                .failed_logins_by_address
                .check(&address)
                .map_err(|after| limited(Refusal::FailedLoginsPerAddress, after))?;
        }
        let clean = inner.failed_logins_by_name_and_address.is_untouched(&pair)
            && (!self.per_address() || inner.failed_logins_by_address.is_untouched(&address));
        if let Err(after) = inner.failed_logins_by_name.check(&pair.0)
            && !clean
        {
            return Err(limited(Refusal::FailedLoginsPerName, after));
        }
        // Checked above; a race between two requests at most lets one more through.
        if let Err(after) = inner.failed_logins_by_name_and_address.take(&pair) {
            return Err(limited(Refusal::FailedLoginsPerNameAndAddress, after));
        }
        if self.per_address() && inner.failed_logins_by_address.take(&address).is_err() {
            inner.failed_logins_by_name_and_address.refund(&pair);
            return Err(limited(
                Refusal::FailedLoginsPerAddress,
                Duration::from_secs(1),
            ));
        }
        let took_name = inner.failed_logins_by_name.take(&pair.0).is_ok();
        let (name, address) = pair;
        Ok(LoginAttempt {
            name,
            address,
            took_name,
            slow_down: if took_name {
                Duration::ZERO
            } else {
                LOGIN_SLOW_DOWN
            },
        })
    }

    /// The login was right: it does not count as a failure.
    pub fn refund_login(&self, attempt: LoginAttempt) {
        if attempt.took_name {
            self.0.failed_logins_by_name.refund(&attempt.name);
        }
        let pair = (attempt.name, attempt.address);
        self.0.failed_logins_by_name_and_address.refund(&pair);
        if self.per_address() {
            self.0.failed_logins_by_address.refund(&pair.1);
        }
    }

    /// Spends one guest sign-in of `address`.
    pub fn guest_sign_in(&self, address: IpAddr) -> Result<(), Limited> {
        if !self.per_address() {
            return Ok(());
        }
        self.0
            .guests_by_address
            .take(&address_key(address))
            .map_err(|retry_after| {
                Refusal::GuestSignIns.count();
                Limited {
                    refusal: Refusal::GuestSignIns,
                    retry_after,
                }
            })
    }

    /// Whether `user` (at `address`) may try a password on `room` now: refused while its
    /// wrong-password budget for the room, or its address's over all rooms, is spent —
    /// before the password is looked at, so a right guess is not told apart from a wrong
    /// one. The budgets live here, not in the socket, so a fresh socket starts with what
    /// the last one left. Once spent, one more try comes back every 12 s (a minute over
    /// the budget): that is the back-off.
    pub fn room_password_try(
        &self,
        room: &str,
        user: &str,
        address: IpAddr,
    ) -> Result<(), Limited> {
        let limited = |refusal: Refusal, retry_after| {
            refusal.count();
            Limited {
                refusal,
                retry_after,
            }
        };
        self.0
            .wrong_room_passwords
            .check(&(room.to_owned(), user.to_owned()))
            .map_err(|after| limited(Refusal::WrongRoomPasswords, after))?;
        if self.per_address() {
            self.0
                .wrong_room_passwords_by_address
                .check(&address_key(address))
                .map_err(|after| limited(Refusal::WrongRoomPasswordsPerAddress, after))?;
        }
        Ok(())
    }

    /// Spends one wrong password of `user` on `room`, and of `address`.
    pub fn wrong_room_password(&self, room: &str, user: &str, address: IpAddr) {
        // A full table answers Err: the try already happened, so nothing to refuse.
        let _ = self
            .0
            .wrong_room_passwords
            .take(&(room.to_owned(), user.to_owned()));
        if self.per_address() {
            let _ = self
                .0
                .wrong_room_passwords_by_address
                .take(&address_key(address));
        }
    }

    /// Holds one TCP connection slot of peer `address` for as long as the returned guard
    /// lives. A trusted proxy's connections are every client's behind it: not capped.
    pub fn open_connection(&self, address: IpAddr) -> Result<SocketSlot, Refusal> {
        if !self.per_address() || self.0.config.trusted_proxies.contains(&address) {
            return Ok(SocketSlot { held: None });
        }
        let key = address_key(address);
        let table = &self.0.connections_by_address;
        let mut open = table.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(key).or_insert(0);
        if *count >= self.0.config.max_connections_per_address {
            Refusal::ConnectionsPerAddress.count();
            return Err(Refusal::ConnectionsPerAddress);
        }
        *count += 1;
        Ok(SocketSlot {
            held: Some((self.clone(), key, Table::Connections)),
        })
    }

    /// Holds one socket slot of `address` for as long as the returned guard lives.
    pub fn open_socket(&self, address: IpAddr) -> Result<SocketSlot, Refusal> {
        if !self.per_address() {
            return Ok(SocketSlot { held: None });
        }
        let key = address_key(address);
        let mut open = self.sockets();
        let count = open.entry(key).or_insert(0);
        if *count >= self.0.config.max_sockets_per_address {
            Refusal::SocketsPerAddress.count();
            return Err(Refusal::SocketsPerAddress);
        }
        *count += 1;
        Ok(SocketSlot {
            held: Some((self.clone(), key, Table::Sockets)),
        })
    }

    /// Holds one replay channel of `user` at `address` for as long as the returned guard
    /// lives (every viewer has its own playback, so each costs a re-simulation).
    pub fn open_replay(&self, user: &str, address: IpAddr) -> Result<ReplaySlot, Refusal> {
        let config = &self.0.config;
        let key = self.counted(address);
        let mut counts = self.replays();
        if counts.by_user.get(user).copied().unwrap_or(0) >= config.max_replays_per_user {
            Refusal::ReplaysPerUser.count();
            return Err(Refusal::ReplaysPerUser);
        }
        if let Some(key) = key
            && counts.by_address.get(&key).copied().unwrap_or(0) >= config.max_replays_per_address
        {
            Refusal::ReplaysPerAddress.count();
            return Err(Refusal::ReplaysPerAddress);
        }
        if counts.total >= MAX_REPLAY_VIEWERS {
            Refusal::ReplayViewers.count();
            return Err(Refusal::ReplayViewers);
        }
        counts.total += 1;
        let user: Arc<str> = Arc::from(user);
        *counts.by_user.entry(user.clone()).or_insert(0) += 1;
        if let Some(key) = key {
            *counts.by_address.entry(key).or_insert(0) += 1;
        }
        Ok(ReplaySlot {
            limits: self.clone(),
            user,
            address: key,
        })
    }

    fn replays(&self) -> MutexGuard<'_, ReplayCounts> {
        self.0
            .replays
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn sockets(&self) -> MutexGuard<'_, HashMap<IpAddr, u32>> {
        self.0
            .sockets_by_address
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One replay channel counted against its user and address; released when dropped.
#[derive(Debug)]
pub struct ReplaySlot {
    limits: Limits,
    user: Arc<str>,
    address: Option<IpAddr>,
}

impl Drop for ReplaySlot {
    fn drop(&mut self) {
        fn release<K: Hash + Eq>(map: &mut HashMap<K, u32>, key: &K) {
            if let Some(count) = map.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    map.remove(key);
                }
            }
        }
        let mut counts = self.limits.replays();
        counts.total = counts.total.saturating_sub(1);
        release(&mut counts.by_user, &self.user);
        if let Some(address) = &self.address {
            release(&mut counts.by_address, address);
        }
    }
}

/// Which count a [`SocketSlot`] holds a place in.
#[derive(Debug, Clone, Copy)]
enum Table {
    Sockets,
    Connections,
}

/// One open socket (or TCP connection) counted against its address; released when
/// dropped.
#[derive(Debug)]
pub struct SocketSlot {
    held: Option<(Limits, IpAddr, Table)>,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let Some((limits, key, table)) = self.held.take() else {
            return;
        };
        let mut open = match table {
            Table::Sockets => limits.sockets(),
            Table::Connections => limits
                .0
                .connections_by_address
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        };
        if let Some(count) = open.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(mode: LimitsMode) -> Limits {
        Limits::new(LimitsConfig {
            limits: mode,
            ..LimitsConfig::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_bucket_refills_evenly_and_says_when() {
        let rate = Rate::per_minute(5);
        let mut bucket = Bucket::full(rate, Instant::now());
        for _ in 0..5 {
            assert_eq!(bucket.take(rate, Instant::now()), Ok(()));
        }
        let wait = bucket
            .take(rate, Instant::now())
            .expect_err("expected the sixth in a minute to be refused");
        assert_eq!(wait, Duration::from_secs(12), "one token per 12 s");
        tokio::time::advance(Duration::from_secs(12)).await;
        assert_eq!(bucket.take(rate, Instant::now()), Ok(()), "one came back");
        assert!(bucket.take(rate, Instant::now()).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn failed_logins_lock_the_name_and_address_pair() {
        let limits = limits(LimitsMode::On);
        let guesser = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..5 {
            limits
                .login_attempt("Alice", guesser)
                .expect("expected five attempts from one address to go ahead");
        }
        let refused = limits
            .login_attempt("ALICE", guesser)
            .expect_err("expected the sixth from that address to be refused, whatever the case");
        assert_eq!(refused.refusal, Refusal::FailedLoginsPerNameAndAddress);
        assert!(refused.retry_after > Duration::ZERO);
        let owner = limits
            .login_attempt("alice", IpAddr::from([10, 0, 0, 9]))
            .expect("expected a clean address never to be refused for a locked name");
        assert_eq!(
            owner.slow_down(),
            LOGIN_SLOW_DOWN,
            "expected the name's spent budget to slow a clean address down"
        );
        limits.refund_login(owner);
        let bob = limits
            .login_attempt("bob", guesser)
            .expect("expected another name from the guesser's address to be unaffected");
        assert_eq!(bob.slow_down(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_name_refuses_addresses_with_failures_of_their_own() {
        let limits = limits(LimitsMode::On);
        let spread = [IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2])];
        for i in 0..5 {
            limits
                .login_attempt("alice", spread[i % 2])
                .expect("expected five failures on a name to go ahead");
        }
        let refused = limits
            .login_attempt("alice", spread[0])
            .expect_err("expected an address with recent failures to be refused");
        assert_eq!(refused.refusal, Refusal::FailedLoginsPerName);
        tokio::time::advance(Duration::from_secs(60)).await;
        let later = limits
            .login_attempt("alice", spread[0])
            .expect("expected the budgets to refill within a minute");
        assert_eq!(later.slow_down(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_successful_login_does_not_count() {
        let limits = limits(LimitsMode::On);
        let address = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..50 {
            let attempt = limits.login_attempt("alice", address).expect("allowed");
            limits.refund_login(attempt);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn failed_logins_per_address_and_limits_off() {
        let on = limits(LimitsMode::On);
        let off = limits(LimitsMode::Off);
        let address = IpAddr::from([10, 0, 0, 1]);
        for i in 0..20 {
            on.login_attempt(&format!("user{i}"), address)
                .expect("expected 20 failures per address per minute");
            off.login_attempt(&format!("user{i}"), address)
                .expect("allowed");
        }
        let refused = on
            .login_attempt("user99", address)
            .expect_err("expected the 21st from one address to be refused");
        assert_eq!(refused.refusal, Refusal::FailedLoginsPerAddress);
        off.login_attempt("user99", address)
            .expect("expected --limits off to lift the per-address budget");
    }

    #[tokio::test(start_paused = true)]
    async fn wrong_room_passwords_are_counted_per_room_user_and_per_address() {
        let limits = limits(LimitsMode::On);
        let home = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..5 {
            limits
                .room_password_try("r1", "u1", home)
                .expect("expected five tries a minute");
            limits.wrong_room_password("r1", "u1", home);
        }
        let refused = limits
            .room_password_try("r1", "u1", IpAddr::from([10, 0, 0, 2]))
            .expect_err("expected the user's budget on the room to hold from any address");
        assert_eq!(refused.refusal, Refusal::WrongRoomPasswords);
        let refused = limits
            .room_password_try("r2", "u2", home)
            .expect_err("expected the address's budget to hold for any user and room");
        assert_eq!(refused.refusal, Refusal::WrongRoomPasswordsPerAddress);
        limits
            .room_password_try("r2", "u1", IpAddr::from([10, 0, 0, 2]))
            .expect("expected another room from another address to be open");
        tokio::time::advance(Duration::from_secs(12)).await;
        limits
            .room_password_try("r1", "u1", home)
            .expect("expected one more try after 12 s (the back-off)");
    }

    #[test]
    fn replay_channels_per_user_and_per_address_are_released_when_dropped() {
        let limits = limits(LimitsMode::On);
        let home = IpAddr::from([10, 0, 0, 1]);
        let mut held: Vec<ReplaySlot> = (0..3)
            .map(|_| limits.open_replay("u1", home).expect("three per user"))
            .collect();
        assert_eq!(
            limits.open_replay("u1", IpAddr::from([10, 0, 0, 2])).err(),
            Some(Refusal::ReplaysPerUser)
        );
        for i in 0..7 {
            held.push(
                limits
                    .open_replay(&format!("other{i}"), home)
                    .expect("ten per address"),
            );
        }
        assert_eq!(
            limits.open_replay("u2", home).err(),
            Some(Refusal::ReplaysPerAddress)
        );
        held.remove(0);
        limits
            .open_replay("u1", IpAddr::from([10, 0, 0, 2]))
            .expect("a released slot comes back");
    }

    #[test]
    fn sockets_per_address_are_released_when_dropped() {
        let limits = Limits::new(LimitsConfig {
            max_sockets_per_address: 2,
            ..LimitsConfig::default()
        });
        let address = IpAddr::from([10, 0, 0, 1]);
        let a = limits.open_socket(address).expect("first");
        let _b = limits.open_socket(address).expect("second");
        assert_eq!(
            limits.open_socket(address).err(),
            Some(Refusal::SocketsPerAddress)
        );
        limits
            .open_socket(IpAddr::from([10, 0, 0, 2]))
            .expect("another address has its own budget");
        drop(a);
        limits.open_socket(address).expect("a slot came back");
    }

    #[test]
    fn connections_per_address_are_capped_except_for_trusted_proxies() {
        let proxy = IpAddr::from([10, 0, 0, 9]);
        let limits = Limits::new(LimitsConfig {
            max_connections_per_address: 2,
            trusted_proxies: vec![proxy],
            ..LimitsConfig::default()
        });
        let address = IpAddr::from([10, 0, 0, 1]);
        let a = limits.open_connection(address).expect("first");
        let _b = limits.open_connection(address).expect("second");
        assert_eq!(
            limits.open_connection(address).err(),
            Some(Refusal::ConnectionsPerAddress)
        );
        let _sockets = limits
            .open_socket(address)
            .expect("expected sockets to be counted apart from connections");
        let _proxied: Vec<_> = (0..5)
            .map(|_| {
                limits
                    .open_connection(proxy)
                    .expect("a proxy is not capped")
            })
            .collect();
        drop(a);
        limits.open_connection(address).expect("a slot came back");
    }

    #[test]
    fn ipv6_addresses_share_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ipv6");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("ipv6");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ipv6");
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("mapped");
        assert_eq!(address_key(mapped), IpAddr::from([10, 0, 0, 1]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_table_sweeps_refilled_keys_and_stays_bounded() {
        let table = RateTable::new(Rate::per_second(1));
        for i in 0..MAX_KEYS as u32 {
            table.take(&i).expect("a fresh key has budget");
        }
        assert!(
            table.take(&u32::MAX).is_err(),
            "a full table of spent keys refuses a new one"
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        table
            .take(&u32::MAX)
            .expect("refilled keys were swept to make room");
        assert_eq!(table.len(), 1);
    }
}
