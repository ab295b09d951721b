//! `Domain`: a host name that has been normalised and validated, and nothing else.

use std::fmt;

/// Longest host name DNS allows.
const MAX_DOMAIN_LEN: usize = 253;
/// Longest label DNS allows.
const MAX_LABEL_LEN: usize = 63;

/// A normalised, lower-case, ASCII (punycode) host name with at least two labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain(String);

/// Why an entry is not a domain; rendered after `invalid_domain: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDomain {
    /// Nothing left after trimming.
    #[error("empty entry")]
    Empty,
    /// An IP address, not a name.
    #[error("an IP address is not a domain")]
    IpAddress,
    /// Characters DNS names cannot hold, or bad IDNA.
    #[error("invalid characters in {}", Quoted(.0))]
    InvalidCharacters(String),
    /// A single label such as `localhost`.
    #[error("{} has no top-level domain", Quoted(.0))]
    NoTopLevelDomain(String),
    /// Over 253 characters, an empty label or a label over 63.
    #[error("{} has an invalid length", Quoted(.0))]
    InvalidLength(String),
}

/// Most characters of an entry quoted in a message, so that the reason after a long entry
/// is still read (and stored: messages are bounded).
const MAX_QUOTED_CHARS: usize = 100;

/// An entry quoted and escaped like `{:?}`, cut after [`MAX_QUOTED_CHARS`] characters.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(MAX_QUOTED_CHARS) {
            Some((end, _)) => write!(f, "{:?}…", &self.0[..end]),
            None => write!(f, "{:?}", self.0),
        }
    }
}

impl Domain {
    /// Normalises `raw`: trims it, lower-cases it, removes scheme, user-info, port, path, query,
    /// fragment and a trailing dot, converts Unicode to punycode, then validates it.
    pub fn parse(raw: &str) -> Result<Self, InvalidDomain> {
        let mut rest = raw.trim().trim_matches('"').trim();
        if let Some((scheme, after)) = rest.split_once("://")
            && !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            rest = after;
        } else if let Some(after) = rest.strip_prefix("//") {
            rest = after;
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host_port = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        if host_port.starts_with('[') {
            return Err(InvalidDomain::IpAddress);
        }
        let host = match host_port.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            Some(_) => return Err(InvalidDomain::InvalidCharacters(host_port.to_owned())),
            None => host_port,
        };
        let host = host.trim_end_matches('.');
        if host.is_empty() {
            return Err(InvalidDomain::Empty);
        }
        // NUL and other control characters are never part of a name; IDNA would drop some.
        if host.chars().any(char::is_control) {
            return Err(InvalidDomain::InvalidCharacters(host.to_owned()));
        }
        if ends_in_a_number(host) {
            return Err(InvalidDomain::IpAddress);
        }
        let ascii = idna::domain_to_ascii(host)
            .map_err(|_| InvalidDomain::InvalidCharacters(host.to_owned()))?;
        Self::validate(ascii)
    }

    fn validate(ascii: String) -> Result<Self, InvalidDomain> {
        // Again after IDNA, which maps full-width digits and dots to ASCII ones.
        if ends_in_a_number(&ascii) {
            return Err(InvalidDomain::IpAddress);
        }
        if ascii.len() > MAX_DOMAIN_LEN {
            return Err(InvalidDomain::InvalidLength(ascii));
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        if labels.len() < 2 {
            return Err(InvalidDomain::NoTopLevelDomain(ascii));
        }
        for label in &labels {
            if label.is_empty() || label.len() > MAX_LABEL_LEN {
                return Err(InvalidDomain::InvalidLength(ascii));
            }
            let allowed = label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !allowed || label.starts_with('-') || label.ends_with('-') {
                return Err(InvalidDomain::InvalidCharacters(ascii));
            }
        }
        Ok(Self(ascii))
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The WHATWG URL standard's "ends in a number" test: a host whose last label (after one
/// trailing dot) is decimal digits, or a number as IPv4 parts are written (`0x7f`, `0177`,
/// `0x`), is an IPv4 address to every browser, or an invalid one: `0x7f.0x1`, `0177.0x1`,
/// `2130706433` and `127.1` are all 127.0.0.1. None of them is a domain name.
fn ends_in_a_number(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let last = host.rsplit('.').next().unwrap_or_default();
    !last.is_empty() && (last.bytes().all(|b| b.is_ascii_digit()) || is_ipv4_number(last))
}

/// An IPv4 part as the WHATWG URL standard reads it: hex after `0x`/`0X` (possibly empty),
/// octal after a leading `0`, else decimal.
fn is_ipv4_number(part: &str) -> bool {
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1
            && let Some(octal) = part.strip_prefix('0')
        {
            (octal, 8)
        } else {
            (part, 10)
        };
    digits.chars().all(|c| c.is_digit(radix)) && (radix == 16 || !digits.is_empty())
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        Domain::parse(raw)
            .map(|d| d.0)
            .unwrap_or_else(|e| panic!("{raw:?} rejected: {e}"))
    }

    #[test]
    fn normalises_what_people_paste() {
        assert_eq!(ok("  Example.COM  "), "example.com");
        assert_eq!(ok("https://www.example.com/path?q=1#x"), "www.example.com");
        assert_eq!(ok("http://user:pass@example.com:8080/"), "example.com");
        assert_eq!(ok("example.com."), "example.com");
        assert_eq!(ok("//cdn.example.org/x"), "cdn.example.org");
        assert_eq!(ok("\"example.net\""), "example.net");
        assert_eq!(ok("bücher.de"), "xn--bcher-kva.de");
        assert_eq!(ok("HTTPS://Bücher.DE/"), "xn--bcher-kva.de");
    }

    #[test]
    fn rejects_what_is_not_a_domain() {
        assert_eq!(Domain::parse("   "), Err(InvalidDomain::Empty));
        assert_eq!(Domain::parse("http://"), Err(InvalidDomain::Empty));
        assert_eq!(Domain::parse("127.0.0.1"), Err(InvalidDomain::IpAddress));
        assert_eq!(
            Domain::parse("http://[::1]:80/"),
            Err(InvalidDomain::IpAddress)
        );
        assert!(matches!(
            Domain::parse("localhost"),
            Err(InvalidDomain::NoTopLevelDomain(_))
        ));
        assert!(matches!(
            Domain::parse("exa mple.com"),
            Err(InvalidDomain::InvalidCharacters(_))
        ));
        assert!(matches!(
            Domain::parse("-bad.com"),
            Err(InvalidDomain::InvalidCharacters(_))
        ));
        assert!(matches!(
            Domain::parse("a..com"),
            Err(InvalidDomain::InvalidLength(_))
        ));
        assert!(matches!(
            Domain::parse(&format!("{}.com", "a".repeat(64))),
            Err(InvalidDomain::InvalidLength(_))
        ));
        assert!(matches!(
            Domain::parse("example.com:http"),
            Err(InvalidDomain::InvalidCharacters(_))
        ));
        for control in [
            "nul\0job.example.com",
            "tab\tin.example.com",
            "bell\u{7}.com",
        ] {
            assert!(
                matches!(
                    Domain::parse(control),
                    Err(InvalidDomain::InvalidCharacters(_))
                ),
                "{control:?}"
            );
        }
    }

    #[test]
    fn a_long_entry_is_quoted_in_part_and_the_reason_kept() {
        let long = format!("{}.com", "x".repeat(10_000));
        let message = Domain::parse(&long).unwrap_err().to_string();
        assert!(message.ends_with("… has an invalid length"), "{message}");
        assert!(message.len() < 150, "{message}");
        assert_eq!(
            Domain::parse("nul\0job.example.com")
                .unwrap_err()
                .to_string(),
            r#"invalid characters in "nul\0job.example.com""#
        );
    }

    #[test]
    fn every_form_of_ipv4_address_is_an_ip_address() {
        for address in [
            "127.0.0.1",
            "0x7f.0x1",
            "0177.0x1",
            "2130706433",
            "127.1",
            "0x7f000001",
            "0x7F.1.",
            "017700000001",
            "http://0x7f.1:8080/x",
            "example.0x1",
            "example.0x",
            "1.2.3.999",
            "１２７.０.０.１",
            "０x7f.1",
        ] {
            assert_eq!(
                Domain::parse(address),
                Err(InvalidDomain::IpAddress),
                "{address:?}"
            );
        }
        for name in [
            "0x7f.com",
            "example.0xg",
            "1.2.3.com",
            "0.example.com",
            "example.08a",
        ] {
            assert!(Domain::parse(name).is_ok(), "{name:?}");
        }
    }
}
