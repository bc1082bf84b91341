//! Authentication of everything that crosses the cluster (CONTRACT §9, "Cluster
//! security"): a message on NATS, or a value in a key-value bucket, is believed only
//! if it carries a MAC made with the cluster's key.
//!
//! NATS credentials decide who may connect to NATS; they do not say who wrote a
//! message, and anyone who can connect can publish on any subject. So every node
//! seals what it sends with an HMAC-SHA256 under a key derived from `KURVE_SECRET`
//! (which every node of a cluster holds anyway, for tokens), and opens what it
//! receives before reading a byte of it. A publisher without the secret (a leaked NATS
//! password, a compromised neighbour service on the same NATS) changes nothing.
//!
//! - A message's MAC covers its subject, every header (sorted by name) and its
//!   payload, all length-prefixed, and the time it was sealed (`Kurve-Sealed-At`, Unix
//!   ms). A message sealed more than [`MAX_AGE`] away from this node's clock is
//!   refused, so a captured message can be replayed only within that window (and the
//!   receivers' own rules — heartbeat sequences, presence sequences, join refs — drop
//!   most replays inside it).
//! - A bucket value is stored as its 32-byte MAC followed by the value; the MAC covers
//!   the bucket, the key and the value, so an entry cannot be moved to another room.
//!   Values carry no time: a directory entry is valid for as long as it is current.
//!
//! The key is HMAC(secret, [`KEY_LABEL`]), not the secret itself, so a MAC on the bus
//! and a token signature are never made with the same key.

use std::time::Duration;

use async_nats::HeaderMap;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header carrying a message's MAC (base64url, no padding).
pub const MAC_HEADER: &str = "Kurve-Mac";

/// The header carrying when a message was sealed (Unix ms); covered by the MAC.
pub const SEALED_AT_HEADER: &str = "Kurve-Sealed-At";

/// What the cluster key is derived with. Changing it (a new version of the bus)
/// makes old and new nodes refuse each other, which is the point.
pub const KEY_LABEL: &[u8] = b"kurve cluster bus v1";

/// The oldest (or furthest in the future) a sealed message may be. Nodes' clocks are
/// kept by NTP to well under a second; 30 s leaves room for a NATS reconnect's queued
/// messages while bounding how long a captured message can be replayed.
pub const MAX_AGE: Duration = Duration::from_secs(30);

/// The bytes of a MAC.
const MAC_BYTES: usize = 32;

/// Why a message or value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("no MAC")]
    Unsealed,
    #[error("the MAC does not match")]
    BadMac,
    #[error("sealed too long ago or in the future")]
    Stale,
}

impl Rejected {
    /// A label value for `kurve_cluster_rejected_messages_total`.
    pub fn reason(self) -> &'static str {
        match self {
            Rejected::Unsealed => "unsealed",
            Rejected::BadMac => "bad_mac",
            Rejected::Stale => "stale",
        }
    }
}

/// The cluster key, and what is done with it. Its `Debug` shows no key.
#[derive(Clone)]
pub struct Seal {
    key: [u8; MAC_BYTES],
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seal(..)")
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Feeds `part` to the MAC with its length first, so that no two different sequences
/// of parts feed the same bytes.
fn part(mac: &mut HmacSha256, part: &[u8]) {
    mac.update(&(part.len() as u64).to_be_bytes());
    mac.update(part);
}

impl Seal {
    /// The seal of the cluster whose shared secret is `secret`.
    pub fn new(secret: &[u8]) -> Seal {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
        mac.update(KEY_LABEL);
        Seal {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.key).expect("HMAC takes a key of any length")
    }

    /// The MAC of a message: its subject, its headers but the MAC, its payload.
    fn message_mac(&self, subject: &str, headers: &HeaderMap, payload: &[u8]) -> HmacSha256 {
        let mut mac = self.mac();
        part(&mut mac, b"msg");
        part(&mut mac, subject.as_bytes());
        let mut names: Vec<(&str, Vec<&str>)> = headers
            .iter()
            .filter(|(name, _)| !AsRef::<str>::as_ref(*name).eq_ignore_ascii_case(MAC_HEADER))
            .map(|(name, values)| (name.as_ref(), values.iter().map(|v| v.as_str()).collect()))
            .collect();
        names.sort_unstable();
        mac.update(&(names.len() as u64).to_be_bytes());
        for (name, values) in names {
            part(&mut mac, name.as_bytes());
            mac.update(&(values.len() as u64).to_be_bytes());
            for value in values {
                part(&mut mac, value.as_bytes());
            }
        }
        part(&mut mac, payload);
        mac
    }

    /// Seals a message to be published on `subject`: stamps the time and adds the MAC.
    pub fn sign(&self, subject: &str, headers: &mut HeaderMap, payload: &[u8]) {
        headers.insert(SEALED_AT_HEADER, now_ms().to_string().as_str());
        let mac = self.message_mac(subject, headers, payload).finalize();
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.into_bytes());
        headers.insert(MAC_HEADER, text.as_str());
    }

    /// Headers holding only the seal of a message with no headers of its own.
    pub fn sealed_headers(&self, subject: &str, payload: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        self.sign(subject, &mut headers, payload);
        headers
    }

    /// Whether a message received on `subject` was sealed with this cluster's key, lately.
    pub fn verify(
        &self,
        subject: &str,
        headers: Option<&HeaderMap>,
        payload: &[u8],
    ) -> Result<(), Rejected> {
        let headers = headers.ok_or(Rejected::Unsealed)?;
        let given = headers.get(MAC_HEADER).ok_or(Rejected::Unsealed)?;
        let given = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(given.as_str())
            .map_err(|_| Rejected::BadMac)?;
        self.message_mac(subject, headers, payload)
            .verify_slice(&given)
            .map_err(|_| Rejected::BadMac)?;
        // Checked after the MAC: a forger's timestamp means nothing.
        let at = headers
            .get(SEALED_AT_HEADER)
            .and_then(|at| at.as_str().parse::<u64>().ok())
            .ok_or(Rejected::Unsealed)?;
        if now_ms().abs_diff(at) > MAX_AGE.as_millis() as u64 {
            return Err(Rejected::Stale);
        }
        Ok(())
    }

    fn value_mac(&self, bucket: &str, key: &str, value: &[u8]) -> HmacSha256 {
        let mut mac = self.mac();
        part(&mut mac, b"kv");
        part(&mut mac, bucket.as_bytes());
        part(&mut mac, key.as_bytes());
        part(&mut mac, value);
        mac
    }

    /// `value` as stored under `key` of `bucket`: its MAC, then the value.
    pub fn seal_value(&self, bucket: &str, key: &str, value: &[u8]) -> Vec<u8> {
        let mac = self.value_mac(bucket, key, value).finalize().into_bytes();
        let mut sealed = Vec::with_capacity(MAC_BYTES + value.len());
        sealed.extend_from_slice(&mac);
        sealed.extend_from_slice(value);
        sealed
    }

    /// The value stored under `key` of `bucket`, if this cluster's key sealed it there.
    pub fn open_value<'a>(
        &self,
        bucket: &str,
        key: &str,
        sealed: &'a [u8],
    ) -> Result<&'a [u8], Rejected> {
        if sealed.len() < MAC_BYTES {
            return Err(Rejected::Unsealed);
        }
        let (mac, value) = sealed.split_at(MAC_BYTES);
        self.value_mac(bucket, key, value)
            .verify_slice(mac)
            .map_err(|_| Rejected::BadMac)?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, *value);
        }
        map
    }

    #[test]
    fn a_sealed_message_opens_and_any_change_is_refused() {
        let seal = Seal::new(b"cluster secret 0123456789abcdef0123");
        let mut sent = headers(&[("Kurve-Origin", "a"), ("Kurve-Event", "chat")]);
        seal.sign("kurve.v1.t.lobby:main", &mut sent, b"{\"body\":\"hi\"}");
        assert_eq!(
            seal.verify("kurve.v1.t.lobby:main", Some(&sent), b"{\"body\":\"hi\"}"),
            Ok(())
        );
        assert_eq!(
            seal.verify("kurve.v1.t.lobby:main", Some(&sent), b"{\"body\":\"ho\"}"),
            Err(Rejected::BadMac),
            "another payload"
        );
        assert_eq!(
            seal.verify("kurve.v1.t.lobby:other", Some(&sent), b"{\"body\":\"hi\"}"),
            Err(Rejected::BadMac),
            "another subject"
        );
        let mut changed = sent.clone();
        changed.insert("Kurve-Origin", "evil");
        assert_eq!(
            seal.verify(
                "kurve.v1.t.lobby:main",
                Some(&changed),
                b"{\"body\":\"hi\"}"
            ),
            Err(Rejected::BadMac),
            "another header value"
        );
        let mut added = sent.clone();
        added.insert("Kurve-Direct", "{}");
        assert_eq!(
            seal.verify("kurve.v1.t.lobby:main", Some(&added), b"{\"body\":\"hi\"}"),
            Err(Rejected::BadMac),
            "an added header"
        );
        let other = Seal::new(b"another secret 0123456789abcdef012");
        assert_eq!(
            other.verify("kurve.v1.t.lobby:main", Some(&sent), b"{\"body\":\"hi\"}"),
            Err(Rejected::BadMac),
            "another cluster's key"
        );
        assert_eq!(
            seal.verify("kurve.v1.trk", None, b"{}"),
            Err(Rejected::Unsealed)
        );
        assert_eq!(
            seal.verify("kurve.v1.trk", Some(&headers(&[(MAC_HEADER, "!!")])), b"{}"),
            Err(Rejected::BadMac)
        );
    }

    #[test]
    fn an_old_message_is_refused_even_when_its_mac_matches() {
        let seal = Seal::new(b"s");
        let mut old = HeaderMap::new();
        old.insert(SEALED_AT_HEADER, (now_ms() - 31_000).to_string().as_str());
        let mac = seal.message_mac("kurve.v1.trk", &old, b"{}").finalize();
        old.insert(
            MAC_HEADER,
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(mac.into_bytes())
                .as_str(),
        );
        assert_eq!(
            seal.verify("kurve.v1.trk", Some(&old), b"{}"),
            Err(Rejected::Stale)
        );
    }

    #[test]
    fn a_sealed_value_opens_only_under_its_own_key() {
        let seal = Seal::new(b"secret");
        let sealed = seal.seal_value("kurve_rooms", "room.a", b"{\"owner\":\"n1\"}");
        assert_eq!(
            seal.open_value("kurve_rooms", "room.a", &sealed),
            Ok(&b"{\"owner\":\"n1\"}"[..])
        );
        assert_eq!(
            seal.open_value("kurve_rooms", "room.b", &sealed),
            Err(Rejected::BadMac),
            "moved to another room"
        );
        assert_eq!(
            seal.open_value("kurve_room_state", "room.a", &sealed),
            Err(Rejected::BadMac),
            "moved to another bucket"
        );
        assert_eq!(
            seal.open_value(
                "kurve_rooms",
                "room.a",
                b"{\"owner\":\"evil\",\"summary\":{\"name\":\"FREE GOLD\"}}"
            ),
            Err(Rejected::BadMac),
            "a value written without the key"
        );
        assert_eq!(
            seal.open_value("kurve_rooms", "room.a", b"{}"),
            Err(Rejected::Unsealed)
        );
    }
}
