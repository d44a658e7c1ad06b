//! `"parallelPipelines": true` with real plugins: every pipeline of an ADD
//! or DEL (static, and each template instance) runs at once.
//!
//! * Nine pipelines in one attachment: `eth0` (bridge), `net0`..`net3`
//!   (macvlan, each on its own master, each with its own host-local range)
//!   and a template pipeline with four GRES instances `gr0`..`gr3`
//!   (macvlan on `{{.Gres.Device}}`, subnet from `{{.Gres.Index}}`). Every
//!   interface and address is checked in the namespace, the merged result
//!   in config order, the reservations, and that DEL takes all of it away;
//!   the same config run in order gives a result of the same shape.
//! * The same nine pipelines with GRES instance 2 on `lo` (no macvlan
//!   there): the ADD fails with that pipeline's error and everything that
//!   ran is rolled back.
//! * 48 pods at once, each with three parallel pipelines: 48 concurrent
//!   ADDs, then 48 concurrent DELs, and nothing left behind (reservations,
//!   records, links, processes).
//!
//! macvlan masters are veth pairs the test creates (the dummy module may be
//! missing); macvlan links of one master in many namespaces are fine. No
//! plugin here touches the nat table (bridge has `ipMasq` off), so the
//! concurrent runs take no turn on [`host::net_lock`].

use crate::cmd::{Cmd, Out};
use crate::conf::{self, K8S_ARGS};
use crate::fixture::{Fixture, SubnetDecade, META_BIN};
use crate::gate::{self, Need};
use crate::host;
use crate::subnet::Subnet;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

const VERSION: &str = "1.0.0";
/// The template pipeline's name and interface prefix.
const GRES: &str = "gres";
const PREFIX: &str = "gr";
/// Static macvlan pipelines (and template instances) in the wide test.
const WIDE: u32 = 4;
/// Pods in the concurrency test.
const PODS: usize = 48;
/// Deadline of one cnitool run in the concurrency test: below the suite's
/// 60 s (a stuck run fails the test sooner), above the config's 30 s
/// `timeoutSeconds` (meta-cni's own limit is what a slow delegate meets).
const POD_LIMIT: Duration = Duration::from_secs(45);

/// Per pipeline, the `(start, end)` log times of each delegate call
/// meta-cni logged; `end` is `None` while no outcome line was seen.
type Spans = BTreeMap<String, Vec<(String, Option<String>)>>;

/// `n` veth pairs named `<tag>x<i>a`/`<tag>x<i>b`, up and owned by `f`;
/// the `a` ends (the macvlan masters).
fn masters(f: &Fixture, kind: char, n: u32) -> Vec<String> {
    let tag = format!("mp{}{kind}{}", std::process::id() % 10000, f.n);
    (0..n)
        .map(|i| {
            let (a, b) = (format!("{tag}x{i}a"), format!("{tag}x{i}b"));
            assert!(a.len() <= 15, "link name {a} too long");
            f.veth_pair(&a, &b);
            a
        })
        .collect()
}

/// The pipelines-shaped meta config: `eth0` bridge, then one macvlan
/// pipeline `net<i>` (delegate `mv<i>`) per entry of `statics`, then, with
/// `gres`, the template pipeline (delegate `grmv`).
fn meta(
    f: &Fixture,
    net: &str,
    parallel: bool,
    statics: &[(String, Subnet)],
    gres: Option<&SubnetDecade>,
) -> Value {
    let mut pipelines = vec![json!({
        "name": "ethernet", "ifName": "eth0",
        "delegates": [{"name": "bridge", "conf": conf::bridge(f)}]
    })];
    for (i, (master, s)) in statics.iter().enumerate() {
        pipelines.push(json!({
            "name": format!("hpc{i}"), "ifName": format!("net{i}"),
            "delegates": [{"name": format!("mv{i}"), "conf": conf::macvlan(f, master, &s.cidr())}]
        }));
    }
    if let Some(d) = gres {
        pipelines.push(json!({
            "name": GRES, "ifNamePrefix": PREFIX,
            "delegates": [{"name": "grmv",
                           "conf": conf::macvlan(f, "{{.Gres.Device}}", &d.gres_template())}]
        }));
    }
    json!({
        "cniVersion": VERSION,
        "name": net,
        "type": "meta-cni",
        "logLevel": "debug",
        "logFile": f.root.join(format!("{net}.log")),
        "timeoutSeconds": 30,
        "stateDir": f.state,
        "parallelPipelines": parallel,
        "capabilities": {"io.kubernetes.cri.pod-annotations": true},
        "runtimeOverride": conf::seed_override(),
        "pipelines": pipelines
    })
}

/// One interface a result must hold, after the bridge's three.
struct Want {
    ifname: String,
    subnet: Subnet,
    /// host-local's directory: the delegate's network name.
    ipam: String,
    /// The macvlan master in the host namespace (`None`: eth0 on the bridge).
    master: Option<String>,
}

/// The sandbox interfaces of [`meta`]'s config, in config order.
fn wants(
    f: &Fixture,
    statics: &[(String, Subnet)],
    gres: Option<(&SubnetDecade, &[String])>,
) -> Vec<Want> {
    let mut v = vec![Want {
        ifname: "eth0".into(),
        subnet: f.subnet.clone(),
        ipam: "bridge".into(),
        master: None,
    }];
    for (i, (m, s)) in statics.iter().enumerate() {
        v.push(Want {
            ifname: format!("net{i}"),
            subnet: s.clone(),
            ipam: format!("mv{i}"),
            master: Some(m.clone()),
        });
    }
    if let Some((d, devs)) = gres {
        for (i, m) in devs.iter().enumerate() {
            v.push(Want {
                ifname: format!("{PREFIX}{i}"),
                subnet: d.subnet(i as u32),
                ipam: "grmv".into(),
                master: Some(m.clone()),
            });
        }
    }
    v
}

/// The GRES annotations handing `devs` to the template pipeline, as the
/// runtime passes them.
fn gres_caps(devs: &[String]) -> Value {
    let mut a = serde_json::Map::new();
    for (i, d) in devs.iter().enumerate() {
        a.insert(
            format!("cranesched.internal/meta-cni/gres/{GRES}/{i}"),
            json!(d),
        );
    }
    a.insert("unrelated.example/annotation".into(), json!("x"));
    json!({"io.kubernetes.cri.pod-annotations": a})
}

/// Check an ADD's printed result against `want`: the bridge's host-side
/// interfaces, then every sandbox interface in config order, each IP in its
/// subnet with its gateway and pointing at its interface. Returns the
/// result, the host veth and the addresses (`a.b.c.d/24`) in `want` order.
fn check_result(
    f: &Fixture,
    add: &Out,
    netns_path: &str,
    want: &[Want],
) -> (Value, String, Vec<String>) {
    assert!(add.ok(), "ADD: {}", add.describe());
    let r: Value = serde_json::from_str(&add.stdout)
        .unwrap_or_else(|e| panic!("ADD printed no JSON result ({e}): {}", add.describe()));
    let ctx = || format!("result: {r:#}\n{}", add.describe());
    assert_eq!(r["cniVersion"], VERSION, "{}", ctx());
    let ifs = r["interfaces"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = ifs
        .iter()
        .map(|i| i["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names.len(), 2 + want.len(), "{}", ctx());
    assert_eq!(names[0], f.bridge, "{}", ctx());
    assert!(names[1].starts_with("veth"), "{}", ctx());
    for (k, w) in want.iter().enumerate() {
        let i = &ifs[2 + k];
        assert_eq!(
            names[2 + k],
            w.ifname,
            "interface {k} in config order: {}",
            ctx()
        );
        assert_eq!(i["sandbox"], netns_path, "{}", ctx());
        assert_eq!(i["mac"].as_str().map(str::len), Some(17), "{}", ctx());
    }
    let ips = r["ips"].as_array().cloned().unwrap_or_default();
    assert_eq!(ips.len(), want.len(), "{}", ctx());
    let mut addrs = Vec::new();
    for (k, (ip, w)) in ips.iter().zip(want).enumerate() {
        let a = ip["address"].as_str().unwrap_or("").to_string();
        assert!(
            w.subnet.contains(&a) && a.ends_with("/24"),
            "{}'s address {a} not in {}: {}",
            w.ifname,
            w.subnet.cidr(),
            ctx()
        );
        assert_eq!(ip["gateway"], w.subnet.gateway().as_str(), "{}", ctx());
        assert_eq!(
            ip["interface"],
            2 + k,
            "{}'s IP must point at it: {}",
            w.ifname,
            ctx()
        );
        addrs.push(a);
    }
    assert_eq!(r["routes"], json!([{"dst": "0.0.0.0/0"}]), "{}", ctx());
    (r.clone(), names[1].to_string(), addrs)
}

/// What two results must share whatever the run: interface names (the
/// bridge's random host veth as `veth*`) and sandboxes, each IP's subnet,
/// gateway and interface, the routes.
fn shape(r: &Value) -> Value {
    let ifs: Vec<Value> = r["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let n = i["name"].as_str().unwrap_or("");
            let n = if n.starts_with("veth") { "veth*" } else { n };
            json!([n, i["sandbox"]])
        })
        .collect();
    let ips: Vec<Value> = r["ips"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|ip| {
            let a = ip["address"].as_str().unwrap_or("");
            let net = a.rsplit_once('.').map_or(a, |(p, _)| p);
            json!([net, ip["gateway"], ip["interface"]])
        })
        .collect();
    json!({"cniVersion": r["cniVersion"], "interfaces": ifs, "ips": ips, "routes": r["routes"]})
}

/// `(name, ifindex, lower ifindex)` of every link in `ns` (`None`: the
/// host namespace); the lower ifindex is the `@ifN` of `net0@if17`.
fn links(ns: Option<&str>) -> Vec<(String, u32, Option<u32>)> {
    let mut args = vec!["-o", "link", "show"];
    if let Some(ns) = ns {
        args.splice(0..0, ["-n", ns]);
    }
    let out = host::ip(&args);
    assert!(out.ok(), "{}", out.describe());
    out.stdout
        .lines()
        .filter_map(|l| {
            let mut it = l.split(": ");
            let index = it.next()?.trim().parse().ok()?;
            let field = it.next()?;
            let (name, lower) = field.split_once('@').unwrap_or((field, ""));
            let lower = lower.strip_prefix("if").and_then(|x| x.parse().ok());
            Some((name.to_string(), index, lower))
        })
        .collect()
}

fn link_names(ns: Option<&str>) -> BTreeSet<String> {
    links(ns).into_iter().map(|(n, _, _)| n).collect()
}

/// `dev -> [a.b.c.d/len]` for the IPv4 addresses in `ns`.
fn addrs_by_dev(ns: &str) -> BTreeMap<String, Vec<String>> {
    let out = host::ip(&["-n", ns, "-4", "-o", "addr", "show"]);
    assert!(out.ok(), "{}", out.describe());
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in out.stdout.lines() {
        let t: Vec<&str> = l.split_whitespace().collect();
        if let (Some(dev), Some(i)) = (t.get(1), t.iter().position(|x| *x == "inet")) {
            if let Some(a) = t.get(i + 1) {
                m.entry(dev.to_string()).or_default().push(a.to_string());
            }
        }
    }
    m
}

/// host-local's reservations in `dir`: (IP, first line = container ID).
fn reservations(dir: &Path) -> Vec<(String, String)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(String, String)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.parse::<std::net::IpAddr>().ok()?;
            let held = std::fs::read_to_string(e.path()).unwrap_or_default();
            Some((name, held.lines().next().unwrap_or("").trim().to_string()))
        })
        .collect();
    v.sort();
    v
}

/// meta-cni's attachment records (and anything else that is not a spare or
/// lock dot file) in the network's state dir.
fn records(f: &Fixture, net: &str) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(f.state.join(net)) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

/// After `what` (a DEL, a rollback): no host-local reservation left in any
/// pipeline's range, and no attachment record of `net`.
fn assert_released(f: &Fixture, net: &str, want: &[Want], what: &str) {
    for w in want {
        let left = reservations(&f.data.join(&w.ipam));
        assert!(
            left.is_empty(),
            "{} reservations survived {what}: {left:?}",
            w.ipam
        );
    }
    assert!(
        records(f, net).is_empty(),
        "records survived {what}: {:?}",
        records(f, net)
    );
}

/// Processes whose command line or environment names a path below `root`
/// (cnitool's NETCONFPATH, meta-cni's and the plugins' CNI_PATH, a
/// config's dataDir): this test's, whatever else runs on the machine.
fn processes_below(root: &Path) -> Vec<String> {
    let needle = format!("{}/", root.display()).into_bytes();
    let me = std::process::id().to_string();
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
            continue;
        }
        let mentions = ["cmdline", "environ"].iter().any(|f| {
            std::fs::read(e.path().join(f))
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
        });
        if mentions {
            let exe = std::fs::read_link(e.path().join("exe"))
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            v.push(format!(
                "pid {pid} exe {exe:?} cmdline {:?}",
                String::from_utf8_lossy(&cmd).replace('\0', " ")
            ));
        }
    }
    v
}

/// The `(start, end)` times of each delegate ADD in meta-cni's log, per
/// pipeline: from the `pipeline=P delegate=D: ADD <plugin> config: ...`
/// line written before the call to the outcome line (`... ADD <plugin> ok
/// in 62ms`, or its error) written after it. The times are the log's
/// fixed-width RFC 3339 stamps, which order as strings.
fn add_spans(log: &str) -> Spans {
    let mut spans: Spans = BTreeMap::new();
    for l in log.lines() {
        let Some(ts) = l.split_whitespace().next().filter(|t| t.ends_with('Z')) else {
            continue;
        };
        let Some(pipeline) = l
            .split_whitespace()
            .find_map(|t| t.strip_prefix("pipeline="))
        else {
            continue;
        };
        let Some(msg) = l
            .find(" delegate=")
            .and_then(|at| l[at..].split_once(": "))
            .map(|(_, m)| m)
            .filter(|m| m.starts_with("ADD "))
        else {
            continue;
        };
        let s = spans
            .entry(pipeline.trim_end_matches(':').to_string())
            .or_default();
        if msg.contains(" config: ") {
            s.push((ts.to_string(), None));
        } else if let Some(open) = s.iter_mut().rev().find(|x| x.1.is_none()) {
            open.1 = Some(ts.to_string());
        }
    }
    spans
}

/// meta-cni's log of network `net` (its `logFile`), and its warnings and
/// errors.
fn log_of(f: &Fixture, net: &str) -> (String, Vec<String>) {
    let log = std::fs::read_to_string(f.root.join(format!("{net}.log"))).unwrap_or_default();
    let bad = log
        .lines()
        .filter(|l| matches!(l.split_whitespace().nth(1), Some("WARN" | "ERROR")))
        .map(str::to_string)
        .collect();
    (log, bad)
}

/// Whether some pipeline's delegate started before another pipeline's
/// delegate had finished.
fn overlap(spans: &Spans) -> bool {
    let all: Vec<(&String, &String, Option<&String>)> = spans
        .iter()
        .flat_map(|(p, v)| v.iter().map(move |(s, e)| (p, s, e.as_ref())))
        .collect();
    all.iter().any(|a| {
        all.iter()
            .any(|b| a.0 != b.0 && b.1 > a.1 && a.2.map_or(true, |end| b.1 < end))
    })
}

/// One ADD / check / DEL / check / second DEL of the wide config; returns
/// the result's shape and the log's delegate spans.
fn wide_round(f: &Fixture, net: &str, caps: &Value, want: &[Want]) -> (Value, Spans) {
    let ns = f.netns.as_str();
    let started = Instant::now();
    let add = f.cnitool("add", net, caps, Some(K8S_ARGS));
    let took = started.elapsed();
    let (r, host_veth, addrs) = check_result(f, &add, &f.netns_path(), want);
    let ctx = || format!("result: {r:#}");

    // In the namespace: exactly these interfaces, each with its address;
    // each macvlan on the master its config (or GRES annotation) names.
    let mut expect: BTreeSet<String> = want.iter().map(|w| w.ifname.clone()).collect();
    expect.insert("lo".into());
    let inside = links(Some(ns));
    let names: BTreeSet<String> = inside.iter().map(|l| l.0.clone()).collect();
    assert_eq!(names, expect, "links in {ns}: {}", ctx());
    let by_dev = addrs_by_dev(ns);
    let host_links = links(None);
    for (w, a) in want.iter().zip(&addrs) {
        assert_eq!(by_dev.get(&w.ifname), Some(&vec![a.clone()]), "{}", ctx());
        let res = f.reservation(&w.ipam, a.trim_end_matches("/24"));
        let held = std::fs::read_to_string(&res)
            .unwrap_or_else(|e| panic!("reservation {} ({e}); {}", res.display(), ctx()));
        assert_eq!(held.lines().next().map(str::trim), Some(f.cid.as_str()));
        if let Some(m) = &w.master {
            let master = host_links.iter().find(|l| &l.0 == m).map(|l| l.1);
            let lower = inside.iter().find(|l| l.0 == w.ifname).and_then(|l| l.2);
            assert!(
                master.is_some() && lower == master,
                "{} must be a macvlan of {m} (ifindex {master:?}), its lower link is {lower:?}",
                w.ifname
            );
            let d = host::ip(&["-n", ns, "-d", "link", "show", "dev", &w.ifname]);
            assert!(d.stdout.contains("macvlan mode bridge"), "{}", d.describe());
        }
    }
    assert!(host::link_exists(&host_veth), "{}", ctx());
    assert_eq!(records(f, net), vec![format!("{}-eth0.json", f.cid)]);
    let (log, bad) = log_of(f, net);
    assert!(bad.is_empty(), "meta-cni warned: {bad:#?}");
    let spans = add_spans(&log);
    eprintln!("{net}: ADD of {} pipelines took {took:?}", spans.len());

    let del = f.cnitool("del", net, caps, Some(K8S_ARGS));
    assert!(del.ok(), "DEL: {}", del.describe());
    assert_eq!(link_names(Some(ns)), BTreeSet::from(["lo".to_string()]));
    assert!(!host::link_exists(&host_veth), "host veth survived DEL");
    let (_, bad) = log_of(f, net);
    assert!(bad.is_empty(), "meta-cni warned: {bad:#?}");
    assert_released(f, net, want, "DEL");
    for m in want.iter().filter_map(|w| w.master.as_ref()) {
        assert!(host::link_exists(m), "DEL must not touch master {m}");
    }
    let del = f.cnitool("del", net, caps, Some(K8S_ARGS));
    assert!(del.ok(), "second DEL: {}", del.describe());
    assert_eq!(link_names(Some(ns)), BTreeSet::from(["lo".to_string()]));
    (shape(&r), spans)
}

/// The wide test's host side: four masters with a subnet each for
/// `net0`..`net3`, four masters for the GRES instances, and the instances'
/// ten subnets.
fn wide_setup(f: &Fixture) -> (Vec<(String, Subnet)>, Vec<String>, SubnetDecade) {
    let statics = masters(f, 's', WIDE)
        .into_iter()
        .map(|m| (m, f.extra_subnet()))
        .collect();
    (statics, masters(f, 'g', WIDE), f.extra_decade())
}

/// Nine pipelines at once: `eth0` (bridge), `net0`..`net3` (macvlan on
/// four masters, four subnets) and four GRES instances `gr0`..`gr3`
/// (macvlan on `{{.Gres.Device}}`, subnet `10.A.D{{.Gres.Index}}.0/24`).
/// Then the same config with `parallelPipelines: false`: a result of the
/// same shape, and this time no two delegates overlap.
#[test]
fn parallel_pipelines_four_macvlans_and_four_gres_instances() {
    let test = "parallel_pipelines_four_macvlans_and_four_gres_instances";
    if !gate::ready(test, &[Need::Macvlan]) {
        return;
    }
    let f = Fixture::new();
    let (statics, devs, decade) = wide_setup(&f);
    let want = wants(&f, &statics, Some((&decade, &devs)));
    let caps = gres_caps(&devs);

    let par = format!("mcni{}p", f.n);
    let path = f.write_net(&par, "conf", &meta(&f, &par, true, &statics, Some(&decade)));
    // Nothing here shares a bridge or a host-local range: `validate` has
    // no parallelPipelines warning (nor any other) for this config.
    let env = BTreeMap::from([("CNI_PATH".to_string(), f.bin.display().to_string())]);
    let v = Cmd::new(META_BIN)
        .arg("validate")
        .arg(&path)
        .env_exact(env)
        .run();
    assert!(
        v.ok() && !v.stdout.contains("warning") && v.stdout.contains("no problems found"),
        "{}",
        v.describe()
    );
    let (par_shape, par_spans) = wide_round(&f, &par, &caps, &want);
    assert_eq!(
        par_spans.len(),
        want.len(),
        "one span list per pipeline: {par_spans:?}"
    );
    assert!(
        overlap(&par_spans),
        "with parallelPipelines no two pipelines overlapped: {par_spans:?}"
    );

    let seq = format!("mcni{}s", f.n);
    f.write_net(
        &seq,
        "conf",
        &meta(&f, &seq, false, &statics, Some(&decade)),
    );
    let (seq_shape, seq_spans) = wide_round(&f, &seq, &caps, &want);
    assert!(
        !overlap(&seq_spans),
        "in order, two pipelines overlapped: {seq_spans:?}"
    );
    assert_eq!(
        par_shape, seq_shape,
        "parallel and sequential results differ"
    );
}

/// A parallel ADD in which one pipeline fails: GRES instance 2 is handed
/// `lo`, on which the kernel refuses a macvlan (EINVAL), while the eight
/// other pipelines succeed or are stopped. The ADD fails with gres-2's
/// error, and everything that ran is undone: no interface left in the
/// namespace, no port on the bridge, no reservation, no record. The
/// runtime's DEL afterwards is harmless.
#[test]
fn parallel_pipelines_failed_add_rolls_back_every_pipeline() {
    let test = "parallel_pipelines_failed_add_rolls_back_every_pipeline";
    if !gate::ready(test, &[Need::Macvlan]) {
        return;
    }
    let f = Fixture::new();
    let (statics, mut devs, decade) = wide_setup(&f);
    devs[2] = "lo".into();
    let want = wants(&f, &statics, Some((&decade, &devs)));
    let caps = gres_caps(&devs);
    let net = format!("mcni{}", f.n);
    f.write_net(&net, "conf", &meta(&f, &net, true, &statics, Some(&decade)));

    let add = f.cnitool("add", &net, &caps, Some(K8S_ARGS));
    assert!(
        !add.ok(),
        "ADD with a macvlan on lo passed: {}",
        add.describe()
    );
    let (code, msg) = crate::attach::cni_error(&add);
    let (log, _) = log_of(&f, &net);
    let ctx = || format!("{}\nlog:\n{log}", add.describe());
    assert!(
        code == 999
            && msg.starts_with("pipeline \"gres-2\" delegate \"grmv\": ")
            && msg.contains("invalid argument"),
        "not gres-2's macvlan error: {}",
        ctx()
    );
    assert_eq!(
        link_names(Some(&f.netns)),
        BTreeSet::from(["lo".to_string()]),
        "{}",
        ctx()
    );
    let ports = host::ip(&["-o", "link", "show", "master", &f.bridge]);
    assert!(
        ports.stdout.trim().is_empty(),
        "bridge ports left: {}",
        ports.describe()
    );
    assert_released(&f, &net, &want, "the rollback");
    assert!(
        log.contains("rolling back") && !log.contains("rollback:"),
        "no clean rollback in the log:\n{log}"
    );

    let del = f.cnitool("del", &net, &caps, Some(K8S_ARGS));
    assert!(del.ok(), "DEL after the failed ADD: {}", del.describe());
    assert_eq!(
        link_names(Some(&f.netns)),
        BTreeSet::from(["lo".to_string()])
    );
}

/// Links in the host namespace that belong to this test's attachments:
/// named in an ADD result, enslaved to the fixture's bridge, the host end
/// of a veth whose peer is in one of `pods`, or a macvlan on one of
/// `masters`. (Other links that came and went meanwhile are other tests'.)
fn our_host_links(
    f: &Fixture,
    result_names: &BTreeSet<String>,
    pods: &[String],
    masters: &[String],
) -> Vec<String> {
    let ids = host::ip(&["-j", "netns", "list"]);
    let ids: Value = serde_json::from_str(&ids.stdout).unwrap_or(Value::Null);
    let pod_ids: BTreeSet<i64> = ids
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| {
            n["name"]
                .as_str()
                .is_some_and(|x| pods.iter().any(|p| p == x))
        })
        .filter_map(|n| n["id"].as_i64())
        .collect();
    let all = host::ip(&["-d", "-j", "link", "show"]);
    assert!(all.ok(), "{}", all.describe());
    let all: Value = serde_json::from_str(&all.stdout).expect("ip -j link");
    all.as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            let name = l["ifname"].as_str().unwrap_or("");
            let kind = l["linkinfo"]["info_kind"].as_str().unwrap_or("");
            let why = if result_names.contains(name) {
                "named in an ADD result"
            } else if l["master"].as_str() == Some(f.bridge.as_str()) {
                "a port of the test's bridge"
            } else if kind == "veth"
                && l["link_netnsid"]
                    .as_i64()
                    .is_some_and(|i| pod_ids.contains(&i))
            {
                "a veth into a pod's namespace"
            } else if kind == "macvlan"
                && l["link"]
                    .as_str()
                    .is_some_and(|m| masters.iter().any(|x| x == m))
            {
                "a macvlan on a test master"
            } else {
                return None;
            };
            Some(format!("{name} ({kind}): {why}"))
        })
        .collect()
}

/// Run `cmds` all at once, one thread each; their outcomes in order.
fn all_at_once(cmds: Vec<Cmd>) -> (Vec<Out>, Duration) {
    let started = Instant::now();
    let outs = std::thread::scope(|s| {
        let running: Vec<_> = cmds.into_iter().map(|c| s.spawn(move || c.run())).collect();
        running
            .into_iter()
            .map(|h| h.join().expect("a cnitool thread panicked"))
            .collect()
    });
    (outs, started.elapsed())
}

/// 48 pods, each its own namespace and container ID, each `eth0` (bridge)
/// plus `net0` and `net1` (macvlan on two shared masters) with parallel
/// pipelines: 48 ADDs at once, 48 DELs at once, and afterwards no
/// reservation, record, link or process of theirs is left.
#[test]
fn parallel_pipelines_48_pods_at_once_leave_nothing_behind() {
    let test = "parallel_pipelines_48_pods_at_once_leave_nothing_behind";
    if !gate::ready(test, &[Need::Macvlan]) {
        return;
    }
    let started = Instant::now();
    let f = Fixture::new();
    let ms = masters(&f, 'c', 2);
    let statics: Vec<(String, Subnet)> = ms.iter().map(|m| (m.clone(), f.extra_subnet())).collect();
    let net = format!("mcni{}", f.n);
    f.write_net(&net, "conf", &meta(&f, &net, true, &statics, None));
    let want = wants(&f, &statics, None);
    let pods: Vec<String> = (0..PODS).map(|k| format!("{}-p{k}", f.netns)).collect();
    for p in &pods {
        f.add_netns(p);
    }
    let cid = |k: usize| format!("{}p{k}", f.cid);
    let path = |k: usize| format!("/var/run/netns/{}", pods[k]);
    let cmds = |op: &str| -> Vec<Cmd> {
        (0..PODS)
            .map(|k| {
                f.cnitool_cmd(op, &net, &path(k), &cid(k), &Value::Null, Some(K8S_ARGS))
                    .limit(POD_LIMIT)
            })
            .collect()
    };

    let (adds, add_took) = all_at_once(cmds("add"));
    // The guard deletes whatever host-side link an ADD reported, even if a
    // check below fails.
    let mut result_names = BTreeSet::new();
    for o in &adds {
        if let Ok(r) = serde_json::from_str::<Value>(&o.stdout) {
            for i in r["interfaces"].as_array().into_iter().flatten() {
                if let (Some(n), None) = (i["name"].as_str(), i.get("sandbox")) {
                    f.track_link(n);
                    if n != f.bridge {
                        result_names.insert(n.to_string());
                    }
                }
            }
        }
    }
    let failed: Vec<String> = adds
        .iter()
        .enumerate()
        .filter(|(_, o)| !o.ok())
        .map(|(k, o)| format!("pod {k}: {}", o.describe()))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {PODS} ADDs failed:\n{}",
        failed.len(),
        failed.join("\n")
    );

    let mut seen = BTreeSet::new();
    for (k, o) in adds.iter().enumerate() {
        let (_, _, addrs) = check_result(&f, o, &path(k), &want);
        let by_dev = addrs_by_dev(&pods[k]);
        for (w, a) in want.iter().zip(&addrs) {
            assert_eq!(by_dev.get(&w.ifname), Some(&vec![a.clone()]), "pod {k}");
            assert!(seen.insert(a.clone()), "{a} given twice (pod {k})");
        }
    }
    assert_eq!(
        result_names.len(),
        PODS,
        "one host veth per pod: {result_names:?}"
    );
    for w in &want {
        let held = reservations(&f.data.join(&w.ipam));
        let owners: BTreeSet<String> = held.iter().map(|h| h.1.clone()).collect();
        assert_eq!(held.len(), PODS, "{} reservations: {held:?}", w.ipam);
        assert_eq!(owners, (0..PODS).map(cid).collect(), "{}", w.ipam);
    }
    assert_eq!(records(&f, &net).len(), PODS, "{:?}", records(&f, &net));
    let running = processes_below(&f.root);
    assert!(running.is_empty(), "still running after ADD: {running:#?}");

    let (dels, del_took) = all_at_once(cmds("del"));
    let failed: Vec<String> = dels
        .iter()
        .enumerate()
        .filter(|(_, o)| !o.ok())
        .map(|(k, o)| format!("pod {k}: {}", o.describe()))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {PODS} DELs failed:\n{}",
        failed.len(),
        failed.join("\n")
    );

    for (k, p) in pods.iter().enumerate() {
        assert_eq!(
            link_names(Some(p)),
            BTreeSet::from(["lo".to_string()]),
            "pod {k} after DEL"
        );
    }
    assert_released(&f, &net, &want, "DEL");
    let cached: Vec<String> = std::fs::read_dir(f.cache.join("results"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(cached.is_empty(), "libcni cache survived DEL: {cached:?}");
    let ours = our_host_links(&f, &result_names, &pods, &ms);
    assert!(
        ours.is_empty(),
        "links left in the host namespace: {ours:#?}"
    );
    let running = processes_below(&f.root);
    assert!(running.is_empty(), "still running after DEL: {running:#?}");
    let (_, bad) = log_of(&f, &net);
    assert!(bad.is_empty(), "meta-cni warned: {bad:#?}");
    eprintln!(
        "{test}: {PODS} ADDs in {add_took:?}, {PODS} DELs in {del_took:?}, all in {:?}",
        started.elapsed()
    );
}
