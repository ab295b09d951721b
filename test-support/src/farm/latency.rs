//! How long the farm waits before each response: nothing, a fixed time, or a long-tailed
//! log-normal time drawn per response. A draw depends only on the seed, the host and the path,
//! so a rerun of a benchmark waits exactly as long for the same requests.

use std::{fmt, str::FromStr, time::Duration};

/// The longest log-normal wait: the far tail is cut here (any resolver deadline is shorter).
const MAX_LOG_NORMAL: Duration = Duration::from_secs(60);

/// The wait before each response.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Latency {
    /// Answer at once.
    #[default]
    None,
    /// The same wait before every response.
    Fixed(Duration),
    /// `median × e^(sigma × z)` with `z` standard normal, drawn per (host, path) from `seed`.
    LogNormal {
        /// The median wait.
        median: Duration,
        /// The spread: the p99 is `median × e^(2.326 × sigma)`.
        sigma: f64,
        /// The draws' seed.
        seed: u64,
    },
}

impl Latency {
    /// The real-world mix's latency: median 150 ms, sigma 1.31, so p90 ≈ 0.8 s, p99 ≈ 3.2 s
    /// and mean ≈ 0.35 s per response.
    pub const REAL_WORLD: Self = Self::LogNormal {
        median: Duration::from_millis(150),
        sigma: 1.31,
        seed: 1,
    };

    /// The same latency with another seed (a fixed wait has none).
    #[must_use]
    pub fn with_seed(self, seed: u64) -> Self {
        match self {
            Self::LogNormal { median, sigma, .. } => Self::LogNormal {
                median,
                sigma,
                seed,
            },
            other => other,
        }
    }

    /// The wait before the response to `path` on `host`.
    pub fn for_response(&self, host: &str, path: &str) -> Duration {
        match *self {
            Self::None => Duration::ZERO,
            Self::Fixed(wait) => wait,
            Self::LogNormal {
                median,
                sigma,
                seed,
            } => {
                let mut state =
                    seed ^ fnv1a(host.as_bytes()) ^ fnv1a(path.as_bytes()).rotate_left(32);
                let z = standard_normal(&mut state);
                let wait = median.as_secs_f64() * (sigma * z).exp();
                Duration::try_from_secs_f64(wait)
                    .unwrap_or(MAX_LOG_NORMAL)
                    .min(MAX_LOG_NORMAL)
            }
        }
    }

    /// The mean wait per response (the log-normal mean `median × e^(sigma²/2)`).
    pub fn mean(&self) -> Duration {
        match *self {
            Self::None => Duration::ZERO,
            Self::Fixed(wait) => wait,
            Self::LogNormal { median, sigma, .. } => median.mul_f64((sigma * sigma / 2.0).exp()),
        }
    }
}

/// Why a latency does not parse.
#[derive(Debug, thiserror::Error)]
#[error("expected MILLISECONDS, `lognormal` or `lognormal:MEDIAN_MS:SIGMA`, got {0:?}")]
pub struct InvalidLatency(String);

impl FromStr for Latency {
    type Err = InvalidLatency;

    /// `50` (milliseconds, fixed; `0` for none), `lognormal` ([`Latency::REAL_WORLD`]) or
    /// `lognormal:MEDIAN_MS:SIGMA`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidLatency(text.to_owned());
        let text = text.trim();
        if let Ok(millis) = text.trim_end_matches("ms").parse::<u64>() {
            return Ok(match millis {
                0 => Self::None,
                millis => Self::Fixed(Duration::from_millis(millis)),
            });
        }
        let mut parts = text.split(':');
        if parts.next() != Some("lognormal") {
            return Err(invalid());
        }
        match (parts.next(), parts.next(), parts.next()) {
            (None, None, None) => Ok(Self::REAL_WORLD),
            (Some(median), Some(sigma), None) => {
                let median = Duration::from_millis(median.parse().map_err(|_| invalid())?);
                let sigma: f64 = sigma.parse().map_err(|_| invalid())?;
                if median.is_zero() || !sigma.is_finite() || sigma < 0.0 {
                    return Err(invalid());
                }
                Ok(Self::LogNormal {
                    median,
                    sigma,
                    seed: 1,
                })
            }
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for Latency {
    /// The form [`FromStr`] reads back (the seed apart).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("0"),
            Self::Fixed(wait) => write!(f, "{}", wait.as_millis()),
            Self::LogNormal { median, sigma, .. } => {
                write!(f, "lognormal:{}:{sigma}", median.as_millis())
            }
        }
    }
}

/// FNV-1a: a stable hash (the standard library's may change between releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// splitmix64: the next pseudo-random number of `state`.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform number in (0, 1).
fn uniform(state: &mut u64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "53 random bits")]
    let bits = (splitmix(state) >> 11) as f64;
    (bits + 0.5) / (1_u64 << 53) as f64
}

/// A standard normal number (Box-Muller).
fn standard_normal(state: &mut u64) -> f64 {
    let (u1, u2) = (uniform(state), uniform(state));
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A pseudo-random permutation of `items`, the same for the same `seed` (Fisher-Yates).
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    for i in (1..items.len()).rev() {
        let bound = u64::try_from(i + 1).unwrap_or(u64::MAX);
        let j = usize::try_from(splitmix(&mut state) % bound).unwrap_or(0);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_deterministic_and_follow_the_distribution() {
        let latency = Latency::REAL_WORLD;
        assert_eq!(
            latency.for_response("a.test", "/"),
            latency.for_response("a.test", "/")
        );
        assert_ne!(
            latency.for_response("a.test", "/"),
            latency.with_seed(2).for_response("a.test", "/")
        );
        let mut draws: Vec<Duration> = (0..20_000)
            .map(|n| latency.for_response(&format!("site-{n}.test"), "/"))
            .collect();
        draws.sort_unstable();
        let (median, p99) = (draws[10_000], draws[19_800]);
        assert!(
            (Duration::from_millis(135)..Duration::from_millis(165)).contains(&median),
            "{median:?}"
        );
        assert!(
            (Duration::from_millis(2_500)..Duration::from_millis(4_000)).contains(&p99),
            "{p99:?}"
        );
        assert!(draws.last().is_some_and(|max| *max <= MAX_LOG_NORMAL));
    }

    #[test]
    fn latencies_parse_and_print_back() {
        assert_eq!("0".parse::<Latency>().unwrap(), Latency::None);
        assert_eq!(
            "50".parse::<Latency>().unwrap(),
            Latency::Fixed(Duration::from_millis(50))
        );
        assert_eq!("lognormal".parse::<Latency>().unwrap(), Latency::REAL_WORLD);
        let custom: Latency = "lognormal:200:0.5".parse().unwrap();
        assert_eq!(custom.to_string().parse::<Latency>().unwrap(), custom);
        assert!("fast".parse::<Latency>().is_err());
        assert!("lognormal:0:1".parse::<Latency>().is_err());
        let mean = Latency::REAL_WORLD.mean().as_millis();
        assert!((340..370).contains(&mean), "{mean}");
    }

    #[test]
    fn a_shuffle_is_a_permutation_fixed_by_its_seed() {
        let mut a: Vec<u32> = (0..100).collect();
        let mut b = a.clone();
        shuffle(&mut a, 7);
        shuffle(&mut b, 7);
        assert_eq!(a, b);
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        a.sort_unstable();
        assert_eq!(a, (0..100).collect::<Vec<_>>());
    }
}
