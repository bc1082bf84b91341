//! The envelope every game's frames share (CONTRACT §11): a `tick` payload is one
//! MessagePack map whose `tick` key is the tick number, a `ticks` payload an array of
//! them, a `snapshot` a map with `tick`. The runtime, bots and load tools read tick
//! numbers through this module without knowing the game.

use serde::Deserialize;

/// The deepest nesting a game frame may have. Real frames nest four or five levels
/// (ticks → tick → events → event → fields); MessagePack's own default (1,024) lets a
/// hostile frame recurse deep enough to overflow a 2 MiB thread stack in a debug build
/// (found by `tests/tests/arbitrary_input.rs`).
pub const MAX_DEPTH: usize = 32;

/// Decodes MessagePack with [`MAX_DEPTH`].
pub fn decode_limited<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, CodecError> {
    let mut de = rmp_serde::Deserializer::from_read_ref(b);
    de.set_max_depth(MAX_DEPTH);
    Ok(T::deserialize(&mut de)?)
}

/// A MessagePack encoding or decoding failure.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Could not encode.
    #[error("msgpack encode: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    /// Could not decode.
    #[error("msgpack decode: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
}

/// A `ticks` frame made of ticks already encoded one by one ([`encode_tick`]): the
/// MessagePack array header, then each tick's bytes in order. The same bytes as
/// [`encode_ticks`] of those ticks (a test pins it across the header's three sizes),
/// but nothing is encoded twice and nothing here reads a tick: a room batches the
/// frames it encoded as it stepped.
pub fn ticks_frame<B: AsRef<[u8]>>(ticks: &[B]) -> Vec<u8> {
    let body: usize = ticks.iter().map(|t| t.as_ref().len()).sum();
    let mut out = Vec::with_capacity(body + 5);
    let n = ticks.len();
    // MessagePack: fixarray below 16 elements, array 16 below 2^16, array 32 above.
    if n < 16 {
        out.push(0x90 | n as u8);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(0xdc);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0xdd);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    for tick in ticks {
        out.extend_from_slice(tick.as_ref());
    }
    out
}

/// The JSON form of a binary game payload (`snapshot`, `tick`, `ticks`): the same
/// document, value for value, with the same field names. Sent where binary frames cannot
/// go — long-poll and V1 sockets (docs/PROTOCOL.md, "JSON forms").
pub fn json_form(b: &[u8]) -> Result<String, CodecError> {
    let value: serde_json::Value = decode_limited(b)?;
    Ok(value.to_string())
}

/// The tick number of a `tick` payload (or of one element of `ticks`); every other field
/// is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct TickNo {
    pub tick: u64,
}

/// The tick number of a `tick` payload, whatever the game.
pub fn tick_number(payload: &[u8]) -> Result<u64, CodecError> {
    Ok(decode_limited::<TickNo>(payload)?.tick)
}

/// The tick numbers of a `ticks` payload, in order, whatever the game.
pub fn tick_numbers(payload: &[u8]) -> Result<Vec<u64>, CodecError> {
    Ok(decode_limited::<Vec<TickNo>>(payload)?
        .into_iter()
        .map(|t| t.tick)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct SomeTick {
        tick: u64,
        d: Vec<(u8, i32)>,
    }

    #[test]
    fn tick_numbers_are_read_from_any_game_s_ticks() {
        let ticks: Vec<Vec<u8>> = (7..27)
            .map(|tick| {
                rmp_serde::to_vec_named(&SomeTick {
                    tick,
                    d: vec![(1, -5)],
                })
                .unwrap()
            })
            .collect();
        assert_eq!(tick_number(&ticks[0]).unwrap(), 7);
        let frame = ticks_frame(&ticks);
        assert_eq!(tick_numbers(&frame).unwrap(), (7..27).collect::<Vec<_>>());
        assert!(
            json_form(&frame)
                .unwrap()
                .starts_with(r#"[{"d":[[1,-5]],"tick":7}"#)
        );
    }
}
