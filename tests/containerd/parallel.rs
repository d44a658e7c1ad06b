//! Many pods at once, as when Craned starts a node's share of a job array:
//! 16 RunPodSandbox calls in parallel (each with a port mapping and a GRES
//! device), then 16 Stop + Remove in parallel, and nothing may be left.

use crate::cmd::Out;
use crate::conf::Pod;
use crate::gate;
use crate::node::{Node, Opts};
use std::collections::BTreeSet;
use std::time::Duration;

const PODS: u32 = 16;

#[test]
fn sixteen_pods_in_parallel_then_all_removed_leave_nothing() {
    let name = "sixteen_pods_in_parallel_then_all_removed_leave_nothing";
    if !gate::ready(name) {
        return;
    }
    let node = Node::new(Opts::default());
    let pods: Vec<Pod> = (0..PODS)
        .map(|k| Pod {
            job: 1000 * node.n + k,
            node_name: "cn01".to_string(),
            // Alternate the two devices; every pod gets net0.
            gres: vec![(0, node.masters[(k % 2) as usize].clone())],
            ports: vec![node.port()],
        })
        .collect();

    let runs: Vec<Out> = std::thread::scope(|s| {
        let handles: Vec<_> = pods
            .iter()
            .map(|p| {
                let node = &node;
                s.spawn(move || node.run_pod(p))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("run thread"))
            .collect()
    });
    let failed: Vec<String> = runs.iter().filter(|o| !o.ok()).map(Out::describe).collect();
    assert!(
        failed.is_empty(),
        "{} of {PODS} parallel RunPodSandbox calls failed:\n{}\n{}",
        failed.len(),
        failed.join("\n"),
        node.diag()
    );
    let ids: Vec<String> = runs.iter().map(|o| o.stdout.trim().to_string()).collect();
    let slowest = runs.iter().map(|o| o.took).max().unwrap_or_default();
    eprintln!("slowest of {PODS} parallel RunPodSandbox calls: {slowest:?}");

    // Every pod has its own eth0 address in the subnet, a record, and
    // host-local holds one address per pod in each pipeline.
    let mut ips = BTreeSet::new();
    for id in &ids {
        let st = node.pod_status(id);
        let ip = st["ip"].as_str().unwrap_or("").to_string();
        assert!(
            node.eth.contains(&ip) && st["state"] == "ready",
            "pod {id}: {st:#}\n{}",
            node.diag()
        );
        ips.insert(ip);
    }
    assert_eq!(ips.len(), PODS as usize, "pod IPs not distinct: {ips:?}");
    assert_eq!(
        node.records().len(),
        PODS as usize,
        "records: {:?}",
        node.records()
    );
    let res = node.reservations();
    let count = |net: &str| res.iter().filter(|r| r.starts_with(net)).count();
    assert_eq!(
        (count("bridge/"), count("macvlan-0/")),
        (PODS as usize, PODS as usize),
        "reservations: {res:?}"
    );

    let teardowns: Vec<Vec<Out>> = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .iter()
            .map(|id| {
                let node = &node;
                s.spawn(move || vec![node.stop_pod(id), node.remove_pod(id)])
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("teardown thread"))
            .collect()
    });
    let failed: Vec<String> = teardowns
        .iter()
        .flatten()
        .filter(|o| !o.ok())
        .map(Out::describe)
        .collect();
    assert!(
        failed.is_empty(),
        "parallel Stop/Remove failures:\n{}\n{}",
        failed.join("\n"),
        node.diag()
    );
    let left = node.leftovers_within(Duration::from_secs(10));
    assert!(
        left.is_empty(),
        "left behind after {PODS} pods were stopped and removed:\n  {}\n{}",
        left.join("\n  "),
        node.diag()
    );
}
