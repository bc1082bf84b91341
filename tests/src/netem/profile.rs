//! Network profiles: what a path between a client and the server looks like, by name
//! (`lan`, `broadband`, `mobile`, `bad`) or by numbers (`rtt:150`,
//! `rtt=120,jitter=30,kbit=2000,stall_every=10000`).
//!
//! A profile describes the round trip, as people quote it ("RTT 120 ± 30 ms"); each
//! direction of a connection gets half of the delay and half of the jitter
//! ([`Profile::one_way`]), so two directions drawing independently add up to the quoted
//! round trip. The bandwidth cap and the stalls apply to each direction in full.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What one direction of a connection adds: the half of a [`Profile`] a [`super::Link`]
/// applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OneWay {
    /// Fixed delay of every chunk.
    pub latency: Duration,
    /// Each chunk's delay varies uniformly within ± this (order is kept regardless).
    pub jitter: Duration,
    /// The direction's capacity, bits per second; `None` is unlimited.
    pub bits_per_sec: Option<u64>,
    /// Mean time between stalls (exponentially distributed); `None` is no stalls.
    pub stall_every: Option<Duration>,
}

/// A network between a client and the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The text the profile was given as, for reports (`mobile`, `rtt:150`).
    pub name: String,
    /// Round-trip time added.
    pub rtt: Duration,
    /// The round trip varies within ± this.
    pub jitter: Duration,
    /// Capacity of each direction, bits per second; `None` is unlimited.
    pub bits_per_sec: Option<u64>,
    /// Mean time between stalls of each direction; `None` is no stalls.
    pub stall_every: Option<Duration>,
}

/// Why a profile did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseProfileError {
    #[error(
        "{0}: unknown profile (lan, broadband, mobile, bad, rtt:MS, or rtt=MS,jitter=MS,kbit=N,stall_every=MS)"
    )]
    Unknown(String),
    #[error("{key}={value}: expected a whole number")]
    NotANumber { key: String, value: String },
    #[error("{0}: unknown key (rtt, jitter, kbit, stall_every)")]
    UnknownKey(String),
    #[error("jitter {jitter} ms is larger than rtt {rtt} ms: delays would go negative")]
    JitterAboveRtt { jitter: u64, rtt: u64 },
    #[error("{0}: must be greater than zero")]
    Zero(&'static str),
}

/// The largest delay, jitter or stall interval a profile may give, ms: a minute is
/// already no network anyone plays on, and the bound keeps the arithmetic far from
/// overflow.
const MAX_MS: u64 = 60_000;

impl Profile {
    /// The named profiles, as `--netem` lists them.
    pub const NAMES: [&'static str; 4] = ["lan", "broadband", "mobile", "bad"];

    /// A fixed round trip and nothing else (no jitter, no cap, no stalls).
    pub fn fixed_rtt(rtt: Duration) -> Self {
        Profile {
            name: format!("rtt:{}", rtt.as_millis()),
            rtt,
            jitter: Duration::ZERO,
            bits_per_sec: None,
            stall_every: None,
        }
    }

    /// What each direction adds.
    pub fn one_way(&self) -> OneWay {
        OneWay {
            latency: self.rtt / 2,
            jitter: self.jitter / 2,
            bits_per_sec: self.bits_per_sec,
            stall_every: self.stall_every,
        }
    }

    fn named(name: &str) -> Option<Self> {
        let ms = Duration::from_millis;
        // (rtt, jitter, bits/s, mean time between stalls)
        let (rtt, jitter, bits_per_sec, stall_every) = match name {
            // A wired LAN: a quarter millisecond each way, nothing else.
            "lan" => (Duration::from_micros(500), Duration::ZERO, None, None),
            // Home broadband to a nearby data centre.
            "broadband" => (ms(30), ms(5), None, None),
            // A phone on 4G with fair signal: slower, jittery, a lost packet now and then.
            "mobile" => (ms(120), ms(30), Some(2_000_000), Some(ms(10_000))),
            // Poor signal or a congested hotel Wi-Fi.
            "bad" => (ms(250), ms(80), Some(1_000_000), Some(ms(3_000))),
            _ => return None,
        };
        Some(Profile {
            name: name.to_owned(),
            rtt,
            jitter,
            bits_per_sec,
            stall_every,
        })
    }

    /// `rtt=MS,jitter=MS,kbit=N,stall_every=MS`, every key optional.
    fn from_keys(text: &str) -> Result<Self, ParseProfileError> {
        let mut profile = Profile::fixed_rtt(Duration::ZERO);
        profile.name = text.to_owned();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| ParseProfileError::Unknown(text.to_owned()))?;
            let (key, value) = (key.trim(), value.trim());
            let number: u64 = value
                .parse()
                .ok()
                .filter(|&n| n <= MAX_MS || key == "kbit")
                .ok_or_else(|| ParseProfileError::NotANumber {
                    key: key.to_owned(),
                    value: value.to_owned(),
                })?;
            match key {
                "rtt" => profile.rtt = Duration::from_millis(number),
                "jitter" => profile.jitter = Duration::from_millis(number),
                "kbit" if number == 0 => return Err(ParseProfileError::Zero("kbit")),
                "kbit" => profile.bits_per_sec = Some(number.saturating_mul(1000)),
                "stall_every" if number == 0 => {
                    return Err(ParseProfileError::Zero("stall_every"));
                }
                "stall_every" => profile.stall_every = Some(Duration::from_millis(number)),
                other => return Err(ParseProfileError::UnknownKey(other.to_owned())),
            }
        }
        if profile.jitter > profile.rtt {
            return Err(ParseProfileError::JitterAboveRtt {
                jitter: profile.jitter.as_millis() as u64,
                rtt: profile.rtt.as_millis() as u64,
            });
        }
        Ok(profile)
    }
}

impl FromStr for Profile {
    type Err = ParseProfileError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Some(profile) = Profile::named(text) {
            return Ok(profile);
        }
        if let Some(ms) = text.strip_prefix("rtt:") {
            let rtt: u64 = ms
                .trim()
                .parse()
                .ok()
                .filter(|&n| n <= MAX_MS)
                .ok_or_else(|| ParseProfileError::NotANumber {
                    key: "rtt".into(),
                    value: ms.to_owned(),
                })?;
            return Ok(Profile::fixed_rtt(Duration::from_millis(rtt)));
        }
        if text.contains('=') {
            return Profile::from_keys(text);
        }
        Err(ParseProfileError::Unknown(text.to_owned()))
    }
}

impl fmt::Display for Profile {
    /// `mobile (RTT 120 ± 30 ms, 2000 kbit/s, a stall every ~10 s)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(f, "{} (RTT {} ms", self.name, ms(self.rtt))?;
        if !self.jitter.is_zero() {
            write!(f, " ± {} ms", ms(self.jitter))?;
        }
        if let Some(bps) = self.bits_per_sec {
            write!(f, ", {} kbit/s", bps / 1000)?;
        }
        if let Some(every) = self.stall_every {
            write!(
                f,
                ", a {}–{} ms stall every ~{} s",
                super::STALL_MIN.as_millis(),
                super::STALL_MAX.as_millis(),
                every.as_secs_f64()
            )?;
        }
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_profiles_split_the_round_trip_per_direction() {
        let mobile: Profile = "mobile".parse().unwrap();
        assert_eq!(
            mobile.one_way(),
            OneWay {
                latency: Duration::from_millis(60),
                jitter: Duration::from_millis(15),
                bits_per_sec: Some(2_000_000),
                stall_every: Some(Duration::from_secs(10)),
            }
        );
        let lan: Profile = "lan".parse().unwrap();
        assert_eq!(lan.one_way().latency, Duration::from_micros(250));
        assert_eq!(lan.one_way().stall_every, None, "no stalls on a LAN");
        for name in Profile::NAMES {
            assert_eq!(name.parse::<Profile>().unwrap().name, name);
        }
        assert_eq!(
            "bad".parse::<Profile>().unwrap().to_string(),
            "bad (RTT 250 ms ± 80 ms, 1000 kbit/s, a 200–600 ms stall every ~3 s)"
        );
    }

    #[test]
    fn numbers_parse_as_a_fixed_rtt_or_as_keys() {
        let fixed: Profile = "rtt:150".parse().unwrap();
        assert_eq!(fixed, Profile::fixed_rtt(Duration::from_millis(150)));
        assert_eq!(fixed.to_string(), "rtt:150 (RTT 150 ms)");
        assert_eq!(
            "rtt:0".parse::<Profile>().unwrap().rtt,
            Duration::ZERO,
            "RTT 0 is the proxy alone"
        );
        let keys: Profile = "rtt=50,jitter=10,kbit=500,stall_every=2000"
            .parse()
            .unwrap();
        assert_eq!(
            keys.one_way(),
            OneWay {
                latency: Duration::from_millis(25),
                jitter: Duration::from_millis(5),
                bits_per_sec: Some(500_000),
                stall_every: Some(Duration::from_secs(2)),
            }
        );
        assert_eq!(keys.name, "rtt=50,jitter=10,kbit=500,stall_every=2000");
        assert_eq!(
            "rtt=50".parse::<Profile>().unwrap().jitter,
            Duration::ZERO,
            "keys left out are off"
        );
    }

    #[test]
    fn bad_profiles_are_refused_with_a_reason() {
        assert!(matches!(
            "wifi".parse::<Profile>(),
            Err(ParseProfileError::Unknown(_))
        ));
        assert!(matches!(
            "rtt:fast".parse::<Profile>(),
            Err(ParseProfileError::NotANumber { .. })
        ));
        assert!(matches!(
            "rtt=10,loss=1".parse::<Profile>(),
            Err(ParseProfileError::UnknownKey(_))
        ));
        assert!(matches!(
            "rtt=10,jitter=20".parse::<Profile>(),
            Err(ParseProfileError::JitterAboveRtt { .. })
        ));
        assert!(matches!(
            "kbit=0".parse::<Profile>(),
            Err(ParseProfileError::Zero("kbit"))
        ));
        assert!(matches!(
            "rtt:9999999".parse::<Profile>(),
            Err(ParseProfileError::NotANumber { .. })
        ));
    }
}
