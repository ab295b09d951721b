//! Webhook callback URLs and the rule they must pass, the same as favicon fetches: `https` or
//! `http`, no credentials, a host whose every address is public
//! ([`favicon::is_public_address`]). The api checks a URL when it is registered; the worker
//! checks it again, and filters the addresses it connects to, at every delivery (a name may
//! resolve elsewhere by then: DNS rebinding).

use std::net::IpAddr;

use url::{Host, Url};

use crate::config::CallbackUrlRules;

/// The longest callback URL accepted.
pub const MAX_CALLBACK_URL_LEN: usize = 2048;

/// Why a callback URL is refused; the message is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCallbackUrl {
    /// Not a URL.
    #[error("not an absolute URL: {0}")]
    Unparsable(String),
    /// Longer than [`MAX_CALLBACK_URL_LEN`].
    #[error("longer than {MAX_CALLBACK_URL_LEN} characters")]
    TooLong,
    /// Neither `https` nor `http`.
    #[error("the scheme must be https or http, not {0}")]
    Scheme(String),
    /// `user:password@` in the URL.
    #[error("the URL must not hold credentials")]
    Credentials,
    /// No host.
    #[error("the URL has no host")]
    NoHost,
    /// The host name does not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Unresolvable {
        /// The host.
        host: String,
        /// What the resolver said.
        reason: String,
    },
    /// The host is, or resolves to, an address that is not public.
    #[error("{host} is not a public address ({addresses})")]
    NotPublic {
        /// The host.
        host: String,
        /// Its addresses, comma-separated.
        addresses: String,
    },
}

/// A callback URL whose form is acceptable ([`CallbackUrl::parse`]); whether its host is
/// public is [`CallbackUrl::check_addresses`]'s question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackUrl(Url);

impl CallbackUrl {
    /// Checks the form: absolute, `https` or `http`, a host, no credentials, not too long,
    /// and, for an IP-literal host, a public address (unless `rules` allow private ones).
    pub fn parse(text: &str, rules: &CallbackUrlRules) -> Result<Self, InvalidCallbackUrl> {
        let text = text.trim();
        if text.len() > MAX_CALLBACK_URL_LEN {
            return Err(InvalidCallbackUrl::TooLong);
        }
        let url =
            Url::parse(text).map_err(|error| InvalidCallbackUrl::Unparsable(error.to_string()))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(InvalidCallbackUrl::Scheme(url.scheme().to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InvalidCallbackUrl::Credentials);
        }
        let literal = match url.host() {
            None => return Err(InvalidCallbackUrl::NoHost),
            Some(Host::Domain(_)) => None,
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        };
        let callback = Self(url);
        if let Some(ip) = literal {
            callback.check_ips(&[ip], rules)?;
        }
        Ok(callback)
    }

    /// [`Self::parse`], then resolves the host and requires every address to be public: what
    /// the api checks when a URL is registered.
    pub async fn check(text: &str, rules: &CallbackUrlRules) -> Result<Self, InvalidCallbackUrl> {
        let callback = Self::parse(text, rules)?;
        callback.check_addresses(rules).await?;
        Ok(callback)
    }

    /// Resolves the host (an IP literal is its own address) and requires every address to be
    /// public, unless `rules` allow private ones.
    pub async fn check_addresses(
        &self,
        rules: &CallbackUrlRules,
    ) -> Result<(), InvalidCallbackUrl> {
        let host = self.host();
        let ips: Vec<IpAddr> = match self.0.host() {
            Some(Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
            Some(Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
            _ => tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|error| InvalidCallbackUrl::Unresolvable {
                    host: host.clone(),
                    reason: error.to_string(),
                })?
                .map(|address| address.ip())
                .collect(),
        };
        if ips.is_empty() {
            return Err(InvalidCallbackUrl::Unresolvable {
                host,
                reason: "no addresses".to_owned(),
            });
        }
        self.check_ips(&ips, rules)
    }

    /// Every one of `ips` must be allowed.
    fn check_ips(
        &self,
        ips: &[IpAddr],
        rules: &CallbackUrlRules,
    ) -> Result<(), InvalidCallbackUrl> {
        if ips.iter().all(|ip| is_allowed(*ip, rules)) {
            return Ok(());
        }
        let addresses: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
        Err(InvalidCallbackUrl::NotPublic {
            host: self.host(),
            addresses: addresses.join(", "),
        })
    }

    /// The host as written in the URL (IPv6 without brackets).
    fn host(&self) -> String {
        match self.0.host() {
            Some(Host::Ipv6(ip)) => ip.to_string(),
            _ => self.0.host_str().unwrap_or_default().to_owned(),
        }
    }

    /// The URL, normalised.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.0
    }
}

/// Whether a callback may connect to `ip`: a public address, or any with `allow_private`.
pub fn is_allowed(ip: IpAddr, rules: &CallbackUrlRules) -> bool {
    rules.allow_private || favicon::is_public_address(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: CallbackUrlRules = CallbackUrlRules {
        allow_private: false,
    };
    const LAX: CallbackUrlRules = CallbackUrlRules {
        allow_private: true,
    };

    #[test]
    fn only_plain_http_urls_without_credentials_have_an_acceptable_form() {
        for (bad, expected) in [
            ("not a url", "not an absolute URL"),
            ("/relative/path", "not an absolute URL"),
            (
                "ftp://example.com/hook",
                "scheme must be https or http, not ftp",
            ),
            (
                "file:///etc/passwd",
                "scheme must be https or http, not file",
            ),
            (
                "https://user:pass@example.com/hook",
                "must not hold credentials",
            ),
            ("https://user@example.com/hook", "must not hold credentials"),
            (
                "http://127.0.0.1:8080/hook",
                "127.0.0.1 is not a public address",
            ),
            ("http://[::1]/hook", "::1 is not a public address"),
            ("http://169.254.169.254/latest", "is not a public address"),
        ] {
            let error = CallbackUrl::parse(bad, &STRICT).unwrap_err();
            assert!(error.to_string().contains(expected), "{bad}: {error}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_CALLBACK_URL_LEN));
        assert_eq!(
            CallbackUrl::parse(&long, &STRICT),
            Err(InvalidCallbackUrl::TooLong)
        );
        for good in ["https://example.com/hook?x=1", "http://93.184.216.34:8080/"] {
            assert!(CallbackUrl::parse(good, &STRICT).is_ok(), "{good}");
        }
        assert!(CallbackUrl::parse("http://127.0.0.1:8080/hook", &LAX).is_ok());
    }

    #[tokio::test]
    async fn names_resolving_to_private_addresses_are_refused_unless_allowed() {
        let error = CallbackUrl::check("http://localhost:9/hook", &STRICT)
            .await
            .unwrap_err();
        assert!(
            matches!(error, InvalidCallbackUrl::NotPublic { .. }),
            "{error}"
        );
        assert!(
            CallbackUrl::check("http://localhost:9/hook", &LAX)
                .await
                .is_ok()
        );
        let error = CallbackUrl::check("https://no-such-name.invalid/hook", &STRICT)
            .await
            .unwrap_err();
        assert!(
            matches!(error, InvalidCallbackUrl::Unresolvable { .. }),
            "{error}"
        );
    }
}
