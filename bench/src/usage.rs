//! Memory and CPU use of processes, from `/proc` (Linux only, like the deployment).
//!
//! CPU is sampled before and after a scenario and reported in percent of one core, for the
//! groups that matter: the service under load, the benchmark itself (the load generator or
//! the bare publisher), the broker, PostgreSQL, and "other": whatever else kept the shared
//! cores busy meanwhile (another engineer's build), which explains a noisy round.

use std::collections::HashMap;
use std::time::Instant;

/// Resident memory of one process, in kB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: now.
    pub rss_kb: u64,
    /// `VmHWM`: the most it has been since it started.
    pub peak_kb: u64,
}

impl CpuUse {
    /// The CPU time one group used over the interval, in seconds.
    pub fn seconds_of(&self, group: &str) -> Option<f64> {
        self.groups
            .iter()
            .find(|(name, _)| *name == group)
            .map(|(_, percent)| percent / 100.0 * self.seconds)
    }
}

pub fn memory(pid: u32) -> std::io::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(parse_status(&status))
}

/// The `VmRSS` and `VmHWM` lines of `/proc/<pid>/status` ("VmRSS:\t   12345 kB").
fn parse_status(status: &str) -> Memory {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kb: field("VmRSS:"),
        peak_kb: field("VmHWM:"),
    }
}

/// User plus system CPU time of a process, in clock ticks, from `/proc/<pid>/stat`.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    // The command name is in parentheses and may itself contain spaces and parentheses; the
    // fields after the last ')' start with the state (field 3), so utime (field 14) and stime
    // (field 15) are the 12th and 13th of them.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Busy and total ticks of the whole machine, from the first line of `/proc/stat`.
fn parse_machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4).unwrap_or(&0);
    Some((total - idle, total))
}

/// A set of processes counted together.
#[derive(Debug, Clone)]
pub enum Who {
    Pid(u32),
    /// Every process with this command name (`/proc/<pid>/comm`): `beam.smp`, `postgres`.
    Command(&'static str),
}

/// Which groups to watch, by name.
#[derive(Debug, Clone)]
pub struct Watch {
    groups: Vec<(&'static str, Who)>,
    ticks_per_sec: f64,
}

#[derive(Debug, Clone)]
pub struct Sample {
    at: Instant,
    machine: Option<(u64, u64)>,
    /// Per group, the ticks of each of its processes.
    groups: Vec<HashMap<u32, u64>>,
}

/// CPU use over an interval, in percent of one core (up to 100 × cores).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuUse {
    pub groups: Vec<(&'static str, f64)>,
    /// The length of the interval.
    pub seconds: f64,
    /// Everything else the machine did meanwhile.
    pub other: Option<f64>,
}

impl Watch {
    pub fn new(groups: Vec<(&'static str, Who)>) -> Self {
        Self {
            groups,
            ticks_per_sec: clock_ticks_per_sec(),
        }
    }

    pub fn sample(&self) -> Sample {
        let by_command = commands();
        let groups = self
            .groups
            .iter()
            .map(|(_, who)| {
                let pids: Vec<u32> = match who {
                    Who::Pid(pid) => vec![*pid],
                    Who::Command(name) => by_command
                        .iter()
                        .filter(|(_, comm)| comm == name)
                        .map(|(pid, _)| *pid)
                        .collect(),
                };
                pids.into_iter()
                    .filter_map(|pid| Some((pid, process_ticks(pid)?)))
                    .collect()
            })
            .collect();
        Sample {
            at: Instant::now(),
            machine: std::fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|stat| parse_machine_ticks(&stat)),
            groups,
        }
    }

    /// What each group used between two samples. A process born in between counts from
    /// zero; one that ended in between is lost (short-lived processes are rare here).
    pub fn between(&self, before: &Sample, after: &Sample) -> CpuUse {
        let seconds = after.at.duration_since(before.at).as_secs_f64().max(1e-6);
        let percent = |ticks: u64| ticks as f64 / self.ticks_per_sec / seconds * 100.0;
        let groups: Vec<(&'static str, f64)> = self
            .groups
            .iter()
            .zip(before.groups.iter().zip(&after.groups))
            .map(|((name, _), (then, now))| {
                let ticks: u64 = now
                    .iter()
                    .map(|(pid, ticks)| ticks.saturating_sub(*then.get(pid).unwrap_or(&0)))
                    .sum();
                (*name, percent(ticks))
            })
            .collect();
        let other = match (before.machine, after.machine) {
            (Some((busy0, total0)), Some((busy1, total1))) if total1 > total0 => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
                let machine = (busy1 - busy0) as f64 / (total1 - total0) as f64 * 100.0 * cores;
                let ours: f64 = groups.iter().map(|(_, p)| p).sum();
                Some((machine - ours).max(0.0))
            }
            _ => None,
        };
        CpuUse {
            groups,
            seconds,
            other,
        }
    }
}

fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_ticks(&stat)
}

/// Every process and its command name.
fn commands() -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            Some((pid, comm.trim_end().to_owned()))
        })
        .collect()
}

/// `getconf CLK_TCK`; 100 on every Linux we run on, used if `getconf` is missing.
fn clock_ticks_per_sec() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_gives_rss_and_peak() {
        let status =
            "Name:\tcollector\nVmPeak:\t  300000 kB\nVmHWM:\t   45678 kB\nVmRSS:\t   12345 kB\n";
        assert_eq!(
            parse_status(status),
            Memory {
                rss_kb: 12345,
                peak_kb: 45678
            }
        );
    }

    #[test]
    fn stat_ticks_survive_odd_command_names() {
        let stat =
            "4242 (tokio (w) 1) S 1 4242 4242 0 -1 4194560 500 0 0 0 170 30 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_stat_ticks(stat), Some(200));
    }

    #[test]
    fn machine_ticks_leave_out_idle_and_iowait() {
        let stat = "cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(parse_machine_ticks(stat), Some((160, 1000)));
    }

    #[test]
    fn our_own_process_is_measured() {
        let memory = memory(std::process::id()).expect("own status");
        assert!(memory.rss_kb > 0 && memory.peak_kb >= memory.rss_kb);
        let watch = Watch::new(vec![("bench", Who::Pid(std::process::id()))]);
        let before = watch.sample();
        let after = watch.sample();
        assert_eq!(watch.between(&before, &after).groups[0].0, "bench");
    }
}
