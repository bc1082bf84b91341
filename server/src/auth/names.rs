//! Player names and free text: what a name may contain, the form two names are compared
//! in, and the cleaning of chat lines and room names.
//!
//! Uniqueness is decided on a name's **skeleton** (UTS #39): NFKC, lower case, then the
//! confusable mapping, so `Alice`, `ＡＬＩＣＥ`, `Аlice` (Cyrillic А), `𝐀𝐥𝐢𝐜𝐞` and
//! `Alıce` are one name; so is `ALİCE` (U+0130, whose lower case is `i` plus a combining
//! dot above: a dot on a soft-dotted `i` or `j` is dropped, it changes nothing one sees).
//! The name [`RESERVED`] (`operator`, in any of its forms) is nobody's: the operator's
//! sockets are called so. The characters a name may hold are those UTS #39 allows in
//! identifiers (which excludes invisible fillers such as U+3164), plus space, `_`, `-`
//! and `.`.

use unicode_normalization::UnicodeNormalization;
use unicode_security::GeneralSecurityProfile;

/// The most characters a name may have (CONTRACT §2).
pub const MAX_NAME_CHARS: usize = 24;

/// Names nobody may take, guest or account (compared by skeleton): the operator's
/// sockets go by `operator`, and a player called so could pass for the operator.
pub const RESERVED: &[&str] = &["operator"];

/// Why a name is refused, in words for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name must not be empty")]
    Empty,
    #[error("name must be at most 24 characters")]
    TooLong,
    #[error("name may contain only letters, digits, spaces and _ - .")]
    Characters,
    #[error("that name is reserved")]
    Reserved,
}

impl NameError {
    /// The refusal in words for the user.
    pub fn message(self) -> &'static str {
        match self {
            NameError::Empty => "name must not be empty",
            NameError::TooLong => "name must be at most 24 characters",
            NameError::Characters => "name may contain only letters, digits, spaces and _ - .",
            NameError::Reserved => "that name is reserved",
        }
    }
}

/// The name as it is shown: NFKC-normalised, trimmed, inner runs of spaces kept as
/// typed. Err says what is wrong with it.
pub fn normalize(raw: &str) -> Result<String, NameError> {
    let name: String = raw.nfkc().collect();
    let name = name.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    let allowed = |c: char| {
        matches!(c, ' ' | '_' | '-' | '.') || (c.is_alphanumeric() && c.identifier_allowed())
    };
    if !name.chars().all(allowed) {
        return Err(NameError::Characters);
    }
    let folded = skeleton(name);
    if RESERVED.iter().any(|reserved| skeleton(reserved) == folded) {
        return Err(NameError::Reserved);
    }
    Ok(name.to_owned())
}

/// The form uniqueness is checked on: names with the same skeleton look alike.
pub fn skeleton(name: &str) -> String {
    let folded: String = name.trim().nfkc().collect::<String>().to_lowercase();
    let mapped: String = unicode_security::skeleton(&folded).collect();
    // The mapping may produce capitals (Cyrillic Н → H): fold once more.
    without_soft_dots(&mapped.to_lowercase())
}

/// `text` without the combining dot above (U+0307) right after a soft-dotted `i` or `j`,
/// where it shows nothing: the lower case of `İ` is `i` + U+0307.
fn without_soft_dots(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous = None;
    for c in text.chars() {
        if c == '\u{0307}' && matches!(previous, Some('i' | 'j')) {
            continue;
        }
        out.push(c);
        previous = Some(c);
    }
    out
}

/// Free text shown to others (chat lines, room names): bidirectional controls and
/// other invisible format characters, and control characters, removed.
pub fn clean_text(text: &str) -> String {
    text.chars().filter(|&c| !is_hidden(c)).collect()
}

/// Characters that change how text around them looks, or are not seen at all.
fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}'   // zero-width spaces and joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, bidi isolates
            | '\u{FEFF}'              // zero-width no-break space
            | '\u{061C}'              // Arabic letter mark
            | '\u{3164}' | '\u{FFA0}' // Hangul fillers
            | '\u{115F}' | '\u{1160}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookalikes_share_a_skeleton() {
        let alice = skeleton("Alice");
        for other in [
            "alice",
            "ALICE",
            "Alıce",
            "ＡＬＩＣＥ",
            "Аlice",
            "𝐀𝐥𝐢𝐜𝐞",
            " Alice ",
            "ALİCE",
            "alİce",
        ] {
            assert_eq!(
                skeleton(other),
                alice,
                "{other:?} should collide with Alice"
            );
        }
        assert_ne!(skeleton("Alice"), skeleton("Alina"));
        assert_ne!(skeleton("bob"), skeleton("rob"));
    }

    #[test]
    fn the_operators_name_is_reserved_in_every_form() {
        for name in [
            "operator",
            "Operator",
            "OPERATOR",
            "ＯＰＥＲＡＴＯＲ",
            "οperator",
        ] {
            assert_eq!(normalize(name), Err(NameError::Reserved), "{name:?}");
        }
        assert_eq!(normalize("operators").as_deref(), Ok("operators"));
    }

    #[test]
    fn names_are_normalized_to_nfkc() {
        assert_eq!(normalize("ＡＬＩＣＥ").as_deref(), Ok("ALICE"));
        assert_eq!(normalize("  Zoë  ").as_deref(), Ok("Zoë"));
        assert_eq!(normalize("李小龍").as_deref(), Ok("李小龍"));
        assert_eq!(normalize("Анна").as_deref(), Ok("Анна"));
        assert_eq!(normalize("a_b-c.d e").as_deref(), Ok("a_b-c.d e"));
    }

    #[test]
    fn invisible_and_control_characters_are_refused() {
        for bad in [
            "\u{3164}",
            "a\u{3164}b",
            "a\u{200B}b",
            "a\u{202E}b",
            "a\u{0}b",
            "a\nb",
            "a<b",
            "a\u{FEFF}",
        ] {
            assert_eq!(normalize(bad), Err(NameError::Characters), "{bad:?}");
        }
        assert_eq!(normalize("   "), Err(NameError::Empty));
        assert_eq!(normalize(&"x".repeat(25)), Err(NameError::TooLong));
    }

    #[test]
    fn text_loses_bidi_controls_and_nul() {
        assert_eq!(clean_text("abc\u{202E}def\u{0}"), "abcdef");
        assert_eq!(clean_text("a\u{2066}b\u{2069}c\u{200F}"), "abc");
        assert_eq!(clean_text("héllo wörld 👋"), "héllo wörld 👋");
    }
}
