//! Per-client rate limiting: one token bucket per authenticated client, held in memory. The
//! same buckets, keyed by peer address, count failed authentications
//! ([`crate::auth_failures`]).
//!
//! Each api instance keeps its own buckets, so N instances behind a load balancer allow a
//! client up to N times the configured rate. That is enough to stop one key from monopolising
//! an instance; a global limit would need shared state (PostgreSQL or Redis) and is not worth
//! a round trip on every request yet.
//!
//! A bucket holds up to `burst` tokens and gains `per_second` tokens a second; a request takes
//! one or is refused with the time until one is available. It is kept in the GCRA form (as in
//! `governor`): one instant per client, the "theoretical arrival time" when the bucket will be
//! full again, so the arithmetic is exact integer `Duration`s and waiting the returned time is
//! always enough. A full bucket behaves exactly like a missing one, so buckets that have
//! refilled are dropped in a periodic sweep: memory is bounded by the clients active within
//! the last sweep interval (and only authenticated clients get a bucket, so unknown keys
//! cannot grow the map). Written by hand rather than with `governor`: about as short as wiring
//! it, with no extra dependency, and 0 meaning "off" falls out naturally.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use uuid::Uuid;

/// How often idle (refilled) buckets are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Token buckets of every client (or other key) seen recently.
#[derive(Debug)]
pub struct RateLimiter<K = Uuid> {
    /// `None` when rate limiting is disabled.
    rate: Option<Rate>,
    state: Mutex<Buckets<K>>,
}

#[derive(Debug, Clone, Copy)]
struct Rate {
    /// Time to gain one token.
    interval: Duration,
    /// How far the bucket's full time may lie ahead: `interval * (burst - 1)`.
    tolerance: Duration,
}

#[derive(Debug)]
struct Buckets<K> {
    /// Per client, when its bucket will be full again (in the past when it is full).
    full_at: HashMap<K, Instant>,
    last_sweep: Instant,
}

impl<K: Hash + Eq + Copy> RateLimiter<K> {
    /// A limiter allowing `burst` requests at once and `per_second` on average; either being
    /// 0 disables it.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let interval = (per_second > 0).then(|| Duration::from_secs(1) / per_second);
        Self::with_rate(interval, burst)
    }

    /// A limiter allowing `count` at once and `count` per `window` on average (a token comes
    /// back every `window / count`); `count` 0 or an empty window disables it.
    pub fn per_window(count: u32, window: Duration) -> Self {
        let interval = (count > 0 && !window.is_zero()).then(|| window / count);
        Self::with_rate(interval, count)
    }

    /// A token every `interval` (none: disabled), `burst` at once (0: disabled).
    fn with_rate(interval: Option<Duration>, burst: u32) -> Self {
        let rate = interval.filter(|_| burst > 0).map(|interval| Rate {
            interval,
            tolerance: interval * (burst - 1),
        });
        Self {
            rate,
            state: Mutex::new(Buckets {
                full_at: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }

    /// Takes a token for `client`, or says how long until one is available. A refused request
    /// takes nothing.
    pub fn check(&self, client: K) -> Result<(), Duration> {
        self.check_at(client, Instant::now(), true)
    }

    /// Whether `key` has a token, without taking it: `Err` with the time until it has one.
    pub fn peek(&self, key: K) -> Result<(), Duration> {
        self.check_at(key, Instant::now(), false)
    }

    fn check_at(&self, client: K, now: Instant, take: bool) -> Result<(), Duration> {
        let Some(rate) = self.rate else {
            return Ok(());
        };
        // The critical section is a few comparisons; a poisoned lock still holds consistent
        // instants (nothing in it can panic half-way), so keep using it.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if now.saturating_duration_since(state.last_sweep) >= SWEEP_EVERY {
            state.full_at.retain(|_, full_at| *full_at > now);
            state.last_sweep = now;
        }
        let full_at = state.full_at.get(&client).map_or(now, |at| (*at).max(now));
        let ahead = full_at - now;
        if ahead > rate.tolerance {
            return Err(ahead - rate.tolerance);
        }
        if take {
            state.full_at.insert(client, full_at + rate.interval);
        }
        Ok(())
    }

    /// Clients with a bucket (for tests of the eviction).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .full_at
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_the_rate_applies() {
        let limiter = RateLimiter::new(2, 3);
        let client = Uuid::now_v7();
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check_at(client, start, true), Ok(()));
        }
        let wait = limiter.check_at(client, start, true).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Half a second later there is exactly one token again, and then none.
        let later = start + Duration::from_millis(500);
        assert_eq!(limiter.check_at(client, later, true), Ok(()));
        assert!(limiter.check_at(client, later, true).is_err());
    }

    #[test]
    fn refused_requests_do_not_cost_tokens() {
        let limiter = RateLimiter::new(1, 1);
        let client = Uuid::now_v7();
        let start = Instant::now();
        assert!(limiter.check_at(client, start, true).is_ok());
        for ms in [100, 200, 900] {
            assert!(
                limiter
                    .check_at(client, start + Duration::from_millis(ms), true)
                    .is_err()
            );
        }
        assert!(
            limiter
                .check_at(client, start + Duration::from_secs(1), true)
                .is_ok()
        );
    }

    #[test]
    fn clients_have_separate_buckets() {
        let limiter = RateLimiter::new(1, 1);
        let now = Instant::now();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(limiter.check_at(a, now, true).is_ok());
        assert!(limiter.check_at(a, now, true).is_err());
        assert!(limiter.check_at(b, now, true).is_ok());
    }

    #[test]
    fn a_peek_takes_nothing() {
        let limiter = RateLimiter::per_window(2, Duration::from_secs(60));
        let key = 7_u32;
        assert!(limiter.peek(key).is_ok());
        assert!(limiter.check(key).is_ok());
        assert!(limiter.peek(key).is_ok());
        assert!(limiter.check(key).is_ok());
        let wait = limiter.peek(key).unwrap_err();
        assert!(
            wait > Duration::from_secs(29) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
    }

    #[test]
    fn zero_disables() {
        for limiter in [RateLimiter::new(0, 10), RateLimiter::new(10, 0)] {
            let client = Uuid::now_v7();
            for _ in 0..1000 {
                assert!(limiter.check(client).is_ok());
            }
            assert_eq!(limiter.tracked(), 0);
        }
    }

    #[test]
    fn refilled_buckets_are_evicted_and_busy_ones_kept() {
        let limiter = RateLimiter::new(1, 10);
        let start = Instant::now();
        let idle = Uuid::now_v7();
        let busy = Uuid::now_v7();
        assert!(limiter.check_at(idle, start, true).is_ok());
        for _ in 0..10 {
            assert!(
                limiter
                    .check_at(busy, start + SWEEP_EVERY - Duration::from_secs(5), true)
                    .is_ok()
            );
        }
        assert_eq!(limiter.tracked(), 2);
        // At the sweep `idle` has long refilled; `busy` has 5 of its 10 tokens back.
        let sweep = start + SWEEP_EVERY;
        assert!(limiter.check_at(Uuid::now_v7(), sweep, true).is_ok());
        assert_eq!(
            limiter.tracked(),
            2,
            "idle dropped, busy and the new one kept"
        );
        assert!(limiter.check_at(busy, sweep, true).is_ok());
    }
}
