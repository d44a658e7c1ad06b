//! A pod's whole life through CRI: RunPodSandbox as Craned sends it, what
//! the pod gets (eth0 from the bridge pipeline, one macvlan per GRES device,
//! the DNAT rule), and StopPodSandbox + RemovePodSandbox taking all of it
//! away; also across a containerd restart in between.

use crate::conf::Pod;
use crate::gate;
use crate::host;
use crate::node::{Node, Opts};
use std::time::Duration;

/// How long a removed pod may take to disappear completely (its shim
/// exits after RemovePodSandbox returns).
const SETTLE: Duration = Duration::from_secs(5);

fn pod(node: &Node, k: u32, gres: &[u32]) -> Pod {
    Pod {
        job: 1000 * node.n + k,
        node_name: "cn01".to_string(),
        gres: gres
            .iter()
            .map(|i| (*i, node.masters[*i as usize].clone()))
            .collect(),
        ports: vec![node.port()],
    }
}

/// RunPodSandbox; returns the sandbox id.
fn run(node: &Node, pod: &Pod) -> String {
    let o = node.run_pod(pod);
    assert!(o.ok(), "RunPodSandbox: {}\n{}", o.describe(), node.diag());
    let id = o.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "sandbox id: {}", o.describe());
    id
}

/// The one IPv4 address on `dev` in the sandbox, checked to be a /24 of
/// `subnet`.
fn addr_on(node: &Node, netns: &str, dev: &str, subnet: &crate::subnet::Subnet) -> String {
    let addrs = host::addrs_in(netns, dev);
    assert!(
        addrs.len() == 1 && subnet.contains(&addrs[0]) && addrs[0].ends_with("/24"),
        "{dev} in {netns}: addresses {addrs:?}, want one in {}\n{}",
        subnet.cidr(),
        node.diag()
    );
    addrs[0].trim_end_matches("/24").to_string()
}

/// StopPodSandbox and RemovePodSandbox succeed, and doing them again is
/// harmless.
fn stop_and_remove(node: &Node, id: &str) {
    for (what, o) in [
        ("StopPodSandbox", node.stop_pod(id)),
        ("StopPodSandbox again", node.stop_pod(id)),
        ("RemovePodSandbox", node.remove_pod(id)),
        ("RemovePodSandbox again", node.remove_pod(id)),
    ] {
        assert!(o.ok(), "{what}: {}\n{}", o.describe(), node.diag());
    }
    // A Stop of a pod already removed: NotFound is the runtime's answer
    // (kubelet and Craned take it as done); anything else is not.
    let late = node.stop_pod(id);
    assert!(
        late.ok() || late.stderr.contains("code=NotFound"),
        "StopPodSandbox after removal: {}",
        late.describe()
    );
}

fn assert_nothing_left(node: &Node, after: &str) {
    let left = node.leftovers_within(SETTLE);
    assert!(
        left.is_empty(),
        "left behind after {after}:\n  {}\n{}",
        left.join("\n  "),
        node.diag()
    );
}

#[test]
fn craned_pod_gets_eth0_and_gres_nics_and_stop_remove_take_everything_away() {
    let name = "craned_pod_gets_eth0_and_gres_nics_and_stop_remove_take_everything_away";
    if !gate::ready(name) {
        return;
    }
    let node = Node::new(Opts::default());
    let pod = pod(&node, 1, &[0, 1]);
    let port = pod.ports[0];
    let id = run(&node, &pod);

    // PodSandboxStatus: ready, eth0's address.
    let st = node.pod_status(&id);
    let ctx = || format!("{st:#}\n{}", node.diag());
    assert_eq!(st["state"], "ready", "{}", ctx());
    assert_eq!(st["namespace"], "cranesched", "{}", ctx());
    assert_eq!(st["name"], pod.name().as_str(), "{}", ctx());
    let ip = st["ip"].as_str().unwrap_or("").to_string();
    assert!(
        node.eth.contains(&ip),
        "pod IP {ip:?} not in {}: {}",
        node.eth.cidr(),
        ctx()
    );
    let netns = st["netns"].as_str().unwrap_or("").to_string();
    let ns_name = netns.rsplit('/').next().unwrap_or("");
    assert!(
        netns.starts_with(host::NETNS_DIR) && host::cni_netns().contains(ns_name),
        "sandbox netns {netns:?} is not a cni-* entry of {}: {}",
        host::NETNS_DIR,
        ctx()
    );
    // What the leftover checks look for is really there while the pod
    // runs: its netns among those the node recorded, its shim and pause
    // process among the node's processes.
    assert!(
        node.netns_made().contains(ns_name),
        "{ns_name} not among the recorded network namespaces: {:?}\n{}",
        node.netns_made(),
        ctx()
    );
    let procs: Vec<String> = node.processes().iter().map(|p| p.cmdline.clone()).collect();
    assert!(
        procs
            .iter()
            .any(|c| c.contains("containerd-shim") && c.contains(&id))
            && procs.iter().any(|c| c == "/pause"),
        "the pod's shim and pause process not found: {procs:?}\n{}",
        ctx()
    );

    // Inside the sandbox: eth0 from the bridge pipeline, net0 and net1 from
    // the GRES template pipeline, each a macvlan on the device its
    // annotation named.
    assert_eq!(addr_on(&node, &netns, "eth0", &node.eth), ip, "{}", ctx());
    let mut gres_ips = Vec::new();
    for i in 0..2u32 {
        let dev = format!("net{i}");
        gres_ips.push(addr_on(&node, &netns, &dev, &node.gres_subnet(i)));
        let link = host::link_in(&netns, &dev);
        let master = &node.masters[i as usize];
        let idx = host::ifindex(master).expect("master ifindex");
        assert!(
            link.contains("macvlan") && link.contains(&format!("{dev}@if{idx}:")),
            "{dev} should be a macvlan on {master} (ifindex {idx}): {link}\n{}",
            ctx()
        );
    }

    // The DNAT rule for the host port, to eth0's address.
    let nat = host::nat_rules();
    assert!(
        nat.lines()
            .any(|l| l.contains(&format!("--to-destination {ip}:80"))
                && l.contains(&format!("--dport {port}"))),
        "no DNAT rule {port} -> {ip}:80 in:\n{nat}\n{}",
        ctx()
    );
    // host-local's reservations, meta-cni's record, libcni's cache entry.
    let res = node.reservations();
    for want in [
        format!("bridge/{ip}"),
        format!("macvlan-0/{}", gres_ips[0]),
        format!("macvlan-1/{}", gres_ips[1]),
    ] {
        assert!(
            res.contains(&want),
            "reservation {want} missing: {res:?}\n{}",
            ctx()
        );
    }
    assert!(
        node.record(&id).is_file(),
        "no meta-cni record {}\n{}",
        node.record(&id).display(),
        ctx()
    );
    assert!(
        node.libcni_cache(&id).is_file(),
        "no libcni cache entry {}\n{}",
        node.libcni_cache(&id).display(),
        ctx()
    );

    stop_and_remove(&node, &id);
    assert_nothing_left(&node, "StopPodSandbox + RemovePodSandbox");
}

#[test]
fn containerd_restarted_between_run_and_stop_still_tears_everything_down() {
    let name = "containerd_restarted_between_run_and_stop_still_tears_everything_down";
    if !gate::ready(name) {
        return;
    }
    let node = Node::new(Opts::default());
    let pod = pod(&node, 1, &[0, 1]);
    let id = run(&node, &pod);
    let before = node.pod_status(&id);
    assert!(
        node.record(&id).is_file(),
        "no meta-cni record\n{}",
        node.diag()
    );

    // A crash: SIGKILL, then the same root, state and config again. The
    // shim and the pause process live on; containerd finds them.
    node.restart_containerd();
    let after = node.pod_status(&id);
    assert_eq!(after["state"], "ready", "{after:#}\n{}", node.diag());
    assert_eq!(after["ip"], before["ip"], "{after:#}\n{}", node.diag());
    assert_eq!(
        after["netns"],
        before["netns"],
        "{after:#}\n{}",
        node.diag()
    );

    stop_and_remove(&node, &id);
    assert_nothing_left(
        &node,
        "a containerd restart, StopPodSandbox + RemovePodSandbox",
    );
}
