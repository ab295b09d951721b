//! The open-file limit a worker needs: every connection is a file descriptor, and a worker
//! resolving `WORKER_DOMAIN_CONCURRENCY` domains at once holds several per domain. At start
//! the soft `RLIMIT_NOFILE` is raised to the hard limit (an unprivileged process may), then
//! checked against what the concurrency needs: below one descriptor per domain (plus the
//! worker's own) it refuses to start; below the worst case measured it warns.

/// Descriptors the worker holds whatever its concurrency: the database pool, the AWS
/// clients' connections, the metrics listener, standard streams, the runtime's own (epoll,
/// eventfd), the resolver's name-server sockets, with room to spare.
pub const BASE_FDS: u64 = 256;

/// Most descriptors one in-flight domain holds at once: its page connection, up to 8 icon
/// fetches at once (`CANDIDATE_CONCURRENCY` of the resolver), and the idle connections it
/// leaves in the pool for up to 2 s after it finishes (one per host it met: usually 1, 2 with
/// a redirect to `www.`), counted against the domain taking its slot. `bench resolver`
/// prints the peak measured per in-flight domain (BENCHMARKS.md), well under this.
pub const WORST_FDS_PER_DOMAIN: u64 = 12;

/// Why the worker cannot start with the open-file limit it has.
#[derive(Debug, thiserror::Error)]
pub enum FdLimitError {
    /// Reading or raising the limit failed.
    #[error("failed to read or raise the open-file limit (RLIMIT_NOFILE): {0}")]
    System(#[from] std::io::Error),
    /// Not even one descriptor per in-flight domain.
    #[error(
        "the open-file limit is {limit} (hard limit {hard}), but WORKER_DOMAIN_CONCURRENCY={concurrency} needs at least {minimum} ({BASE_FDS} + 1 per domain) and up to {worst} ({BASE_FDS} + {WORST_FDS_PER_DOMAIN} per domain): raise it (`ulimit -n {worst}`, or the container's nofile ulimit) or lower WORKER_DOMAIN_CONCURRENCY"
    )]
    TooLow {
        /// The soft limit after raising it.
        limit: u64,
        /// The hard limit.
        hard: u64,
        /// `WORKER_DOMAIN_CONCURRENCY`.
        concurrency: usize,
        /// [`FdNeeds::minimum`].
        minimum: u64,
        /// [`FdNeeds::worst`].
        worst: u64,
    },
}

/// The descriptors `concurrency` domains in flight need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdNeeds {
    /// Below this the worker refuses to start: one connection per domain and the base.
    pub minimum: u64,
    /// The worst case: [`WORST_FDS_PER_DOMAIN`] per domain and the base; below it the
    /// worker warns.
    pub worst: u64,
}

impl FdNeeds {
    /// What `concurrency` domains in flight need.
    pub fn of(concurrency: usize) -> Self {
        let domains = u64::try_from(concurrency).unwrap_or(u64::MAX);
        Self {
            minimum: BASE_FDS.saturating_add(domains),
            worst: BASE_FDS.saturating_add(domains.saturating_mul(WORST_FDS_PER_DOMAIN)),
        }
    }
}

/// How the limit compares with what the concurrency needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// At least the worst case.
    Enough,
    /// Enough for one descriptor per domain, not for the worst case: connections may fail
    /// with "too many open files" when many domains fetch many icons at once.
    Tight,
    /// Not even one descriptor per domain.
    TooLow,
}

/// Judges `limit` against what `concurrency` needs.
pub fn judge(limit: u64, concurrency: usize) -> Verdict {
    let needs = FdNeeds::of(concurrency);
    if limit >= needs.worst {
        Verdict::Enough
    } else if limit >= needs.minimum {
        Verdict::Tight
    } else {
        Verdict::TooLow
    }
}

/// Raises the soft open-file limit to the hard one, logs it, and checks it against
/// `concurrency`: an error when it is too low, a warning when it is tight. Returns the limit.
pub fn raise_and_check(concurrency: usize) -> Result<u64, FdLimitError> {
    let (before, hard) = rlimit::Resource::NOFILE.get()?;
    // The hard limit, or the most the kernel allows per process when it is unlimited.
    let target = if hard == rlimit::INFINITY {
        kernel_maximum()
    } else {
        hard
    };
    let limit = rlimit::increase_nofile_limit(target)?;
    let needs = FdNeeds::of(concurrency);
    tracing::info!(
        fd_limit.soft = limit,
        fd_limit.before = before,
        fd_limit.hard = hard,
        "open-file limit {limit} (was {before}, hard limit {hard}); {concurrency} domains at once need {} to {}",
        needs.minimum,
        needs.worst
    );
    match judge(limit, concurrency) {
        Verdict::Enough => Ok(limit),
        Verdict::Tight => {
            tracing::warn!(
                fd_limit.soft = limit,
                "the open-file limit {limit} is below the {} that {concurrency} domains at once may need in the worst case; raise it (`ulimit -n`, the container's nofile ulimit) or lower WORKER_DOMAIN_CONCURRENCY",
                needs.worst
            );
            Ok(limit)
        }
        Verdict::TooLow => Err(FdLimitError::TooLow {
            limit,
            hard,
            concurrency,
            minimum: needs.minimum,
            worst: needs.worst,
        }),
    }
}

/// The most descriptors the kernel lets one process open (`fs.nr_open`), for an unlimited
/// hard limit; 1,048,576 (Linux's default) when it cannot be read.
fn kernel_maximum() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(1 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_needs_grow_with_the_concurrency() {
        assert_eq!(
            FdNeeds::of(64),
            FdNeeds {
                minimum: BASE_FDS + 64,
                worst: BASE_FDS + 64 * WORST_FDS_PER_DOMAIN,
            }
        );
        assert_eq!(FdNeeds::of(usize::MAX).worst, u64::MAX);
    }

    #[test]
    fn the_limit_is_judged_against_the_minimum_and_the_worst_case() {
        let needs = FdNeeds::of(1024);
        assert_eq!(judge(needs.worst, 1024), Verdict::Enough);
        assert_eq!(judge(needs.worst - 1, 1024), Verdict::Tight);
        assert_eq!(judge(needs.minimum, 1024), Verdict::Tight);
        assert_eq!(judge(needs.minimum - 1, 1024), Verdict::TooLow);
        // The common default soft limit of 1024 is too low for 1024 domains at once.
        assert_eq!(judge(1024, 1024), Verdict::TooLow);
    }

    #[test]
    fn the_error_says_what_to_do() {
        let needs = FdNeeds::of(1024);
        let error = FdLimitError::TooLow {
            limit: 1024,
            hard: 1024,
            concurrency: 1024,
            minimum: needs.minimum,
            worst: needs.worst,
        }
        .to_string();
        assert!(error.contains("WORKER_DOMAIN_CONCURRENCY=1024"), "{error}");
        assert!(
            error.contains(&format!("ulimit -n {}", needs.worst)),
            "{error}"
        );
    }

    /// Raising never lowers the limit, and the process's limit afterwards is the one returned.
    #[test]
    fn raising_leaves_the_soft_limit_at_least_where_it_was() {
        let (before, _) = rlimit::Resource::NOFILE.get().unwrap();
        let limit = raise_and_check(1).unwrap();
        assert!(limit >= before);
        assert_eq!(rlimit::Resource::NOFILE.get().unwrap().0, limit);
    }
}
