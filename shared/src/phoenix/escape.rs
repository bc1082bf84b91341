//! JSON string literals for the hand-written text envelopes.
//!
//! The encoders write `[join_ref, ref, topic, event, payload]` by hand so a payload
//! serialized once can be spliced into many frames, and so the output is allocated
//! once at its exact size. That needs two things serde_json does not expose on a
//! `String`: the escaped length of a string before writing it, and an infallible
//! writer. This module provides both and escapes exactly as `serde_json` does (the
//! tests compare every ASCII character and a spread of non-ASCII ones against it):
//! `"` and `\` get a backslash, `\b \t \n \f \r` their short forms, other control
//! characters `\u00xx`; everything else, including non-ASCII, is written as is.

/// Lowercase, as serde_json writes `\u001f`.
const HEX: &[u8; 16] = b"0123456789abcdef";

/// How many bytes `byte` takes once escaped. Only ASCII bytes are ever escaped, so the
/// bytes of a multi-byte UTF-8 sequence (all ≥ 0x80) count as themselves.
const fn escaped_len(byte: u8) -> usize {
    match byte {
        b'"' | b'\\' | 0x08 | 0x09 | 0x0A | 0x0C | 0x0D => 2,
        0x00..=0x1F => 6,
        _ => 1,
    }
}

/// Length of `s` written as a JSON string literal, quotes included.
pub(super) fn quoted_len(s: &str) -> usize {
    2 + s.bytes().map(escaped_len).sum::<usize>()
}

/// Length of `Some(s)` as a literal, or of `null`.
pub(super) fn opt_quoted_len(s: Option<&str>) -> usize {
    s.map_or(NULL.len(), quoted_len)
}

const NULL: &str = "null";

/// Appends `s` as a JSON string literal, quotes included.
pub(super) fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    let mut clean_from = 0;
    for (at, byte) in s.bytes().enumerate() {
        if escaped_len(byte) == 1 {
            continue;
        }
        // `byte` is ASCII, so `at` and `at + 1` are char boundaries: no slicing panic.
        out.push_str(&s[clean_from..at]);
        clean_from = at + 1;
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x08 => out.push_str("\\b"),
            0x09 => out.push_str("\\t"),
            0x0A => out.push_str("\\n"),
            0x0C => out.push_str("\\f"),
            0x0D => out.push_str("\\r"),
            _ => {
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0x0F)]));
            }
        }
    }
    out.push_str(&s[clean_from..]);
    out.push('"');
}

/// Appends `Some(s)` as a string literal, or `null`.
pub(super) fn push_opt_quoted(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_quoted(out, s),
        None => out.push_str(NULL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(s: &str) -> String {
        let mut out = String::new();
        push_quoted(&mut out, s);
        out
    }

    fn serde_quoted(s: &str) -> String {
        serde_json::to_string(s).expect("serde_json serializes every &str")
    }

    #[test]
    fn every_ascii_char_escapes_like_serde_json() {
        for byte in 0u8..0x80 {
            let s = char::from(byte).to_string();
            let ours = quoted(&s);
            assert_eq!(
                ours,
                serde_quoted(&s),
                "byte {byte:#04x} must escape like serde_json"
            );
            assert_eq!(
                quoted_len(&s),
                ours.len(),
                "quoted_len of byte {byte:#04x} must match the written length"
            );
        }
    }

    #[test]
    fn mixed_and_non_ascii_strings_escape_like_serde_json() {
        let samples = [
            "",
            "room:1",
            "räum:ü",
            "🎮 game",
            "\u{7f}\u{80}\u{a0}\u{2028}\u{2029}\u{feff}\u{10ffff}",
            "a\"b\\c\nd\u{0}e\u{1f}f",
            "\"\"\"",
            "\\",
            "end\u{1}",
            "ß\t日本\r\n",
        ];
        for s in samples {
            let ours = quoted(s);
            assert_eq!(ours, serde_quoted(s), "{s:?} must escape like serde_json");
            assert_eq!(
                quoted_len(s),
                ours.len(),
                "quoted_len of {s:?} must match the written length"
            );
            let back: String = serde_json::from_str(&ours).expect("our literal must parse as JSON");
            assert_eq!(back, s, "{s:?} must survive escape then parse");
        }
    }

    #[test]
    fn none_is_null() {
        let mut out = String::new();
        push_opt_quoted(&mut out, None);
        assert_eq!(out, "null", "None must be written as null");
        assert_eq!(opt_quoted_len(None), 4, "null is four bytes");
        assert_eq!(opt_quoted_len(Some("ab")), 4, "\"ab\" is four bytes");
    }
}
