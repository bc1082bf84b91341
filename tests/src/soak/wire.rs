//! Light decoding of server frames for bots: borrow everything, decode only what is used.
//!
//! A text frame is split into its envelope (borrowed strings) and a raw payload that is
//! parsed only for the events a bot cares about. A binary frame's header is read in
//! place. Presence payloads are walked with serde visitors that keep only the bot index
//! encoded in each entry's `name` and skip everything else without allocating.

use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Every bot is called `soak<index>`; presence entries are mapped back to bot indices
/// through this name, so no shared id registry is needed.
pub const BOT_NAME_PREFIX: &str = "soak";

/// The guest name of bot `index`.
pub fn bot_name(index: u32) -> String {
    format!("{BOT_NAME_PREFIX}{index}")
}

/// The bot index in a presence name, if it is one of ours.
pub fn parse_bot_name(name: &str) -> Option<u32> {
    name.strip_prefix(BOT_NAME_PREFIX)?.parse().ok()
}

/// A V2 text frame, borrowed from the message.
#[derive(Debug)]
pub struct TextFrame<'a> {
    pub join_ref: Option<&'a str>,
    pub msg_ref: Option<&'a str>,
    pub topic: &'a str,
    pub event: &'a str,
    pub payload: &'a RawValue,
}

/// Splits a V2 text frame `[join_ref, ref, topic, event, payload]`.
pub fn text_frame(text: &str) -> Result<TextFrame<'_>, serde_json::Error> {
    type Envelope<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        &'a str,
        &'a str,
        &'a RawValue,
    );
    let (join_ref, msg_ref, topic, event, payload): Envelope<'_> = serde_json::from_str(text)?;
    Ok(TextFrame {
        join_ref,
        msg_ref,
        topic,
        event,
        payload,
    })
}

/// A V2 binary frame from the server, borrowed from the message.
#[derive(Debug, PartialEq, Eq)]
pub enum BinaryFrame<'a> {
    /// Kind 0 push or kind 2 broadcast.
    Push {
        topic: &'a [u8],
        event: &'a [u8],
        payload: &'a [u8],
    },
    /// Kind 1 reply.
    Reply { msg_ref: &'a [u8], status: &'a [u8] },
}

/// Reads a V2 binary frame header in place; `None` if it is malformed.
pub fn binary_frame(data: &[u8]) -> Option<BinaryFrame<'_>> {
    let (&kind, rest) = data.split_first()?;
    match kind {
        0 => {
            let [jr, t, e] = lengths::<3>(rest)?;
            let body = rest.get(3..)?;
            let topic = body.get(jr..jr + t)?;
            let event = body.get(jr + t..jr + t + e)?;
            let payload = body.get(jr + t + e..)?;
            Some(BinaryFrame::Push {
                topic,
                event,
                payload,
            })
        }
        1 => {
            let [jr, r, t, s] = lengths::<4>(rest)?;
            let body = rest.get(4..)?;
            let msg_ref = body.get(jr..jr + r)?;
            let status = body.get(jr + r + t..jr + r + t + s)?;
            Some(BinaryFrame::Reply { msg_ref, status })
        }
        2 => {
            let [t, e] = lengths::<2>(rest)?;
            let body = rest.get(2..)?;
            let topic = body.get(..t)?;
            let event = body.get(t..t + e)?;
            let payload = body.get(t + e..)?;
            Some(BinaryFrame::Push {
                topic,
                event,
                payload,
            })
        }
        _ => None,
    }
}

fn lengths<const N: usize>(data: &[u8]) -> Option<[usize; N]> {
    let bytes: &[u8; N] = data.get(..N)?.try_into().ok()?;
    Some(bytes.map(usize::from))
}

/// A `phx_reply` payload: `{"status", "response"}`.
#[derive(Debug, Deserialize)]
pub struct Reply<'a> {
    #[serde(borrow)]
    pub status: &'a str,
    #[serde(borrow)]
    pub response: Option<&'a RawValue>,
}

/// One presence entry as a bot needs it: which bot, and whether it is a room player.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceEntry {
    pub bot: u32,
    pub player: bool,
}

/// Collects the entries of a `presence_state` payload into `out` (our bots only).
pub fn presence_state(payload: &RawValue, out: &mut Vec<PresenceEntry>) -> serde_json::Result<()> {
    let mut de = serde_json::Deserializer::from_str(payload.get());
    PresenceMap { out }.deserialize(&mut de)?;
    de.end()
}

/// Collects the joins and leaves of a `presence_diff` payload (our bots only).
pub fn presence_diff(
    payload: &RawValue,
    joins: &mut Vec<PresenceEntry>,
    leaves: &mut Vec<PresenceEntry>,
) -> serde_json::Result<()> {
    let mut de = serde_json::Deserializer::from_str(payload.get());
    DiffSeed { joins, leaves }.deserialize(&mut de)?;
    de.end()
}

/// `{key: {"metas": [meta, ...]}, ...}`, keeping the first meta's bot index and role.
struct PresenceMap<'o> {
    out: &'o mut Vec<PresenceEntry>,
}

impl<'de> DeserializeSeed<'de> for PresenceMap<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PresenceMap<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a presence map")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key::<IgnoredAny>()?.is_some() {
            let entry: Entry<'de> = map.next_value()?;
            if let Some(meta) = entry.metas.0
                && let Some(bot) = meta.name.and_then(parse_bot_name)
            {
                self.out.push(PresenceEntry {
                    bot,
                    player: meta.role == Some("player"),
                });
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    metas: FirstMeta<'a>,
}

#[derive(Deserialize)]
struct Meta<'a> {
    #[serde(borrow, default)]
    name: Option<&'a str>,
    #[serde(borrow, default)]
    role: Option<&'a str>,
}

/// The first element of a metas list; the rest are skipped.
struct FirstMeta<'a>(Option<Meta<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstMeta<'a> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = FirstMeta<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of metas")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FirstMeta<'a>, A::Error> {
                let first = seq.next_element::<Meta<'a>>()?;
                // A bot has one socket, so one meta; anything more is skipped, bounded
                // by the payload's length.
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstMeta(first))
            }
        }
        de.deserialize_seq(V(std::marker::PhantomData))
    }
}

/// `{"joins": {...}, "leaves": {...}}`.
struct DiffSeed<'o> {
    joins: &'o mut Vec<PresenceEntry>,
    leaves: &'o mut Vec<PresenceEntry>,
}

impl<'de> DeserializeSeed<'de> for DiffSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DiffSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a presence diff")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "joins" => map.next_value_seed(PresenceMap {
                    out: &mut *self.joins,
                })?,
                "leaves" => map.next_value_seed(PresenceMap {
                    out: &mut *self.leaves,
                })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// The only field of a lifecycle `phase` event a bot needs.
#[derive(Debug, Deserialize)]
pub struct PhaseEvent<'a> {
    #[serde(borrow)]
    pub phase: &'a str,
}

/// `{"reason"}` of an error reply.
#[derive(Debug, Deserialize)]
pub struct Reason<'a> {
    #[serde(borrow, default)]
    pub reason: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kurve_shared::phoenix;

    #[test]
    fn text_envelopes_are_borrowed() {
        let f =
            text_frame(r#"["1","2","lobby:x","phx_reply",{"status":"ok","response":{}}]"#).unwrap();
        assert_eq!(
            (f.join_ref, f.msg_ref, f.topic, f.event),
            (Some("1"), Some("2"), "lobby:x", "phx_reply")
        );
        let r: Reply = serde_json::from_str(f.payload.get()).unwrap();
        assert_eq!(r.status, "ok");
        let f = text_frame(r#"[null,null,"t","e",{}]"#).unwrap();
        assert_eq!((f.join_ref, f.msg_ref), (None, None));
    }

    #[test]
    fn binary_headers_match_the_codec() {
        let push = phoenix::encode_binary_push(Some("7"), "room:a", "snapshot", b"xyz").unwrap();
        assert_eq!(
            binary_frame(&push),
            Some(BinaryFrame::Push {
                topic: b"room:a",
                event: b"snapshot",
                payload: b"xyz"
            })
        );
        let bc = phoenix::encode_binary_broadcast("room:a", "tick", b"\x01\x02").unwrap();
        assert_eq!(
            binary_frame(&bc),
            Some(BinaryFrame::Push {
                topic: b"room:a",
                event: b"tick",
                payload: b"\x01\x02"
            })
        );
        let reply = phoenix::encode_binary_reply(Some("1"), "9", "room:a", "ok", b"").unwrap();
        assert_eq!(
            binary_frame(&reply),
            Some(BinaryFrame::Reply {
                msg_ref: b"9",
                status: b"ok"
            })
        );
        assert_eq!(binary_frame(&[0, 200, 1, 1, b'a']), None, "truncated");
        assert_eq!(binary_frame(&[]), None);
    }

    #[test]
    fn presence_keeps_bot_indices_and_roles() {
        let state: Box<RawValue> = serde_json::from_str(
            r#"{"g1":{"metas":[{"phx_ref":"a","name":"soak12","status":"lobby"}]},
                "g2":{"metas":[{"name":"human","role":"player"}]},
                "g3":{"metas":[{"name":"soak3","role":"player","x":[1,{"y":2}]},{"name":"soak4"}]}}"#,
        )
        .unwrap();
        let mut out = Vec::new();
        presence_state(&state, &mut out).unwrap();
        assert_eq!(
            out,
            vec![
                PresenceEntry {
                    bot: 12,
                    player: false
                },
                PresenceEntry {
                    bot: 3,
                    player: true
                }
            ]
        );
        let diff: Box<RawValue> = serde_json::from_str(
            r#"{"joins":{"g5":{"metas":[{"name":"soak5"}]}},"leaves":{"g1":{"metas":[{"name":"soak12"}]}}}"#,
        )
        .unwrap();
        let (mut joins, mut leaves) = (Vec::new(), Vec::new());
        presence_diff(&diff, &mut joins, &mut leaves).unwrap();
        assert_eq!(joins.iter().map(|e| e.bot).collect::<Vec<_>>(), vec![5]);
        assert_eq!(leaves.iter().map(|e| e.bot).collect::<Vec<_>>(), vec![12]);
    }
}
