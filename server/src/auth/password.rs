//! Password hashing with argon2id (the crate's default parameters).
//!
//! Hashing takes tens of milliseconds of CPU and 19 MiB of memory on purpose, so it
//! runs on a few dedicated threads, one per core ([`HASHERS`]), never on a runtime
//! worker, and waits in a bounded queue ([`HASH_QUEUE`]): a burst of logins costs at
//! most one hash per core at a time, and past the queue's bound is refused
//! ([`PasswordError::Busy`]) rather than piled up. Memory is therefore bounded by the
//! number of hashing threads, whatever the burst, and given back when the burst is over.
//!
//! **Invariant:** only PHC strings (`$argon2id$v=19$m=…`) leave this module; the
//! password itself is never stored or logged.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use std::cell::RefCell;

use argon2::password_hash::{self, Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;

/// The fewest characters a new password may have.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// The most characters a password may have: argon2 accepts far more, but an
/// unbounded input is a free way to make the server hash megabytes.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Password hashes waiting for a hashing thread before more are refused: at tens of
/// milliseconds each, about a second of work per core.
pub const HASH_QUEUE: usize = 64;

/// Hashing threads: one per core (at least one).
pub fn hashers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Hashing or verification could not run (never "wrong password": that is `Ok(false)`).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The hashing queue is full: too many sign-ins at once; try again shortly.
    #[error("password hashing is busy")]
    Busy,
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password task failed: {0}")]
    TaskFailed(String),
}

/// Why a new password is refused, in words for the user.
pub fn check_strength(password: &str) -> Result<(), &'static str> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err("password must be at least 8 characters");
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err("password must be at most 256 characters");
    }
    Ok(())
}

/// An argon2id PHC string for `password`, with a fresh random salt.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    run_blocking(move || hash_blocking(&password)).await?
}

/// Whether `password` matches the PHC string `phc`.
pub async fn verify(password: String, phc: String) -> Result<bool, PasswordError> {
    run_blocking(move || verify_blocking(&password, &phc)).await?
}

/// Spends as long as a real verification, for logins naming no account, so the
/// response time does not reveal which names are registered.
pub async fn verify_dummy(password: String) -> Result<(), PasswordError> {
    run_blocking(move || {
        static DUMMY: OnceLock<String> = OnceLock::new();
        let phc = match DUMMY.get() {
            Some(phc) => phc,
            None => {
                let phc = hash_blocking("kurve dummy password")?;
                DUMMY.get_or_init(|| phc)
            }
        };
        verify_blocking(&password, phc).map(drop)
    })
    .await?
}

/// The most argon2 memory a stored hash may ask for (64 MiB); ours use 19 MiB.
const MAX_HASH_BLOCKS: usize = 64 * 1024;

thread_local! {
    /// This thread's argon2 working memory, allocated on its first hash and reused by
    /// every later one until the thread has been idle for [`KEEP_MEMORY_WHILE_IDLE`]:
    /// the allocator is never asked for 19 MiB per login, and a quiet server keeps none.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs argon2 with this thread's reusable memory.
fn argon2_into(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), PasswordError> {
    let blocks = argon.params().block_count();
    if blocks > MAX_HASH_BLOCKS {
        return Err(PasswordError::Hash(format!(
            "hash asks for {blocks} KiB of memory"
        )));
    }
    BLOCKS.with(|cell| {
        let mut memory = cell.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon
            .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
            .map_err(|e| PasswordError::Hash(e.to_string()))
    })
}

fn hash_blocking(password: &str) -> Result<String, PasswordError> {
    let fail = |e: password_hash::Error| PasswordError::Hash(e.to_string());
    let mut salt = [0_u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(fail)?;
    let argon = Argon2::default();
    let mut out = [0_u8; Params::DEFAULT_OUTPUT_LEN];
    let mut salt_bytes = [0_u8; 64];
    let raw_salt = salt.decode_b64(&mut salt_bytes).map_err(fail)?;
    argon2_into(&argon, password.as_bytes(), raw_salt, &mut out)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon.params()).map_err(fail)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(fail)?),
    };
    Ok(phc.to_string())
}

fn verify_blocking(password: &str, phc: &str) -> Result<bool, PasswordError> {
    let fail = |e: password_hash::Error| PasswordError::Hash(e.to_string());
    let parsed = PasswordHash::new(phc).map_err(fail)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(PasswordError::Hash(
            "stored hash lacks a salt or output".into(),
        ));
    };
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(fail)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| PasswordError::Hash(e.to_string()))?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(fail)?;
    let argon = Argon2::new(algorithm, version, params);
    let mut salt_bytes = [0_u8; 64];
    let raw_salt = salt.decode_b64(&mut salt_bytes).map_err(fail)?;
    let mut out = vec![0_u8; expected.len()];
    argon2_into(&argon, password.as_bytes(), raw_salt, &mut out)?;
    // `Output`'s equality does not stop at the first difference.
    Ok(Output::new(&out).map_err(fail)? == expected)
}

type Job = Box<dyn FnOnce() + Send>;

/// How long a hashing thread keeps its working memory after its last job: a burst of
/// logins reuses it, and a quiet server gives the 19 MiB per thread back.
const KEEP_MEMORY_WHILE_IDLE: Duration = Duration::from_secs(2);

/// The jobs waiting for a hashing thread, at most [`HASH_QUEUE`]. Workers wait on the
/// condition variable without holding the lock, so each notices its own idleness.
struct HashQueue {
    jobs: Mutex<VecDeque<Job>>,
    ready: Condvar,
}

impl HashQueue {
    /// Queues `job`, or hands it back when the queue is full.
    fn try_push(&self, job: Job) -> Result<(), Job> {
        let mut jobs = self
            .jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if jobs.len() >= HASH_QUEUE {
            return Err(job);
        }
        jobs.push_back(job);
        drop(jobs);
        self.ready.notify_one();
        Ok(())
    }

    /// The next job; frees this thread's argon2 memory once it has waited
    /// [`KEEP_MEMORY_WHILE_IDLE`] for one.
    fn pop(&self) -> Job {
        let mut jobs = self
            .jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut holding_memory = true;
        loop {
            if let Some(job) = jobs.pop_front() {
                return job;
            }
            if holding_memory {
                let (guard, waited) = self
                    .ready
                    .wait_timeout(jobs, KEEP_MEMORY_WHILE_IDLE)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                jobs = guard;
                if waited.timed_out() && jobs.is_empty() {
                    drop(jobs);
                    release_memory();
                    holding_memory = false;
                    jobs = self
                        .jobs
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
            } else {
                jobs = self
                    .ready
                    .wait(jobs)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
        }
    }
}

/// Frees this thread's argon2 working memory (the next hash allocates it again).
fn release_memory() {
    BLOCKS.with(|cell| *cell.borrow_mut() = Vec::new());
}

/// The hashing threads' queue, started on first use.
fn queue() -> &'static HashQueue {
    static QUEUE: OnceLock<Arc<HashQueue>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let queue = Arc::new(HashQueue {
            jobs: Mutex::new(VecDeque::with_capacity(HASH_QUEUE)),
            ready: Condvar::new(),
        });
        for i in 0..hashers() {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("kurve-hash-{i}"))
                .spawn(move || hash_worker(&queue));
            if let Err(error) = spawned {
                tracing::error!(%error, "could not start a password hashing thread");
            }
        }
        queue
    })
}

fn hash_worker(queue: &HashQueue) {
    loop {
        let job = queue.pop();
        // A panicking hash must not take the thread with it: its caller sees the
        // dropped result as a failed task.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// Runs `f` on a hashing thread, or refuses at once when the queue is full.
async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PasswordError> {
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(f());
    });
    if queue().try_push(job).is_err() {
        return Err(PasswordError::Busy);
    }
    result
        .await
        .map_err(|e| PasswordError::TaskFailed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_refuses_past_its_bound_and_hands_jobs_out_in_order() {
        let queue = HashQueue {
            jobs: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
        };
        let order = Arc::new(Mutex::new(Vec::new()));
        for i in 0..HASH_QUEUE {
            let order = order.clone();
            let job: Job = Box::new(move || order.lock().unwrap().push(i));
            assert!(queue.try_push(job).is_ok(), "job {i} fits");
        }
        assert!(
            queue.try_push(Box::new(|| ())).is_err(),
            "one past the bound"
        );
        for _ in 0..HASH_QUEUE {
            queue.pop()();
        }
        assert_eq!(*order.lock().unwrap(), (0..HASH_QUEUE).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn hash_is_a_phc_string_not_the_password() {
        let phc = hash("correct horse".into()).await.expect("expected a hash");
        assert!(
            phc.starts_with("$argon2id$"),
            "expected an argon2id PHC string, got {phc}"
        );
        assert!(
            !phc.contains("correct horse"),
            "expected the hash not to contain the password"
        );
        assert!(
            verify("correct horse".into(), phc.clone())
                .await
                .expect("verify ran"),
            "expected the right password to verify"
        );
        assert!(
            !verify("wrong horse!".into(), phc)
                .await
                .expect("verify ran"),
            "expected a wrong password not to verify"
        );
    }

    #[tokio::test]
    async fn salts_differ() {
        let a = hash("same password".into()).await.expect("hash a");
        let b = hash("same password".into()).await.expect("hash b");
        assert_ne!(
            a, b,
            "expected two hashes of one password to differ by salt"
        );
    }

    #[tokio::test]
    async fn dummy_verification_runs() {
        verify_dummy("anything at all".into())
            .await
            .expect("expected the dummy verification to run without error");
    }

    #[tokio::test]
    async fn corrupt_hash_is_an_error_not_a_mismatch() {
        assert!(
            verify("whatever1".into(), "not a phc string".into())
                .await
                .is_err(),
            "expected an unparsable stored hash to be an error"
        );
    }

    #[test]
    fn hashes_agree_with_the_argon2_crates_own_phc_functions() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let ours = hash_blocking("open sesame").expect("hash");
        let parsed = PasswordHash::new(&ours).expect("a PHC string");
        Argon2::default()
            .verify_password(b"open sesame", &parsed)
            .expect("the crate verifies our hash");
        let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
        let theirs = Argon2::default()
            .hash_password(b"open sesame", &salt)
            .expect("crate hash")
            .to_string();
        assert!(verify_blocking("open sesame", &theirs).expect("verify ran"));
        assert!(!verify_blocking("open sesamE", &theirs).expect("verify ran"));
    }

    #[test]
    fn strength_rules() {
        assert!(
            check_strength("1234567").is_err(),
            "expected 7 chars to be weak"
        );
        assert!(
            check_strength("12345678").is_ok(),
            "expected 8 chars to be enough"
        );
        assert!(
            check_strength("éééééééé").is_ok(),
            "expected 8 non-ASCII chars (16 bytes) to count as 8"
        );
        assert!(
            check_strength(&"x".repeat(257)).is_err(),
            "expected 257 chars to be refused"
        );
    }
}
