//! What the benchmarks read off the machine: CPU time, peak memory, latency percentiles.

use std::time::Duration;

/// CPU time (user + system) used so far by process `pid` (`self` for this one).
pub fn cpu_time(pid: &str) -> Duration {
    stat_cpu_time(&format!("/proc/{pid}/stat"))
}

/// CPU time used so far by the calling thread.
fn thread_cpu_time() -> Duration {
    stat_cpu_time("/proc/thread-self/stat")
}

fn stat_cpu_time(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 1000 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> u64 {
    // Linux reports times in USER_HZ, which is 100 on every mainstream configuration.
    100
}

/// Peak resident memory of process `pid` in MiB (`VmHWM`).
pub fn peak_rss_mib(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// The `q`-quantile (0.0 to 1.0) of `samples`, which it sorts.
pub fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a slice of samples"
    )]
    let index = ((samples.len() - 1) as f64 * q).round() as usize;
    samples[index.min(samples.len() - 1)]
}

/// Milliseconds with two decimals.
pub fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

/// Resident memory of process `pid` now, in MiB (`VmRSS`).
pub fn rss_mib(pid: &str) -> f64 {
    status_kib(pid, "VmRSS:").map_or(0.0, |kib| kib / 1024.0)
}

fn status_kib(pid: &str, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| value.split_whitespace().next()?.parse::<f64>().ok())
}

/// Waits until process `pid` has started: its resident memory read, non-zero and unchanged
/// (within 1 %) for a second, or `within` passed. A process just spawned has not run its
/// program yet, so its memory then says nothing of it. Returns the last reading, in MiB.
pub async fn settled_rss_mib(pid: &str, within: Duration) -> f64 {
    let started = std::time::Instant::now();
    let (mut last, mut steady_since) = (rss_mib(pid), std::time::Instant::now());
    while started.elapsed() < within {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = rss_mib(pid);
        if now <= 0.0 || (now - last).abs() > last * 0.01 {
            steady_since = std::time::Instant::now();
        } else if steady_since.elapsed() >= Duration::from_secs(1) {
            return now;
        }
        last = now;
    }
    last
}

/// File descriptors process `pid` has open now (entries of `/proc/<pid>/fd`).
pub fn open_fds(pid: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// Peaks of a process's memory and open files, sampled every 100 ms by [`Peaks::watch`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PeakFigures {
    /// Resident memory when watching started, MiB.
    pub rss_at_start_mib: f64,
    /// Peak resident memory (`VmHWM`), MiB.
    pub peak_rss_mib: f64,
    /// Open files when watching started.
    pub fds_at_start: usize,
    /// Most open files seen in one sample.
    pub peak_fds: usize,
    /// CPU time the sampling itself took (counting the entries of `/proc/<pid>/fd` is not
    /// free with thousands of sockets open): part of the process's CPU time when it watches
    /// itself, to be taken off what is reported as the work's.
    pub sampler_cpu: Duration,
}

impl PeakFigures {
    /// Peak memory above the start per in-flight domain, in KiB.
    pub fn rss_kib_per_domain(&self, concurrency: usize) -> f64 {
        #[expect(clippy::cast_precision_loss, reason = "a concurrency")]
        let domains = concurrency.max(1) as f64;
        (self.peak_rss_mib - self.rss_at_start_mib).max(0.0) * 1024.0 / domains
    }

    /// The larger of each peak of `self` and `other` (the starts of `self`).
    #[must_use]
    pub fn max_with(self, other: Self) -> Self {
        Self {
            peak_rss_mib: self.peak_rss_mib.max(other.peak_rss_mib),
            peak_fds: self.peak_fds.max(other.peak_fds),
            ..self
        }
    }

    /// Peak open files above the start per in-flight domain.
    pub fn fds_per_domain(&self, concurrency: usize) -> f64 {
        #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
        let (fds, domains) = (
            self.peak_fds.saturating_sub(self.fds_at_start) as f64,
            concurrency.max(1) as f64,
        );
        fds / domains
    }
}

/// Samples a process's `VmHWM` and open files every 100 ms until stopped, on a thread of its
/// own whose CPU time is reported ([`PeakFigures::sampler_cpu`]).
#[derive(Debug)]
pub struct Peaks {
    figures: std::sync::Arc<std::sync::Mutex<PeakFigures>>,
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<Duration>,
}

impl Peaks {
    /// Starts watching process `pid` (`self` for this one).
    pub fn watch(pid: &str) -> Self {
        let figures = std::sync::Arc::new(std::sync::Mutex::new(PeakFigures {
            rss_at_start_mib: rss_mib(pid),
            peak_rss_mib: peak_rss_mib(pid),
            fds_at_start: open_fds(pid),
            peak_fds: open_fds(pid),
            sampler_cpu: Duration::ZERO,
        }));
        let (shared, pid) = (figures.clone(), pid.to_owned());
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(Duration::from_millis(100))
            {
                sample(&shared, &pid);
            }
            thread_cpu_time()
        });
        Self {
            figures,
            stop,
            thread,
        }
    }

    /// The peaks so far (a last sample taken now).
    pub fn now(&self, pid: &str) -> PeakFigures {
        sample(&self.figures, pid);
        *self
            .figures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stops sampling and returns the peaks, with a last sample taken now.
    pub fn stop(self, pid: &str) -> PeakFigures {
        let _ = self.stop.send(());
        let figures = self.now(pid);
        let sampler_cpu = self.thread.join().unwrap_or_default();
        PeakFigures {
            sampler_cpu,
            ..figures
        }
    }
}

fn sample(figures: &std::sync::Mutex<PeakFigures>, pid: &str) {
    let (hwm, fds) = (peak_rss_mib(pid), open_fds(pid));
    let mut figures = figures
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // A process gone reads as zeros: keep what was seen.
    figures.peak_rss_mib = figures.peak_rss_mib.max(hwm);
    figures.peak_fds = figures.peak_fds.max(fds);
}
