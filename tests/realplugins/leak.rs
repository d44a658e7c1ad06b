//! A leak as a node gets one, found and fixed with the operators' tools.
//!
//! cnitool runs the seed-shaped meta config (bridge + host-local, portmap);
//! portmap is a wrapper in the CNI bin dir that sleeps before it execs the
//! real portmap. meta-cni is SIGKILLed while the wrapper sleeps, as a
//! runtime whose deadline passed does, and no DEL follows: the orphaned
//! portmap adds its DNAT rule afterwards, next to bridge's veth and
//! host-local's reservation, with no runtime left to undo them.
//! `meta-cni attachments` shows the attachment in flight, then
//! interrupted; `meta-cni release` undoes it from its record.

use crate::cmd::Cmd;
use crate::conf;
use crate::fixture::{Fixture, META_BIN};
use crate::gate::{self, PLUGIN_DIR};
use crate::host;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the wrapper sleeps before the real portmap runs.
const LATE_SECS: u32 = 4;

/// `meta-cni <args> --state-dir <the fixture's>`.
fn meta(f: &Fixture, args: &[&str]) -> crate::cmd::Out {
    Cmd::new(META_BIN)
        .args(args)
        .arg("--state-dir")
        .arg(&f.state)
        .limit(Duration::from_secs(90))
        .run()
}

/// The one record `attachments --json` lists.
fn listed(f: &Fixture) -> Value {
    let out = meta(f, &["attachments", "--json"]);
    assert!(out.ok(), "{}", out.describe());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.describe());
    serde_json::from_str(lines[0]).expect("a JSON line")
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// The parent of `pid`, from /proc.
fn parent(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))?
        .trim()
        .parse()
        .ok()
}

/// host-local's reservations (files named by address) in `dir`.
fn reservations(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.parse::<std::net::Ipv4Addr>().is_ok())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_killed_add_leaks_and_release_undoes_it() {
    let name = "a_killed_add_leaks_and_release_undoes_it";
    if !gate::ready(name, &[]) {
        return;
    }
    let f = Fixture::new();
    let net = format!("mcni{}", f.n);
    f.write_net(&net, "conf", &conf::seed_meta(&f, "1.0.0", &net, false));
    let pidfile = f.root.join("portmap.pid");
    let wrapper = f.bin.join("portmap");
    std::fs::remove_file(&wrapper).expect("remove the portmap link");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ \"$CNI_COMMAND\" = ADD ]; then echo $$ > {}; sleep {LATE_SECS}; fi\nexec {PLUGIN_DIR}/portmap \"$@\"\n",
            pidfile.display()
        ),
    )
    .expect("write wrapper");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let caps = json!({"portMappings": [{"hostPort": f.host_port, "containerPort": 80, "protocol": "tcp"}]});
    let ipam = f.data.join("calico");

    // The orphaned portmap changes the nat table: the whole scenario takes
    // its turn.
    let _turn = host::net_lock();
    let add = f
        .cnitool_cmd("add", &net, &f.netns_path(), &f.cid, &caps, None)
        .spawn()
        .unwrap_or_else(|o| panic!("cnitool: {}", o.describe()));
    let start = Instant::now();
    let wrapper_pid: i32 = loop {
        if let Some(p) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break p;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "portmap never started: {}",
            add.stderr_so_far()
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let meta_pid = parent(wrapper_pid).expect("the wrapper's parent");
    let comm = std::fs::read_to_string(format!("/proc/{meta_pid}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "meta-cni", "the wrapper's parent is meta-cni");
    Cmd::new("kill")
        .args(["-9", &meta_pid.to_string()])
        .run()
        .expect_ok();
    let out = add.finish();
    assert!(!out.ok(), "cnitool add succeeded: {}", out.describe());

    // Seen while the orphan still runs: in flight, portmap named.
    let r = listed(&f);
    assert_eq!(r["state"], "in-flight", "{r:#}");
    assert_eq!(r["containerID"], f.cid.as_str());
    assert_eq!(r["network"], net.as_str());
    assert_eq!(r["netnsExists"], true);
    assert_eq!(r["inFlight"][0]["running"], true, "{r:#}");
    assert_eq!(r["inFlight"][0]["pid"], wrapper_pid);
    assert_eq!(
        r["inFlight"][0]["delegate"],
        "delegate \"portmap\" (portmap)"
    );
    let table = meta(&f, &["attachments"]);
    assert!(
        table.stdout.contains(&format!(
            "in flight: delegate \"portmap\" (portmap) ADD (process group {wrapper_pid}) still runs"
        )),
        "{}",
        table.describe()
    );

    // The orphan finishes its ADD: the leak is complete.
    while alive(wrapper_pid) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the orphaned portmap never finished"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let nat = host::nat_rules();
    let chain = host::dnat_chain_for(&nat, &f.cid);
    assert!(chain.is_some(), "the orphan added no DNAT chain:\n{nat}");
    let held = reservations(&ipam);
    assert_eq!(held.len(), 1, "host-local reservations: {held:?}");
    let ip = held[0].clone();
    assert!(nat.contains(&format!("--to-destination {ip}:80")), "{nat}");
    let r = listed(&f);
    assert_eq!(r["state"], "interrupted", "{r:#}");
    assert_eq!(r["inFlight"][0]["running"], false);

    // Released as a runtime's DEL would: everything gone.
    let rel = meta(&f, &["release", "--network", &net, "--container", &f.cid]);
    assert!(rel.ok(), "{}", rel.describe());
    for line in [
        "  DEL delegate \"portmap\" (portmap): ok in ",
        "  DEL delegate \"calico\" (bridge): ok in ",
        &format!("released {net}/{}/eth0", f.cid),
    ] {
        assert!(rel.stdout.contains(line), "{line:?}: {}", rel.describe());
    }
    let nat = host::nat_rules();
    assert_eq!(host::dnat_chain_for(&nat, &f.cid), None, "{nat}");
    assert!(!nat.contains(&format!("--to-destination {ip}:80")), "{nat}");
    assert!(reservations(&ipam).is_empty(), "{:?}", reservations(&ipam));
    assert!(!host::link_exists_in(&f.netns, "eth0"));
    let none = meta(&f, &["attachments"]);
    assert!(
        none.stdout.contains("no attachment records"),
        "{}",
        none.describe()
    );
}
