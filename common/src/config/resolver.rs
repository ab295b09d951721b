//! Reading the favicon resolver's settings ([`ResolverSettings`]) from the environment: the
//! worker's whole configuration includes them, and `worker resolve` reads only them.

use std::time::Duration;

use super::{ConfigError, DnsOverrides, ResolverSettings, env::Env, parse_dns_override};

/// Reads only the resolver settings, for the `worker resolve` command.
pub fn from_env() -> Result<ResolverSettings, ConfigError> {
    read(&Env::process())
}

/// Reads the `RESOLVER_*` variables.
pub(crate) fn read(env: &Env<'_>) -> Result<ResolverSettings, ConfigError> {
    let default = ResolverSettings::default();
    let dns = match env.optional("RESOLVER_DNS_OVERRIDE") {
        Some(value) => parse_dns_override(&value)
            .map_err(|reason| env.invalid("RESOLVER_DNS_OVERRIDE", &value, reason))?,
        None => DnsOverrides::default(),
    };
    Ok(ResolverSettings {
        domain_timeout: Duration::from_secs(
            env.positive_or("RESOLVER_TIMEOUT_SECS", default.domain_timeout.as_secs())?,
        ),
        connect_timeout: Duration::from_secs(env.positive_or(
            "RESOLVER_CONNECT_TIMEOUT_SECS",
            default.connect_timeout.as_secs(),
        )?),
        max_tries: env.positive_or("RESOLVER_MAX_TRIES", default.max_tries)?,
        user_agent: env.string_or("RESOLVER_USER_AGENT", &default.user_agent),
        max_html_bytes: env.positive_or("RESOLVER_MAX_HTML_BYTES", default.max_html_bytes)?,
        max_icon_bytes: env.positive_or("RESOLVER_MAX_ICON_BYTES", default.max_icon_bytes)?,
        preferred_size: env.parse_or("RESOLVER_PREFERRED_SIZE", default.preferred_size)?,
        max_kept_images: env.positive_or("RESOLVER_MAX_KEPT_IMAGES", default.max_kept_images)?,
        max_kept_image_bytes: env.positive_or(
            "RESOLVER_MAX_KEPT_IMAGE_BYTES",
            default.max_kept_image_bytes,
        )?,
        prefer_svg: env.parse_or("RESOLVER_PREFER_SVG", default.prefer_svg)?,
        per_host_concurrency: env.positive_or(
            "RESOLVER_PER_HOST_CONCURRENCY",
            default.per_host_concurrency,
        )?,
        static_host_concurrency: env.positive_or(
            "RESOLVER_STATIC_HOST_CONCURRENCY",
            default.static_host_concurrency,
        )?,
        max_host_wait: Duration::from_secs(env.parse_or(
            "RESOLVER_MAX_HOST_WAIT_SECS",
            default.max_host_wait.as_secs(),
        )?),
        dns_timeout: Duration::from_millis(env.positive_or(
            "RESOLVER_DNS_TIMEOUT_MS",
            u64::try_from(default.dns_timeout.as_millis()).unwrap_or(u64::MAX),
        )?),
        dns_attempts: env.positive_or("RESOLVER_DNS_ATTEMPTS", default.dns_attempts)?,
        dns_cache_size: env.parse_or("RESOLVER_DNS_CACHE_SIZE", default.dns_cache_size)?,
        dns_servers: match env.optional("RESOLVER_DNS_SERVERS") {
            Some(value) => parse_dns_servers(&value)
                .map_err(|reason| env.invalid("RESOLVER_DNS_SERVERS", &value, reason))?,
            None => Vec::new(),
        },
        max_redirects: env.parse_or("RESOLVER_MAX_REDIRECTS", default.max_redirects)?,
        cache_ttl: Duration::from_secs(
            env.parse_or("RESOLVER_CACHE_TTL_SECS", default.cache_ttl.as_secs())?,
        ),
        cache_nxdomain_ttl: Duration::from_secs(env.parse_or(
            "RESOLVER_CACHE_NXDOMAIN_TTL_SECS",
            default.cache_nxdomain_ttl.as_secs(),
        )?),
        cache_failure_ttl: Duration::from_secs(env.parse_or(
            "RESOLVER_CACHE_FAILURE_TTL_SECS",
            default.cache_failure_ttl.as_secs(),
        )?),
        connect_to: env.parse_optional("RESOLVER_CONNECT_TO")?,
        dns_override: dns.addresses,
        dns_nxdomain: dns.nxdomain,
        ca_cert: env.optional("RESOLVER_CA_CERT").map(Into::into),
        allow_private: env.parse_or("RESOLVER_ALLOW_PRIVATE", default.allow_private)?,
    })
}

/// Parses `RESOLVER_DNS_SERVERS`: `IP:PORT` entries separated by commas (`[IPv6]:PORT`).
fn parse_dns_servers(value: &str) -> Result<Vec<std::net::SocketAddr>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse()
                .map_err(|error| format!("{entry:?} is not IP:PORT: {error}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::env::testing::with_vars;

    fn resolver(
        vars: &HashMap<&'static str, &'static str>,
    ) -> Result<ResolverSettings, ConfigError> {
        with_vars(vars, read)
    }

    #[test]
    fn dns_overrides_are_parsed_like_curl_resolve() {
        let mut vars = HashMap::new();
        vars.insert(
            "RESOLVER_DNS_OVERRIDE",
            "Loopback.test.=127.0.0.1, v6.test=::1,",
        );
        let overrides = resolver(&vars).unwrap().dns_override;
        assert_eq!(
            overrides,
            vec![
                ("loopback.test".to_owned(), "127.0.0.1".parse().unwrap()),
                ("v6.test".to_owned(), "::1".parse().unwrap()),
            ]
        );
        vars.insert("RESOLVER_DNS_OVERRIDE", "loopback.test");
        assert!(
            resolver(&vars)
                .unwrap_err()
                .to_string()
                .contains("RESOLVER_DNS_OVERRIDE")
        );
    }

    #[test]
    fn dns_overrides_can_say_a_name_or_a_whole_suffix_does_not_exist() {
        let vars = HashMap::from([(
            "RESOLVER_DNS_OVERRIDE",
            "gone.test=NXDOMAIN, *.NX.test.=nxdomain, up.test=127.0.0.1",
        )]);
        let resolver = resolver(&vars).unwrap();
        assert_eq!(resolver.dns_nxdomain, ["gone.test", "*.nx.test"]);
        assert_eq!(
            resolver.dns_override,
            [("up.test".to_owned(), "127.0.0.1".parse().unwrap())]
        );
        for invalid in [
            "*.x.test=127.0.0.1",
            "*.=NXDOMAIN",
            "a.*.test=NXDOMAIN",
            "=NXDOMAIN",
        ] {
            assert!(parse_dns_override(invalid).is_err(), "{invalid}");
        }
    }

    #[test]
    fn a_bad_connect_to_is_rejected_with_the_variable_name() {
        let vars = HashMap::from([("RESOLVER_CONNECT_TO", "not-an-address")]);
        assert!(
            resolver(&vars)
                .unwrap_err()
                .to_string()
                .contains("RESOLVER_CONNECT_TO")
        );
    }

    #[test]
    fn dns_servers_are_ip_and_port_pairs() {
        assert_eq!(
            parse_dns_servers("1.1.1.1:53, [2606:4700::1111]:53").unwrap(),
            vec![
                "1.1.1.1:53".parse().unwrap(),
                "[2606:4700::1111]:53".parse().unwrap()
            ]
        );
        assert!(parse_dns_servers("1.1.1.1").is_err());
        let mut vars = HashMap::new();
        vars.insert("RESOLVER_DNS_SERVERS", "127.0.0.1:5353");
        vars.insert("RESOLVER_DNS_TIMEOUT_MS", "500");
        vars.insert("RESOLVER_MAX_HOST_WAIT_SECS", "0");
        let settings = resolver(&vars).unwrap();
        assert_eq!(
            settings.dns_servers,
            vec!["127.0.0.1:5353".parse().unwrap()]
        );
        assert_eq!(settings.dns_timeout, Duration::from_millis(500));
        assert_eq!(settings.max_host_wait, Duration::ZERO);
        vars.insert("RESOLVER_DNS_SERVERS", "localhost");
        assert!(resolver(&vars).is_err());
    }
}
