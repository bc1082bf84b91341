//! One direction of a connection as a timing rule: given when a chunk left the sender
//! and how long it is, when it reaches the receiver. A pure type, tested with plain
//! instants and no sleeping, like the server's `room/clock.rs`.

use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::profile::OneWay;
use super::{STALL_MAX, STALL_MIN};

/// When each chunk of one direction is delivered.
///
/// **Invariant:** delivery times never decrease, whatever the jitter, as TCP delivers
/// bytes in order: a chunk held back (by jitter, a stall or the link being busy) holds
/// every chunk behind it.
#[derive(Debug, Clone)]
pub struct Link {
    params: OneWay,
    /// Draws jitter and stalls; seeded, so a run is reproducible.
    rng: ChaCha8Rng,
    /// When the previous chunk was delivered; no chunk is delivered before it.
    last_delivery: Instant,
    /// When the link finishes sending what it was given so far (bandwidth).
    busy_until: Instant,
    /// The current or next stall, `[start, end)`: a chunk due in it waits for its end,
    /// as data behind a lost segment waits for the retransmission. `None` without stalls.
    stall: Option<(Instant, Instant)>,
}

impl Link {
    /// A direction opened at `now`, its jitter and stalls drawn from `rng`.
    pub fn new(params: OneWay, mut rng: ChaCha8Rng, now: Instant) -> Self {
        let stall = params
            .stall_every
            .map(|every| Self::draw_stall(&mut rng, now, every));
        Link {
            params,
            rng,
            last_delivery: now,
            busy_until: now,
            stall,
        }
    }

    /// The stall after `from`: it starts an exponentially distributed time later (mean
    /// `every`, so stalls come at random, as losses do) and lasts 200–600 ms.
    fn draw_stall(rng: &mut ChaCha8Rng, from: Instant, every: Duration) -> (Instant, Instant) {
        // 1 − U is in (0, 1], so the logarithm is finite.
        let u: f64 = 1.0 - rng.random::<f64>();
        let wait = every.mul_f64(-u.ln());
        let length = rng.random_range(STALL_MIN..=STALL_MAX);
        let start = from + wait;
        (start, start + length)
    }

    /// The time the link needs to send `len` bytes, zero without a cap.
    pub fn serialization(&self, len: usize) -> Duration {
        match self.params.bits_per_sec {
            Some(bps) => Duration::from_nanos((len as u64 * 8).saturating_mul(1_000_000_000) / bps),
            None => Duration::ZERO,
        }
    }

    /// A chunk of `len` bytes read from the sender at `now`: when it may be written to
    /// the receiver. `len` 0 schedules the end of the stream, behind every chunk.
    ///
    /// The chunk first waits for the link (it occupies it `len * 8 / bps` after the
    /// previous chunk), then travels `latency ± jitter`, then waits for the previous
    /// chunk (order) and for the end of a stall it would arrive in.
    pub fn schedule(&mut self, now: Instant, len: usize) -> Instant {
        let sent = self.busy_until.max(now) + self.serialization(len);
        self.busy_until = sent;
        let mut at = sent + self.params.latency;
        let jitter = self.params.jitter.as_nanos() as i64;
        if jitter > 0 {
            let offset = self.rng.random_range(-jitter..=jitter);
            let magnitude = Duration::from_nanos(offset.unsigned_abs());
            at = if offset >= 0 {
                at + magnitude
            } else {
                // Never earlier than the chunk was sent.
                at.checked_sub(magnitude).unwrap_or(sent).max(sent)
            };
        }
        let at = self.after_stalls(at.max(self.last_delivery));
        self.last_delivery = at;
        at
    }

    /// `at`, or the end of the stall it falls in. Stalls already over are replaced by
    /// the next one, drawn after the last one's end.
    fn after_stalls(&mut self, at: Instant) -> Instant {
        let Some(every) = self.params.stall_every else {
            return at;
        };
        while let Some((start, end)) = self.stall {
            if at < start {
                return at;
            }
            if at < end {
                return end;
            }
            self.stall = Some(Self::draw_stall(&mut self.rng, end, every));
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn one_way(latency_ms: u64, jitter_ms: u64) -> OneWay {
        OneWay {
            latency: Duration::from_millis(latency_ms),
            jitter: Duration::from_millis(jitter_ms),
            bits_per_sec: None,
            stall_every: None,
        }
    }

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    #[test]
    fn a_fixed_latency_delays_every_chunk_alike() {
        let t0 = Instant::now();
        let mut link = Link::new(one_way(60, 0), rng(1), t0);
        let ms = Duration::from_millis;
        assert_eq!(link.schedule(t0, 100), t0 + ms(60));
        assert_eq!(link.schedule(t0 + ms(16), 100), t0 + ms(76));
        assert_eq!(link.schedule(t0 + ms(17), 0), t0 + ms(77), "end of stream");
    }

    #[test]
    fn jitter_varies_delays_but_never_reorders() {
        let t0 = Instant::now();
        let mut link = Link::new(one_way(60, 40), rng(7), t0);
        let mut previous = t0;
        let mut delays = Vec::new();
        for i in 0..2000u64 {
            // A chunk every millisecond: far closer than the jitter is wide.
            let now = t0 + Duration::from_millis(i);
            let at = link.schedule(now, 200);
            assert!(
                at >= previous,
                "chunk {i} delivered before the one ahead of it"
            );
            assert!(
                at >= now + Duration::from_millis(20),
                "chunk {i}: never under latency − jitter"
            );
            delays.push(at - now);
            previous = at;
        }
        let shortest = delays.iter().min().unwrap();
        let longest = delays.iter().max().unwrap();
        assert!(
            *longest - *shortest > Duration::from_millis(20),
            "jitter shows: delays from {shortest:?} to {longest:?}"
        );
        assert!(
            *longest <= Duration::from_millis(100),
            "never over latency + jitter when the sender is steady: {longest:?}"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let t0 = Instant::now();
        let params: OneWay = "bad".parse::<super::super::Profile>().unwrap().one_way();
        let run = |seed| {
            let mut link = Link::new(params, rng(seed), t0);
            (0..500u64)
                .map(|i| link.schedule(t0 + Duration::from_millis(i * 16), 300))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3), "reproducible from the seed");
        assert_ne!(run(3), run(4), "another seed, another run");
    }

    #[test]
    fn bandwidth_paces_chunks_one_after_another() {
        let t0 = Instant::now();
        let mut params = one_way(10, 0);
        // 8 000 bit/s: a 1000-byte chunk takes exactly one second on the link.
        params.bits_per_sec = Some(8_000);
        let mut link = Link::new(params, rng(1), t0);
        assert_eq!(link.serialization(1000), Duration::from_secs(1));
        assert_eq!(link.serialization(1), Duration::from_millis(1));
        let ms = Duration::from_millis;
        // Three chunks at once queue behind each other on the link.
        assert_eq!(link.schedule(t0, 1000), t0 + ms(1010));
        assert_eq!(link.schedule(t0, 1000), t0 + ms(2010));
        assert_eq!(link.schedule(t0, 500), t0 + ms(2510));
        // An idle link starts afresh: the next chunk waits for nothing but itself.
        assert_eq!(link.schedule(t0 + ms(5000), 250), t0 + ms(5260));
    }

    #[test]
    fn a_stall_holds_everything_due_in_it_until_its_end() {
        let t0 = Instant::now();
        let mut params = one_way(10, 0);
        params.stall_every = Some(Duration::from_secs(3));
        let mut link = Link::new(params, rng(11), t0);
        let (start, end) = link.stall.expect("a first stall is drawn");
        assert!(start > t0, "stalls come after the start");
        let length = end - start;
        assert!(
            (STALL_MIN..=STALL_MAX).contains(&length),
            "a stall lasts 200–600 ms: {length:?}"
        );
        let before = start - Duration::from_millis(20);
        assert_eq!(
            link.schedule(before, 10),
            before + Duration::from_millis(10),
            "due before the stall: on time"
        );
        let inside = start + length / 2;
        let sent = inside - Duration::from_millis(10);
        assert_eq!(
            link.schedule(sent, 10),
            end,
            "due in the stall: held to its end"
        );
        assert_eq!(
            link.schedule(sent + Duration::from_millis(1), 10),
            end,
            "and so is what follows it"
        );
        let after = end + Duration::from_millis(5);
        let at = link.schedule(after, 10);
        assert!(at >= after + Duration::from_millis(10), "after: on time");
        let (next, _) = link.stall.unwrap();
        assert!(next >= end, "the next stall is drawn after the last one");
    }

    #[test]
    fn stalls_come_about_as_often_as_asked() {
        let t0 = Instant::now();
        let mut params = one_way(0, 0);
        params.stall_every = Some(Duration::from_secs(3));
        let mut link = Link::new(params, rng(5), t0);
        let mut stalls = 0;
        let mut last = link.stall;
        // Ten simulated minutes of a chunk every 10 ms.
        for i in 0..60_000u64 {
            link.schedule(t0 + Duration::from_millis(i * 10), 100);
            if link.stall != last {
                stalls += 1;
                last = link.stall;
            }
        }
        // 600 s / (3 s + ~0.4 s) ≈ 176 stalls; the exponential spread allows ± a lot.
        assert!(
            (120..240).contains(&stalls),
            "{stalls} stalls in 10 minutes with one every ~3 s"
        );
    }
}
