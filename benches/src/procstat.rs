//! What a process costs, read from `/proc/<pid>/`: CPU time (all threads,
//! user + system) and resident memory (now and peak). Linux only; the
//! compare harness samples its servers before and after each workload.

use std::io;

/// `USER_HZ`: the unit of `/proc/<pid>/stat`'s CPU times. Linux fixes it at
/// 100 for user space on every architecture it exports times to.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// One sample of a process.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcSample {
    /// User + system CPU seconds of all its threads so far (10 ms steps).
    pub cpu_secs: f64,
    /// Resident set now, KiB (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident set so far, KiB (`VmHWM`).
    pub peak_rss_kib: u64,
}

/// Samples process `pid`.
pub fn sample(pid: u32) -> io::Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let cpu_secs = cpu_ticks(&stat)
        .map(|t| t as f64 / CLOCK_TICKS_PER_SEC)
        .ok_or_else(|| bad(format!("/proc/{pid}/stat: no utime/stime")))?;
    let kib = |key: &str| status_kib(&status, key).ok_or_else(|| bad(format!("{key} missing")));
    Ok(ProcSample {
        cpu_secs,
        rss_kib: kib("VmRSS:")?,
        peak_rss_kib: kib("VmHWM:")?,
    })
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// utime + stime (fields 14 and 15) of a `stat` line. The command name
/// (field 2) may hold spaces and parentheses, so fields are counted from
/// the last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ")": field 3 (state) is the first.
    let mut f = rest.split_whitespace().skip(14 - 3);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The KiB value of `key` (e.g. `VmRSS:`) in a `status` file.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let line = "4242 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 1 0 100 0 0";
        assert_eq!(cpu_ticks(line), Some(175));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn parses_status_sizes() {
        let s = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(status_kib(s, "VmRSS:"), Some(1024));
        assert_eq!(status_kib(s, "VmHWM:"), Some(2048));
        assert_eq!(status_kib(s, "VmSwap:"), None);
    }

    #[test]
    fn samples_this_process() {
        let me = sample(std::process::id()).expect("own /proc entry");
        assert!(me.rss_kib > 0 && me.peak_rss_kib >= me.rss_kib);
        assert!(me.cpu_secs >= 0.0);
    }
}
