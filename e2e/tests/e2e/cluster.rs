//! The pipeline on a real three-node RabbitMQ cluster (`scripts/cluster`), under steady load:
//! the node leading the partition queues is stopped and brought back, then a node's process
//! is paused (SIGSTOP, the nearest thing to a network partition one machine can make) and
//! resumed. The services, given the three nodes' URLs, recover by themselves, and every event
//! answered 2xx is stored exactly once.
//!
//! Ignored by the normal suite: it starts the cluster (about three minutes on a loaded
//! machine, unless one is running already) and faults its nodes. Run it alone:
//!
//! ```sh
//! cargo test -p e2e --test e2e cluster -- --ignored --nocapture
//! ```
//!
//! It faults only the cluster's own nodes (fm1–fm3, ports 5681–5683), never the machine's
//! broker; a cluster it started it takes down at the end, one that was running it leaves up.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use shared::config::{AmqpUrl, Partitions};
use shared::testing::{TestEnv, eventually};

use crate::faults::{Load, wait_ready_within};
use crate::support::*;

/// Partition queues: more than one, so events are spread and each has its own leader.
const PARTITIONS: u16 = 3;
/// How long the services may take to come back after a node fault: a quorum queue elects a
/// new leader within seconds, but three nodes and the services share two cores here.
const RECOVERY: Duration = Duration::from_secs(120);
/// How long a node stays paused: long enough that every request to it times out
/// (`collector.publish_timeout_ms`, 5 s), shorter than the nodes' `net_ticktime` (60 s), so the
/// others see a node that stopped answering, not one that left.
const PAUSE: Duration = Duration::from_secs(15);
/// Events accepted after a fault before the services count as recovered.
const PROOF: usize = 200;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster")
}

/// Runs `scripts/cluster` with `args`; its output when it succeeds, `None` when it fails.
async fn cluster(args: &[&str]) -> Option<String> {
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let output = Command::new("bash")
            .arg(script())
            .args(&args)
            .output()
            .expect("scripts/cluster runs");
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    })
    .await
    .expect("joined")
}

/// `rabbitmqctl` against node `node`, which must succeed.
async fn ctl(node: u8, args: &[&str]) -> String {
    let mut full = vec!["ctl".to_owned(), node.to_string()];
    full.extend(args.iter().map(|arg| (*arg).to_owned()));
    let full: Vec<&str> = full.iter().map(String::as_str).collect();
    cluster(&full)
        .await
        .unwrap_or_else(|| panic!("scripts/cluster {full:?} failed"))
}

/// The directory `scripts/cluster` keeps the nodes in (their pid files).
fn cluster_dir() -> PathBuf {
    std::env::var_os("FRONTMON_CLUSTER_DIR")
        .map_or_else(|| PathBuf::from("/tmp/frontmon-cluster"), PathBuf::from)
}

/// Node 1–3 from a node name `fmN@localhost`.
fn node_number(name: &str) -> u8 {
    name.strip_prefix("fm")
        .and_then(|rest| rest.split('@').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a node of the cluster: {name}"))
}

/// Each of `queues` with the node leading it and how many nodes hold a replica, as node
/// `asked` sees them.
async fn placement(asked: u8, queues: &[String]) -> Vec<(String, u8, usize)> {
    let listed = ctl(
        asked,
        &[
            "-q",
            "list_queues",
            "name",
            "leader",
            "members",
            "--formatter",
            "json",
        ],
    )
    .await;
    let listed: Vec<Value> = serde_json::from_str(listed.trim())
        .unwrap_or_else(|e| panic!("list_queues answered {listed:?}: {e}"));
    queues
        .iter()
        .map(|queue| {
            let entry = listed
                .iter()
                .find(|entry| entry["name"] == queue.as_str())
                .unwrap_or_else(|| panic!("{queue} is not declared: {listed:?}"));
            let leader = node_number(entry["leader"].as_str().unwrap_or_default());
            let members = entry["members"].as_array().map_or(0, Vec::len);
            (queue.clone(), leader, members)
        })
        .collect()
}

/// The node leading the most of `queues`, as node `asked` sees them.
async fn main_leader(asked: u8, queues: &[String]) -> u8 {
    let mut led: HashMap<u8, usize> = HashMap::new();
    for (_, leader, _) in placement(asked, queues).await {
        *led.entry(leader).or_default() += 1;
    }
    led.into_iter()
        .max_by_key(|(node, count)| (*count, std::cmp::Reverse(*node)))
        .map(|(node, _)| node)
        .expect("at least one queue")
}

/// The services' connections (those whose name starts with `prefix`) on each node, as node
/// `asked` lists them: `fmN: name, name; …`, the names without the prefix. The node is told by the port
/// the connection reached (`scripts/cluster`: 5680 + N).
async fn connections(asked: u8, prefix: &str) -> String {
    let listed = ctl(
        asked,
        &[
            "-q",
            "--no-table-headers",
            "list_connections",
            "port",
            "client_properties",
        ],
    )
    .await;
    let mut by_node: Vec<(u16, String)> = listed
        .lines()
        .filter_map(|line| {
            let (port, properties) = line.split_once(char::is_whitespace)?;
            let name = properties.split("\"connection_name\",\"").nth(1)?;
            let name = name.split('"').next()?.strip_prefix(prefix)?;
            Some((port.parse().ok()?, name.to_owned()))
        })
        .collect();
    by_node.sort();
    let mut text = String::new();
    for node in 1..=3u16 {
        let names: Vec<&str> = by_node
            .iter()
            .filter(|(port, _)| *port == 5680 + node)
            .map(|(_, name)| name.as_str())
            .collect();
        text.push_str(&format!("fm{node}: {}; ", names.join(", ")));
    }
    text
}

/// A node out of service: stopped (`rabbitmqctl stop_app`) or paused (SIGSTOP). Ended by
/// [`NodeFault::end`], or when dropped, so a failing test leaves no node down.
struct NodeFault {
    node: u8,
    paused: Option<u32>,
    ended: bool,
}

impl NodeFault {
    async fn stop(node: u8) -> Self {
        ctl(node, &["-q", "stop_app"]).await;
        Self {
            node,
            paused: None,
            ended: false,
        }
    }

    fn pause(node: u8) -> Self {
        let pid_file = cluster_dir().join(format!("fm{node}/pid"));
        let pid: u32 = std::fs::read_to_string(&pid_file)
            .unwrap_or_else(|e| panic!("{}: {e}", pid_file.display()))
            .trim()
            .parse()
            .expect("a pid");
        signal("STOP", pid);
        Self {
            node,
            paused: Some(pid),
            ended: false,
        }
    }

    async fn end(mut self) {
        self.ended = true;
        match self.paused {
            Some(pid) => signal("CONT", pid),
            None => {
                ctl(self.node, &["-q", "start_app"]).await;
            }
        }
    }
}

impl Drop for NodeFault {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        match self.paused {
            Some(pid) => signal("CONT", pid),
            None => {
                let _ = Command::new("bash")
                    .arg(script())
                    .args(["ctl", &self.node.to_string(), "-q", "start_app"])
                    .status();
            }
        }
    }
}

fn signal(name: &str, pid: u32) {
    let status = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {pid}");
}

/// What one fault cost: the 503s answered from its start to its recovery, and how long the
/// services took to accept events again with every one of them ready.
struct Phase {
    name: String,
    started: Instant,
    /// For a stopped node: from the fault's start until events were accepted again and every
    /// service was ready, with the node still out.
    failed_over: Option<Duration>,
    /// From the fault's start until the same after the node came back.
    recovered: Duration,
    ended: Instant,
}

async fn recovered(load: &Load, services: &[&Service], what: &str) {
    load.wait_for_more_within(PROOF, what, RECOVERY).await;
    for service in services {
        wait_ready_within(service, RECOVERY).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "starts a three-node RabbitMQ cluster and faults its nodes; run alone with --ignored"]
async fn a_cluster_node_stopped_or_paused_under_load_loses_nothing() {
    let was_up = cluster(&["status"]).await.is_some();
    let up = cluster(&["up"]).await.expect("scripts/cluster up");
    let urls = up.lines().last().expect("the URLs").trim().to_owned();
    let mut env = TestEnv::new();
    env.settings.amqp.url = AmqpUrl::parse(&urls).expect("the cluster's URLs");
    env.settings.processor.partitions = Partitions::new(PARTITIONS).expect("in range");

    // Two processors: each partition is consumed by one, the other stands by.
    let processors = [
        Service::processor(&env.settings).await,
        Service::processor(&env.settings).await,
    ];
    let collector = Service::collector(&env.settings).await;
    let services = [&collector, &processors[0], &processors[1]];
    for service in services {
        wait_ready_within(service, RECOVERY).await;
    }
    let queues = env.topology().processor_queues();
    for (queue, _, members) in placement(1, &queues).await {
        assert_eq!(members, 3, "{queue} is replicated on every node");
    }

    let names = format!("{}.", env.settings.amqp.exchange);
    let load = Load::start(&collector.base);
    load.wait_for_more_within(PROOF, "load to start", RECOVERY)
        .await;
    let mut phases = Vec::new();

    // The node leading the partition queues stops; a follower takes over each queue.
    let leader = main_leader(1, &queues).await;
    let other = if leader == 1 { 2 } else { 1 };
    println!("before fm{leader} stops: {}", connections(1, &names).await);
    let started = Instant::now();
    let fault = NodeFault::stop(leader).await;
    recovered(
        &load,
        &services,
        &format!("events accepted with fm{leader} stopped"),
    )
    .await;
    let failed_over = Some(started.elapsed());
    let moved = placement(other, &queues).await;
    assert!(
        moved.iter().all(|(_, new_leader, _)| *new_leader != leader),
        "every partition led by a running node: {moved:?}"
    );
    fault.end().await;
    recovered(
        &load,
        &services,
        &format!("events accepted with fm{leader} back"),
    )
    .await;
    phases.push(Phase {
        name: format!("fm{leader} (leader) stopped"),
        started,
        failed_over,
        recovered: started.elapsed(),
        ended: Instant::now(),
    });

    // The node now leading the partitions stops answering for a while, then resumes.
    let leader = main_leader(other, &queues).await;
    println!(
        "before fm{leader} pauses: {}",
        connections(other, &names).await
    );
    let started = Instant::now();
    let fault = NodeFault::pause(leader);
    // The fault's duration, not a wait for something to happen.
    tokio::time::sleep(PAUSE).await;
    fault.end().await;
    recovered(
        &load,
        &services,
        &format!("events accepted with fm{leader} resumed"),
    )
    .await;
    phases.push(Phase {
        name: format!("fm{leader} (leader) paused {PAUSE:?}"),
        started,
        failed_over: None,
        recovered: started.elapsed(),
        ended: Instant::now(),
    });

    let report = load.finish().await;
    assert!(
        report.other.is_empty(),
        "only 200 or 503 answers: {:?}",
        &report.other[..report.other.len().min(5)]
    );
    let accepted: BTreeSet<String> = report.accepted.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(accepted.len(), report.accepted.len(), "ids are unique");
    let drained = Instant::now();
    let (rows, stored) = eventually("every accepted event stored", RECOVERY, || async {
        let (rows, stored) = stored_ids(&env.settings).await;
        accepted.is_subset(&stored).then_some((rows, stored))
    })
    .await;
    let drained = drained.elapsed();
    let duplicates = rows as usize - stored.len();
    assert_eq!(duplicates, 0, "no event stored twice");

    println!(
        "cluster of 3, {PARTITIONS} partitions, 2 processors: sent {}, accepted {}, 503 {}, \
         stored {} (of which {} not acknowledged to the client), duplicates {duplicates}, \
         backlog stored {drained:.1?} after the load stopped",
        report.accepted.len() + report.unavailable,
        accepted.len(),
        report.unavailable,
        rows,
        stored.difference(&accepted).count(),
    );
    for phase in &phases {
        let during: Vec<Duration> = report
            .unavailable_at
            .iter()
            .filter(|at| **at >= phase.started && **at <= phase.ended)
            .map(|at| at.duration_since(phase.started))
            .collect();
        let last = during.iter().max().copied().unwrap_or_default();
        let failed_over = phase.failed_over.map_or(String::new(), |after| {
            format!(
                ", accepting with every service ready {after:.1?} after it began (node still out)"
            )
        });
        println!(
            "  {}: 503 {} (the last {last:.1?} after the fault began){failed_over}, \
             recovered {:.1?} after it began",
            phase.name,
            during.len(),
            phase.recovered,
        );
    }

    collector.stop().await;
    let [first, second] = processors;
    first.stop().await;
    second.stop().await;
    drop(env);
    if !was_up {
        cluster(&["down"]).await.expect("scripts/cluster down");
    }
}
