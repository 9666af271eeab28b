//! The standard process metrics of the Prometheus client libraries
//! (`process_resident_memory_bytes`, `process_virtual_memory_bytes`,
//! `process_cpu_seconds_total`, `process_open_fds`, `process_max_fds`,
//! `process_start_time_seconds`, `process_threads`), read from `/proc/self`
//! on Linux at each scrape. Other systems have none of them.
//!
//! The parsers are pure functions of the files' text, unit-tested below.
//! Clock ticks (`utime`, `stime`, `starttime` of `/proc/self/stat`) are
//! counted in `USER_HZ`, which Linux fixes at 100 for user space on the
//! architectures we build for (reading `sysconf(_SC_CLK_TCK)` would need
//! `unsafe`, which the crate forbids).

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Counter, Gauge, Opts};

/// Clock ticks per second of `/proc/self/stat` (`USER_HZ`).
const TICKS_PER_SECOND: f64 = 100.0;

/// What portcullis reads from `/proc/self/stat` (proc(5)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Time spent in user mode, in clock ticks (field 14).
    pub utime: u64,
    /// Time spent in kernel mode, in clock ticks (field 15).
    pub stime: u64,
    /// Threads (field 20).
    pub threads: u64,
    /// Start time after boot, in clock ticks (field 22).
    pub start_ticks: u64,
    /// Virtual memory size in bytes (field 23).
    pub virtual_bytes: u64,
}

/// Parses `/proc/self/stat`. The command name (field 2) is in parentheses
/// and may hold spaces and parentheses itself: fields are counted from the
/// last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    // rest[0] is field 3 (state).
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime: field(14)?,
        stime: field(15)?,
        threads: field(20)?,
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
    })
}

/// Resident memory in bytes: `VmRSS` of `/proc/self/status` (in kB).
pub fn parse_status_rss(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// The soft limit on open files, from `/proc/self/limits` (`None` when
/// unlimited).
pub fn parse_max_fds(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
}

/// The boot time in seconds since the epoch: `btime` of `/proc/stat`.
pub fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Seconds from clock ticks.
#[allow(clippy::cast_precision_loss)] // ticks stay far below 2^52
fn seconds(ticks: u64) -> f64 {
    ticks as f64 / TICKS_PER_SECOND
}

/// Bytes and counts as gauge values.
#[allow(clippy::cast_precision_loss)] // exact below 2^53 (8 PiB)
fn value(n: u64) -> f64 {
    n as f64
}

/// The collector registered with the metrics registry: reads `/proc` at
/// each scrape and sets its metrics.
pub struct ProcessCollector {
    resident: Gauge,
    virtual_memory: Gauge,
    cpu: Counter,
    open_fds: Gauge,
    max_fds: Gauge,
    start_time: Gauge,
    threads: Gauge,
    descs: Vec<Desc>,
}

impl ProcessCollector {
    /// The collector with its seven metrics.
    pub fn new() -> prometheus::Result<Self> {
        let gauge = |name: &str, help: &str| Gauge::with_opts(Opts::new(name, help));
        let resident = gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
        )?;
        let virtual_memory = gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
        )?;
        let cpu = Counter::with_opts(Opts::new(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        ))?;
        let open_fds = gauge("process_open_fds", "Number of open file descriptors.")?;
        let max_fds = gauge(
            "process_max_fds",
            "Maximum number of open file descriptors.",
        )?;
        let start_time = gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
        )?;
        let threads = gauge("process_threads", "Number of OS threads in the process.")?;
        let descs = [
            resident.desc(),
            virtual_memory.desc(),
            cpu.desc(),
            open_fds.desc(),
            max_fds.desc(),
            start_time.desc(),
            threads.desc(),
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        Ok(Self {
            resident,
            virtual_memory,
            cpu,
            open_fds,
            max_fds,
            start_time,
            threads,
            descs,
        })
    }

    /// Reads `/proc` and sets the metrics; a file that cannot be read or
    /// parsed leaves its metrics as they were.
    fn update(&self) {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        if let Some(stat) = read("/proc/self/stat").as_deref().and_then(parse_stat) {
            let cpu = seconds(stat.utime + stat.stime);
            let delta = cpu - self.cpu.get();
            if delta > 0.0 {
                self.cpu.inc_by(delta);
            }
            self.threads.set(value(stat.threads));
            self.virtual_memory.set(value(stat.virtual_bytes));
            if let Some(boot) = read("/proc/stat").as_deref().and_then(parse_boot_time) {
                self.start_time.set(value(boot) + seconds(stat.start_ticks));
            }
        }
        if let Some(rss) = read("/proc/self/status")
            .as_deref()
            .and_then(parse_status_rss)
        {
            self.resident.set(value(rss));
        }
        if let Some(max) = read("/proc/self/limits").as_deref().and_then(parse_max_fds) {
            self.max_fds.set(value(max));
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            // Less the descriptor of the directory being read.
            let open = u64::try_from(dir.count()).unwrap_or(u64::MAX);
            self.open_fds.set(value(open.saturating_sub(1)));
        }
    }
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.update();
        [
            self.resident.collect(),
            self.virtual_memory.collect(),
            self.cpu.collect(),
            self.open_fds.collect(),
            self.max_fds.collect(),
            self.start_time.collect(),
            self.threads.collect(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line, with a command name holding a space and a parenthesis.
    const STAT: &str = "4242 (tokio rt) x) S 1 4242 4242 0 -1 4194560 2851 0 0 0 \
        157 43 0 0 20 0 9 0 123456 1234567168 5120 18446744073709551615 1 1 0 0 0 0 0 \
        4096 17987 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        assert_eq!(
            parse_stat(STAT),
            Some(Stat {
                utime: 157,
                stime: 43,
                threads: 9,
                start_ticks: 123_456,
                virtual_bytes: 1_234_567_168,
            })
        );
        assert!((seconds(157 + 43) - 2.0).abs() < f64::EPSILON);
    }

    #[test]
    fn malformed_stat_is_none() {
        for text in [
            "",
            "4242 (x",
            "4242 (x) S 1 2",
            "4242 (x) S a b c d e f g h i j k l m",
        ] {
            assert_eq!(parse_stat(text), None, "{text:?}");
        }
    }

    #[test]
    fn status_gives_the_resident_size_in_bytes() {
        let status = "Name:\tportcullis\nVmPeak:\t  99999 kB\nVmSize:\t  88888 kB\n\
                      VmRSS:\t   20480 kB\nThreads:\t9\n";
        assert_eq!(parse_status_rss(status), Some(20_480 * 1024));
        assert_eq!(parse_status_rss("Name:\tx\n"), None);
    }

    #[test]
    fn limits_give_the_soft_limit_on_open_files() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             63704                63704                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_max_fds(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_max_fds(unlimited), None);
    }

    #[test]
    fn proc_stat_gives_the_boot_time() {
        let stat = "cpu  1 2 3 4\nintr 5\nctxt 6\nbtime 1764590000\nprocesses 7\n";
        assert_eq!(parse_boot_time(stat), Some(1_764_590_000));
        assert_eq!(parse_boot_time("cpu 1\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads_plausibly() {
        let c = ProcessCollector::new().unwrap();
        c.update();
        assert!(c.resident.get() > 1_000_000.0);
        assert!(c.virtual_memory.get() >= c.resident.get());
        assert!(c.threads.get() >= 1.0);
        assert!(c.open_fds.get() >= 3.0 && c.open_fds.get() <= c.max_fds.get());
        assert!(c.start_time.get() > 1_700_000_000.0);
    }
}
