//! What can go wrong in the codec.
//!
//! The messages are shown to clients (in error replies and close reasons, which a
//! WebSocket caps at 123 bytes), so they are short, lowercase and never echo more than
//! a few bytes of the input.

/// A frame from the other side could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A zero-length frame, or a text frame of only whitespace.
    #[error("empty frame")]
    Empty,
    /// Not JSON at all; carries serde_json's position report, which is short.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// V2 text that is JSON but not an array (e.g. a V1 object sent on a V2 socket).
    #[error("expected a JSON array [join_ref, ref, topic, event, payload]")]
    NotAnArray,
    /// V1 text that is JSON but not an object.
    #[error("expected a JSON object with topic, event, payload and ref")]
    NotAnObject,
    /// A V2 array with fewer than the five elements Phoenix requires.
    #[error("expected at least 5 elements, got {len}")]
    WrongArity {
        /// How many elements the array had.
        len: usize,
    },
    /// A V1 object without one of its four required keys.
    #[error("missing field {field}")]
    MissingField {
        /// The key that was absent.
        field: &'static str,
    },
    /// An envelope field of the wrong JSON type, e.g. a numeric ref.
    #[error("{field} must be {expected}")]
    FieldType {
        /// `join_ref`, `ref`, `topic` or `event`.
        field: &'static str,
        /// `a string` or `a string or null`.
        expected: &'static str,
    },
    /// A binary frame shorter than its header says.
    #[error("binary frame truncated")]
    Truncated,
    /// A binary kind this side does not accept (clients may only send kind 0).
    #[error("unsupported binary frame kind {0}")]
    UnknownKind(u8),
    /// A binary field that is not UTF-8; payloads are raw bytes and never checked.
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 {
        /// `join_ref`, `ref`, `topic`, `event` or `status`.
        field: &'static str,
    },
    /// A binary frame on a V1 socket, which has no binary format.
    #[error("binary frames need vsn 2.0.0")]
    BinaryNotSupported,
}

/// A frame could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Binary frames store each field's length in one byte, so 255 bytes is the most a
    /// field can hold; Phoenix and the JS client both refuse longer ones.
    #[error("{field} is {len} bytes, over the 255-byte limit")]
    FieldTooLong {
        /// `join_ref`, `ref`, `topic`, `event` or `status`.
        field: &'static str,
        /// The field's length in bytes.
        len: usize,
    },
}

/// The `vsn` query parameter names a serializer we do not speak.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported vsn {vsn:?}, expected 1.x.y or 2.0.x")]
pub struct UnsupportedVsn {
    /// The requested version, cut to [`UnsupportedVsn::MAX_ECHO_CHARS`] characters.
    pub vsn: String,
}

impl UnsupportedVsn {
    /// How much of the requested version the error keeps: enough to recognise it in a
    /// log line, not enough to let a client write arbitrary text into our logs.
    pub const MAX_ECHO_CHARS: usize = 32;

    pub(crate) fn new(raw: &str) -> Self {
        let vsn = raw.chars().take(Self::MAX_ECHO_CHARS).collect();
        UnsupportedVsn { vsn }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_short_and_name_the_problem() {
        let cases: [(String, &str); 6] = [
            (
                DecodeError::WrongArity { len: 4 }.to_string(),
                "expected at least 5 elements, got 4",
            ),
            (
                DecodeError::FieldType {
                    field: "ref",
                    expected: "a string or null",
                }
                .to_string(),
                "ref must be a string or null",
            ),
            (
                DecodeError::InvalidUtf8 { field: "topic" }.to_string(),
                "topic is not valid UTF-8",
            ),
            (
                DecodeError::UnknownKind(7).to_string(),
                "unsupported binary frame kind 7",
            ),
            (
                EncodeError::FieldTooLong {
                    field: "topic",
                    len: 256,
                }
                .to_string(),
                "topic is 256 bytes, over the 255-byte limit",
            ),
            (
                UnsupportedVsn::new("3.0.0").to_string(),
                "unsupported vsn \"3.0.0\", expected 1.x.y or 2.0.x",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want, "error message must read {want:?}");
            assert!(got.len() <= 123, "{got:?} must fit in a close reason");
        }
    }

    #[test]
    fn unsupported_vsn_keeps_only_a_short_prefix() {
        let long = "é".repeat(1000);
        let err = UnsupportedVsn::new(&long);
        assert_eq!(
            err.vsn.chars().count(),
            UnsupportedVsn::MAX_ECHO_CHARS,
            "a long vsn must be cut to MAX_ECHO_CHARS characters"
        );
        assert!(
            err.to_string().len() <= 123,
            "the message of a cut vsn must fit in a close reason"
        );
    }
}
