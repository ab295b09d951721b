//! Failed authentication, limited per peer address.
//!
//! Checking a key costs a database query, so a client sending wrong keys costs the service as
//! much as one sending right ones, and per-client rate limits cannot apply before the client is
//! known. Failures are therefore counted per peer address, in the token buckets of
//! [`RateLimiter`]: `AUTH_FAILURE_LIMIT` failures per `AUTH_FAILURE_WINDOW_SECS`. Past that, a
//! request from that address is answered `429 too_many_auth_failures` before any query.
//!
//! Many clients can share an address (a NAT, a proxy in front of the api). So that one of them
//! guessing keys does not lock out the others, a key that authenticated recently (the last
//! day, on this instance) is still checked: the database is only spared keys that have not
//! proven themselves. IPv6 peers are counted per /64, the block one host usually holds.
//! Counts are kept per api instance, like the request rate limits.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use crate::rate_limit::RateLimiter;

/// How long a key that authenticated stays exempt from its address's block.
const KNOWN_KEY_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// The most keys remembered as known: more keys than clients would be a sign of misuse.
const MAX_KNOWN_KEYS: usize = 100_000;
/// How often expired known keys are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(60 * 60);

/// Failed authentications per peer, and the keys that authenticated recently.
#[derive(Debug)]
pub struct AuthFailures {
    failures: RateLimiter<IpAddr>,
    known: Mutex<KnownKeys>,
}

#[derive(Debug)]
struct KnownKeys {
    /// Key hash to when it last authenticated.
    seen: HashMap<String, Instant>,
    last_sweep: Instant,
}

impl AuthFailures {
    /// `limit` failures per `window` and peer; `limit` 0 disables the limit.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            failures: RateLimiter::per_window(limit, window),
            known: Mutex::new(KnownKeys {
                seen: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }

    /// Before a key (`key_hash`) from `peer` is looked up: `Err` with the time to wait when
    /// the peer has used up its failures and the key has not authenticated recently.
    pub fn admit(&self, peer: Option<IpAddr>, key_hash: &str) -> Result<(), Duration> {
        let Some(peer) = peer else {
            return Ok(());
        };
        match self.failures.peek(bucket(peer)) {
            Ok(()) => Ok(()),
            Err(_) if self.is_known(key_hash) => Ok(()),
            Err(wait) => Err(wait),
        }
    }

    /// A key from `peer` was wrong.
    pub fn failed(&self, peer: Option<IpAddr>) {
        let Some(peer) = peer else {
            return;
        };
        let peer = bucket(peer);
        if self.failures.check(peer).is_ok() && self.failures.peek(peer).is_err() {
            tracing::warn!(
                net.peer = %peer,
                "{peer} used up its failed authentications; further unknown keys from it are refused for a while"
            );
        }
    }

    /// The key `key_hash` authenticated: it passes a block of its address for a day.
    pub fn succeeded(&self, key_hash: &str) {
        let now = Instant::now();
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        if now.saturating_duration_since(known.last_sweep) >= SWEEP_EVERY {
            known
                .seen
                .retain(|_, seen| now.saturating_duration_since(*seen) < KNOWN_KEY_TTL);
            known.last_sweep = now;
        }
        if known.seen.len() < MAX_KNOWN_KEYS || known.seen.contains_key(key_hash) {
            known.seen.insert(key_hash.to_owned(), now);
        }
    }

    fn is_known(&self, key_hash: &str) -> bool {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        known
            .seen
            .get(key_hash)
            .is_some_and(|seen| seen.elapsed() < KNOWN_KEY_TTL)
    }
}

/// The address failures are counted under: IPv4 as it is, IPv6 by its /64.
fn bucket(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1_u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn a_peer_is_refused_after_its_failures_except_with_a_known_key() {
        let failures = AuthFailures::new(2, Duration::from_secs(60));
        let peer = ip("192.0.2.7");
        failures.succeeded("known");
        for _ in 0..2 {
            assert!(failures.admit(peer, "guess").is_ok());
            failures.failed(peer);
        }
        let wait = failures.admit(peer, "guess").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(30));
        assert!(failures.admit(peer, "known").is_ok(), "a known key passes");
        assert!(
            failures.admit(ip("192.0.2.8"), "guess").is_ok(),
            "another peer"
        );
        assert!(failures.admit(None, "guess").is_ok(), "no peer known");
    }

    #[test]
    fn ipv6_peers_are_counted_by_their_64_bit_prefix() {
        let failures = AuthFailures::new(1, Duration::from_secs(60));
        failures.failed(ip("2001:db8:1:2::1"));
        assert!(failures.admit(ip("2001:db8:1:2::ffff"), "guess").is_err());
        assert!(failures.admit(ip("2001:db8:1:3::1"), "guess").is_ok());
        failures.failed(ip("::ffff:192.0.2.9"));
        assert!(failures.admit(ip("192.0.2.9"), "guess").is_err());
    }

    #[test]
    fn zero_disables() {
        let failures = AuthFailures::new(0, Duration::from_secs(60));
        for _ in 0..100 {
            failures.failed(ip("192.0.2.7"));
        }
        assert!(failures.admit(ip("192.0.2.7"), "guess").is_ok());
    }
}
