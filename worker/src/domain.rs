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
    #[error("invalid characters in {0:?}")]
    InvalidCharacters(String),
    /// A single label such as `localhost`.
    #[error("{0:?} has no top-level domain")]
    NoTopLevelDomain(String),
    /// Over 253 characters, an empty label or a label over 63.
    #[error("{0:?} has an invalid length")]
    InvalidLength(String),
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
        if host.parse::<std::net::Ipv4Addr>().is_ok() {
            return Err(InvalidDomain::IpAddress);
        }
        let ascii = idna::domain_to_ascii(host)
            .map_err(|_| InvalidDomain::InvalidCharacters(host.to_owned()))?;
        Self::validate(ascii)
    }

    fn validate(ascii: String) -> Result<Self, InvalidDomain> {
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
        if labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(InvalidDomain::IpAddress);
        }
        Ok(Self(ascii))
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
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
    }
}
