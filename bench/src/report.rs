//! The one table the benchmark prints: every scenario's min/median/max over the rounds, the
//! ratio to its ceiling from the same rounds, the target set for this 2-core machine and
//! whether it is met, the memory of each service, where the CPU went, and the delivery check.

use std::fmt::Write;
use std::time::Duration;

use crate::drain::{COPIES, Drain};
use crate::histogram::Histogram;
use crate::machine::Machine;
use crate::options::Options;
use crate::rounds::{BaselineRuns, HttpRun, PROBE_RATE, Round};
use crate::services::Service;
use crate::stats::{Latencies, Spread};
use crate::table::{Align, Table, thousands};
use crate::usage::{CpuUse, Memory};

/// The targets on this 2-core machine, as docs/performance.md lists them.
const SINGLE_VS_CEILING: f64 = 0.7;
const BATCH_VS_CEILING: f64 = 0.9;
const HALF_RATE_P99: Duration = Duration::from_millis(20);
const DRAIN_PER_SEC: f64 = 10_000.0;
const DRAIN_VS_COPY: f64 = 0.5;
const IDLE_MIB: f64 = 30.0;
const PEAK_MIB: f64 = 100.0;
/// A collector change meant to save CPU, against the baseline (`--baseline-collector`).
const CPU_VS_BASELINE: f64 = 0.7;

/// Which part of a round a row is about.
type Pick<T> = fn(&Round) -> &T;

pub struct Report {
    pub options: Options,
    pub machine: Machine,
    pub rounds: Vec<Round>,
    /// `None` with `--scenarios collector`.
    pub drain: Option<Drain>,
    /// Each service's memory when idle after start, and its high-water mark after its load.
    pub memory: Vec<(Service, Memory, Memory)>,
    /// The baseline collector's (`--baseline-collector`), idle and peak.
    pub baseline_memory: Option<(Memory, Memory)>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn render(&mut self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let o = &self.options;
        let _ = writeln!(
            out,
            "frontmon benchmark: {} round(s) × {:.0} s per scenario, {} HTTP connections, \
             bare publisher with {} unconfirmed over {} channels, {}",
            o.rounds,
            o.duration.as_secs_f64(),
            o.connections,
            thousands(o.window as f64),
            o.channels,
            if self.drain.is_some() {
                format!("drain of {} events", thousands(o.drain_events as f64))
            } else {
                "collector scenarios only".to_owned()
            },
        );
        let _ = writeln!(
            out,
            "machine: {} cores, {}, {} RAM, Linux {}; {}; {}\n",
            m.cores, m.cpu_model, m.memory, m.kernel, m.rabbitmq, m.postgres
        );
        out.push_str(&self.table().render());
        for note in &self.notes {
            let _ = writeln!(out, "\nnote: {note}");
        }
        out
    }

    fn table(&mut self) -> Table {
        let mut table = Table::new(&[
            ("measurement", Align::Left),
            ("unit", Align::Left),
            ("min", Align::Right),
            ("median", Align::Right),
            ("max", Align::Right),
            ("ratio: median (min–max), or detail", Align::Left),
            ("target", Align::Left),
            ("met", Align::Left),
        ]);
        let ceilings: Vec<f64> = self
            .rounds
            .iter()
            .map(|r| r.ceiling.published.per_sec())
            .collect();

        table.row(
            [
                format!(
                    "ceiling: bare lapin publisher, confirms, {} unconfirmed / {} channels",
                    thousands(self.options.window as f64),
                    self.options.channels
                ),
                "msg/s".into(),
            ]
            .into_iter()
            .chain(spread_cells(
                Spread::of(ceilings.iter().copied()),
                thousands,
            ))
            .chain(["1 = ceiling".into()]),
        );

        let scenarios: [(&str, Pick<HttpRun>, f64); 3] = [
            (
                "collector, single ~1 KB events",
                |r| &r.single,
                SINGLE_VS_CEILING,
            ),
            ("collector, batches of 20", |r| &r.batch, BATCH_VS_CEILING),
            (
                "collector, gzip'd batches of 20",
                |r| &r.gzip,
                BATCH_VS_CEILING,
            ),
        ];
        for (index, (label, pick, target)) in scenarios.into_iter().enumerate() {
            let rates: Vec<f64> = self
                .rounds
                .iter()
                .map(|r| pick(r).load.events_per_sec())
                .collect();
            let ratios = Spread::of(rates.iter().zip(&ceilings).map(|(rate, c)| rate / c));
            table.row(
                [
                    format!("{label}, {} connections", self.options.connections),
                    "events/s".into(),
                ]
                .into_iter()
                .chain(spread_cells(Spread::of(rates), thousands))
                .chain([
                    ratio_cell(ratios, "ceiling"),
                    format!("≥ {target} × ceiling"),
                    verdict(ratios.map(|r| r.median >= target)),
                ]),
            );
            if index == 0 {
                for (p, name) in [(50.0, "p50"), (99.0, "p99")] {
                    let latencies = self
                        .rounds
                        .iter_mut()
                        .filter_map(|r| r.single.load.latencies.percentile(p));
                    table.row(
                        [format!("  {name} latency, saturated"), "ms".into()]
                            .into_iter()
                            .chain(spread_cells(
                                Spread::of(latencies.map(|d| d.as_secs_f64() * 1000.0)),
                                millis,
                            )),
                    );
                }
                let half_rate = Spread::of(self.rounds.iter().map(|r| r.half_rate));
                let half_label = half_rate.map_or_else(|| "?".into(), |s| thousands(s.median));
                let p99s = Spread::of(
                    self.rounds
                        .iter_mut()
                        .filter_map(|r| r.half.load.latencies.percentile(99.0))
                        .map(|d| d.as_secs_f64() * 1000.0),
                );
                let detail = latency_detail(&mut self.rounds, |r| &mut r.half.load.latencies);
                table.row(
                    [
                        format!("  p99 latency at half that rate (open loop, ~{half_label} req/s)"),
                        "ms".into(),
                    ]
                    .into_iter()
                    .chain(spread_cells(p99s, millis))
                    .chain([
                        detail,
                        format!("< {} ms", HALF_RATE_P99.as_millis()),
                        verdict(p99s.map(|s| s.median < HALF_RATE_P99.as_secs_f64() * 1000.0)),
                    ]),
                );
                let confirms: Vec<&Histogram> = self
                    .rounds
                    .iter()
                    .filter_map(|r| r.half_confirms.as_ref())
                    .collect();
                let in_ms = |p: f64| {
                    Spread::of(
                        confirms
                            .iter()
                            .filter_map(|h| h.percentile(p))
                            .map(|s| s * 1000.0),
                    )
                };
                let median_of =
                    |spread: Option<Spread>| spread.map_or("–".into(), |s| millis(s.median));
                table.row(
                    [
                        "    of which publish→confirm inside the collector, p99 (its histogram)"
                            .to_owned(),
                        "ms".into(),
                    ]
                    .into_iter()
                    .chain(spread_cells(in_ms(99.0), millis))
                    .chain([format!(
                        "p50 {} · mean {} ms; interpolated in ×2 buckets",
                        median_of(in_ms(50.0)),
                        median_of(Spread::of(
                            confirms.iter().filter_map(|h| h.mean()).map(|s| s * 1000.0)
                        )),
                    )]),
                );
                let probe_p99s = Spread::of(
                    self.rounds
                        .iter_mut()
                        .filter_map(|r| r.probe.latencies.percentile(99.0))
                        .map(|d| d.as_secs_f64() * 1000.0),
                );
                let detail = latency_detail(&mut self.rounds, |r| &mut r.probe.latencies);
                table.row(
                    [
                        format!(
                            "    broker probe meanwhile: bare publisher, {PROBE_RATE:.0} msg/s on its own connection, p99 publish→confirm"
                        ),
                        "ms".into(),
                    ]
                    .into_iter()
                    .chain(spread_cells(probe_p99s, millis))
                    .chain([detail]),
                );
                let ceiling_p99s = Spread::of(
                    self.rounds
                        .iter_mut()
                        .filter_map(|r| r.ceiling_half.paced.latencies.percentile(99.0))
                        .map(|d| d.as_secs_f64() * 1000.0),
                );
                let detail =
                    latency_detail(&mut self.rounds, |r| &mut r.ceiling_half.paced.latencies);
                table.row(
                    [
                        format!(
                            "  ceiling at the same rate: bare publisher, open loop, p99 publish→confirm (~{half_label} msg/s)"
                        ),
                        "ms".into(),
                    ]
                    .into_iter()
                    .chain(spread_cells(ceiling_p99s, millis))
                    .chain([detail]),
                );
            }
        }

        if let Some(drain) = &self.drain {
            let vs_copy = drain.processor.per_sec() / drain.copy.per_sec();
            table.row([
                format!(
                    "processor drain, {} queued events, from its start to the last row",
                    thousands(drain.events as f64)
                ),
                "events/s".into(),
                String::new(),
                thousands(drain.processor.per_sec()),
                String::new(),
                format!("{vs_copy:.2} × COPY"),
                format!(
                    "≥ {} /s and ≥ {DRAIN_VS_COPY} × COPY",
                    thousands(DRAIN_PER_SEC)
                ),
                verdict(Some(
                    drain.processor.per_sec() >= DRAIN_PER_SEC && vs_copy >= DRAIN_VS_COPY,
                )),
            ]);
            table.row(
                [
                    format!(
                        "  bare COPY of the rows it stored into a table like events, {COPIES} times"
                    ),
                    "rows/s".into(),
                ]
                .into_iter()
                .chain(spread_cells(
                    Spread::of(drain.copies.iter().map(|rate| rate.per_sec())),
                    thousands,
                ))
                .chain(["1 = ceiling (the median)".into()]),
            );
            table.row([
                "  former ceiling: COPY of the published bodies, no issue (median)".into(),
                "rows/s".into(),
                String::new(),
                thousands(drain.published_copy.per_sec()),
                String::new(),
                format!(
                    "drain {:.2} × this",
                    drain.processor.per_sec() / drain.published_copy.per_sec()
                ),
            ]);
            if let Some(distinct) = &drain.distinct {
                let per_sec = distinct.processor.per_sec();
                table.row([
                    format!(
                        "  the same drain over {} distinct errors (issues) instead of one",
                        thousands(distinct.errors as f64)
                    ),
                    "events/s".into(),
                    String::new(),
                    thousands(per_sec),
                    String::new(),
                    format!(
                        "{:.2} × COPY; {:.2} × one error",
                        per_sec / drain.copy.per_sec(),
                        per_sec / drain.processor.per_sec()
                    ),
                ]);
            }
            table.row([
                "alerter drain of the same events (no webhooks)".into(),
                "events/s".into(),
                String::new(),
                thousands(drain.alerter.per_sec()),
            ]);
        }

        self.per_event_rows(&mut table, &ceilings);

        for (service, idle, peak) in &self.memory {
            let name = service.name();
            let after = match service {
                Service::Collector => "after the collector scenarios",
                Service::Processor | Service::Alerter => "after its drain",
            };
            for (label, kb, limit) in [
                (
                    format!("{name} RSS, idle after ready"),
                    idle.rss_kb,
                    IDLE_MIB,
                ),
                (format!("{name} RSS, peak {after}"), peak.peak_kb, PEAK_MIB),
            ] {
                let mib = kb as f64 / 1024.0;
                table.row([
                    label,
                    "MiB".into(),
                    String::new(),
                    format!("{mib:.1}"),
                    String::new(),
                    String::new(),
                    format!("< {limit} MiB"),
                    verdict(Some(mib < limit)),
                ]);
            }
        }

        let cpu_rows: [(&str, Pick<CpuUse>); 6] = [
            ("ceiling", |r| &r.ceiling.cpu),
            ("collector, single events", |r| &r.single.cpu),
            ("collector, half rate", |r| &r.half.cpu),
            ("ceiling, half rate", |r| &r.ceiling_half.cpu),
            ("collector, batches of 20", |r| &r.batch.cpu),
            ("collector, gzip'd batches", |r| &r.gzip.cpu),
        ];
        for (label, pick) in cpu_rows {
            let uses: Vec<&CpuUse> = self.rounds.iter().map(pick).collect();
            table.row([
                format!("CPU during {label} (bench: load generator or publisher)"),
                "% of a core".into(),
                String::new(),
                String::new(),
                String::new(),
                cpu_cell(&uses),
            ]);
        }
        if let Some(drain) = &self.drain {
            table.row([
                "CPU during the processor drain".into(),
                "% of a core".into(),
                String::new(),
                String::new(),
                String::new(),
                cpu_cell(&[&drain.processor_cpu]),
            ]);
            if let Some(distinct) = &drain.distinct {
                table.row([
                    "CPU during the drain over distinct errors".into(),
                    "% of a core".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                    cpu_cell(&[&distinct.processor_cpu]),
                ]);
            }
        }

        let checks: Vec<_> = self.rounds.iter().flat_map(|r| &r.checks).collect();
        let accepted: u64 = checks.iter().map(|c| c.accepted).sum();
        let queued = [0, 1].map(|q| checks.iter().map(|c| c.queued[q]).sum::<u64>());
        let missing: Vec<String> = checks
            .iter()
            .filter(|c| c.queued.iter().any(|depth| *depth < c.accepted))
            .map(|c| {
                format!(
                    "{}: {} accepted, {}/{} queued",
                    c.scenario, c.accepted, c.queued[0], c.queued[1]
                )
            })
            .collect();
        let rejected: u64 = checks.iter().map(|c| c.rejected).sum();
        let failed: u64 = checks.iter().map(|c| c.failed).sum();
        table.row([
            "accepted events (2xx or confirmed), all scenarios".into(),
            "events".into(),
            String::new(),
            thousands(accepted as f64),
            String::new(),
            format!(
                "{} + {} queued (processor + alerter queue); {} refused, {} unanswered",
                thousands(queued[0] as f64),
                thousands(queued[1] as f64),
                thousands(rejected as f64),
                thousands(failed as f64),
            ),
            "all, in both queues".into(),
            verdict(Some(missing.is_empty())),
        ]);
        self.notes.extend(
            missing
                .into_iter()
                .map(|m| format!("accepted but not queued: {m}")),
        );
        table
    }
}

impl Report {
    /// The collector's CPU per accepted event and, with `--baseline-collector`, the
    /// baseline's rates, ratios and CPU per event from the same rounds, with this build's
    /// CPU per event as a fraction of the baseline's (round by round, then the spread).
    fn per_event_rows(&self, table: &mut Table, ceilings: &[f64]) {
        type PickBaseline = fn(&BaselineRuns) -> &HttpRun;
        let scenarios: [(&str, Pick<HttpRun>, PickBaseline); 2] = [
            ("single events", |r| &r.single, |b| &b.single),
            ("batches of 20", |r| &r.batch, |b| &b.batch),
        ];
        for (label, ours, theirs) in scenarios {
            let cpu = Spread::of(
                self.rounds
                    .iter()
                    .filter_map(|r| ours(r).cpu_per_event_us()),
            );
            let vs_baseline = Spread::of(self.rounds.iter().filter_map(|r| {
                let baseline = theirs(r.baseline.as_ref()?).cpu_per_event_us()?;
                Some(ours(r).cpu_per_event_us()? / baseline)
            }));
            let (detail, target, met) = if self.baseline_memory.is_some() {
                (
                    ratio_cell(vs_baseline, "the baseline's"),
                    format!("≤ {CPU_VS_BASELINE} × the baseline's"),
                    verdict(vs_baseline.map(|r| r.median <= CPU_VS_BASELINE)),
                )
            } else {
                (String::new(), String::new(), String::new())
            };
            table.row(
                [
                    format!("collector CPU per accepted event, {label} (/proc)"),
                    "µs".into(),
                ]
                .into_iter()
                .chain(spread_cells(cpu, micros))
                .chain([detail, target, met]),
            );
            let baselines: Vec<(&HttpRun, f64)> = self
                .rounds
                .iter()
                .zip(ceilings)
                .filter_map(|(r, ceiling)| Some((theirs(r.baseline.as_ref()?), *ceiling)))
                .collect();
            if baselines.is_empty() {
                continue;
            }
            let rates = Spread::of(baselines.iter().map(|(run, _)| run.load.events_per_sec()));
            let ratios = Spread::of(
                baselines
                    .iter()
                    .map(|(run, ceiling)| run.load.events_per_sec() / ceiling),
            );
            table.row(
                [format!("  baseline collector, {label}"), "events/s".into()]
                    .into_iter()
                    .chain(spread_cells(rates, thousands))
                    .chain([ratio_cell(ratios, "ceiling")]),
            );
            table.row(
                [
                    format!("  baseline collector CPU per accepted event, {label}"),
                    "µs".into(),
                ]
                .into_iter()
                .chain(spread_cells(
                    Spread::of(
                        baselines
                            .iter()
                            .filter_map(|(run, _)| run.cpu_per_event_us()),
                    ),
                    micros,
                )),
            );
        }
        if let Some((idle, peak)) = &self.baseline_memory {
            for (label, kb) in [
                ("idle after ready", idle.rss_kb),
                ("peak after the collector scenarios", peak.peak_kb),
            ] {
                table.row([
                    format!("baseline collector RSS, {label}"),
                    "MiB".into(),
                    String::new(),
                    format!("{:.1}", kb as f64 / 1024.0),
                ]);
            }
        }
    }
}

fn micros(us: f64) -> String {
    format!("{us:.1}")
}

fn spread_cells(spread: Option<Spread>, format: fn(f64) -> String) -> [String; 3] {
    match spread {
        Some(s) => [format(s.min), format(s.median), format(s.max)],
        None => ["–".into(), "–".into(), "–".into()],
    }
}

fn ratio_cell(ratios: Option<Spread>, of: &str) -> String {
    ratios.map_or_else(
        || "–".into(),
        |r| format!("{:.2} ({:.2}–{:.2}) × {of}", r.median, r.min, r.max),
    )
}

fn millis(ms: f64) -> String {
    format!("{ms:.1}")
}

/// The medians over the rounds of a latency's p50, p99.9 and maximum.
fn latency_detail(rounds: &mut [Round], pick: fn(&mut Round) -> &mut Latencies) -> String {
    let mut at = |p: f64| {
        Spread::of(
            rounds
                .iter_mut()
                .filter_map(|r| pick(r).percentile(p))
                .map(|d| d.as_secs_f64() * 1000.0),
        )
        .map_or("–".into(), |s| millis(s.median))
    };
    format!(
        "p50 {} · p99.9 {} · max {} ms (medians)",
        at(50.0),
        at(99.9),
        at(100.0)
    )
}

fn verdict(met: Option<bool>) -> String {
    match met {
        Some(true) => "yes".into(),
        Some(false) => "no".into(),
        None => "?".into(),
    }
}

/// The median of each group's CPU over the rounds: "collector 95 · bench 60 · broker 40 ·
/// other 5".
fn cpu_cell(uses: &[&CpuUse]) -> String {
    let Some(first) = uses.first() else {
        return "–".into();
    };
    let mut parts: Vec<String> = first
        .groups
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let median = Spread::of(uses.iter().filter_map(|u| u.groups.get(i).map(|g| g.1)));
            format!("{name} {:.0}", median.map_or(0.0, |s| s.median))
        })
        .collect();
    if let Some(other) = Spread::of(uses.iter().filter_map(|u| u.other)) {
        parts.push(format!("other {:.0}", other.median));
    }
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_cells_show_each_groups_median() {
        let round = |collector, bench, other| CpuUse {
            groups: vec![("collector", collector), ("bench", bench)],
            seconds: 10.0,
            other: Some(other),
        };
        let uses = [
            round(90.0, 50.0, 1.0),
            round(100.0, 70.0, 9.0),
            round(95.0, 60.0, 5.0),
        ];
        let refs: Vec<&CpuUse> = uses.iter().collect();
        assert_eq!(cpu_cell(&refs), "collector 95 · bench 60 · other 5");
    }

    #[test]
    fn ratios_read_median_first() {
        let spread = Spread::of([0.5, 0.75, 0.6]);
        assert_eq!(ratio_cell(spread, "ceiling"), "0.60 (0.50–0.75) × ceiling");
        assert_eq!(verdict(None), "?");
    }
}
