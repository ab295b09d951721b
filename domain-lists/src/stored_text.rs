//! Text as PostgreSQL can store it. A `text` value holds any UTF-8 but NUL, and an indexed
//! one (a result's domain is, twice) at most about 2,700 bytes. What the worker writes from
//! untrusted input, an invalid entry kept as a result's domain and the error messages that
//! quote it, goes through [`storable`] first: NUL becomes U+FFFD and the length is bounded,
//! with an ellipsis, so a hostile entry costs one failed result and never a refused write.
//!
//! The rule lives with the readers, where untrusted text comes in: the readers, their fuzz
//! target and the worker's result rows all apply it. `entity`, the other candidate, holds the
//! SeaORM entities and pulls in sea-orm, which a rule about strings does not need.

use std::borrow::Cow;

/// Longest domain text stored: a valid name has at most 253 characters; an invalid entry is
/// cut to this many (at most 1,020 bytes, well inside the index limit).
pub const MAX_DOMAIN_CHARS: usize = 255;

/// Longest error message stored.
pub const MAX_ERROR_CHARS: usize = 1_000;

/// What replaces a NUL character.
const NUL_REPLACEMENT: char = '\u{FFFD}';

/// What ends a text that was cut.
const ELLIPSIS: char = '…';

/// `text` with NUL replaced by U+FFFD and cut to `max_chars` characters, the last of them an
/// ellipsis when it was cut. Borrowed when nothing changes; applying it twice changes nothing.
pub fn storable(text: &str, max_chars: usize) -> Cow<'_, str> {
    let too_long = text.char_indices().nth(max_chars).is_some();
    if !too_long && !text.contains('\0') {
        return Cow::Borrowed(text);
    }
    let kept = if too_long {
        max_chars.saturating_sub(1)
    } else {
        max_chars
    };
    let mut safe: String = text
        .chars()
        .take(kept)
        .map(|c| if c == '\0' { NUL_REPLACEMENT } else { c })
        .collect();
    if too_long && max_chars > 0 {
        safe.push(ELLIPSIS);
    }
    Cow::Owned(safe)
}

/// True when PostgreSQL can store `text` as it is and it has at most `max_chars` characters:
/// what [`storable`] guarantees.
pub fn is_storable(text: &str, max_chars: usize) -> bool {
    !text.contains('\0') && text.chars().nth(max_chars).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_replaced_and_long_text_cut_with_an_ellipsis() {
        assert!(matches!(storable("a.com", 10), Cow::Borrowed("a.com")));
        assert_eq!(storable("a\0b", 10), "a\u{FFFD}b");
        assert_eq!(storable("abcdef", 4), "abc…");
        assert_eq!(storable("abcd", 4), "abcd");
        assert_eq!(storable("é\0éé", 3), "é\u{FFFD}…");
        let long = "x".repeat(1_000_000);
        let cut = storable(&long, MAX_ERROR_CHARS);
        assert_eq!(cut.chars().count(), MAX_ERROR_CHARS);
        assert!(is_storable(&cut, MAX_ERROR_CHARS));
        assert_eq!(storable(&cut, MAX_ERROR_CHARS), cut, "idempotent");
        assert!(!is_storable("a\0", 10));
        assert!(!is_storable("abc", 2));
    }
}
