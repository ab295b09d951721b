//! Any entry of a domain list: `Domain::parse` never panics, and what it accepts is a
//! normalised name (lower-case ASCII, no trailing dot, at most 253 bytes, at least two
//! labels) that parses to itself again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use favicon::Domain;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(domain) = Domain::parse(raw) else {
        return;
    };
    let name = domain.as_str();
    assert!(name.is_ascii(), "{raw:?} gave non-ASCII {name:?}");
    assert!(
        !name.bytes().any(|b| b.is_ascii_uppercase()),
        "{raw:?} gave upper-case {name:?}"
    );
    assert!(
        !name.ends_with('.'),
        "{raw:?} gave {name:?} with a trailing dot"
    );
    assert!(name.len() <= 253, "{raw:?} gave {name:?}, longer than 253");
    assert!(name.contains('.'), "{raw:?} gave {name:?}, a single label");
    assert_eq!(domain.to_string(), name);
    assert_eq!(
        Domain::parse(name).as_ref(),
        Ok(&domain),
        "{raw:?} gave {name:?}, which does not parse to itself"
    );
});
