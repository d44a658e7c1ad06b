//! A real container runtime: podman 4.3's CNI backend (libcni) wires a real
//! container through meta-cni (seed shape: bridge + host-local, portmap).
//! Hermetic: podman gets its own containers.conf (CNI backend, our bin dir
//! and config dir, its tmp dir inside the test's temp dir, no event log),
//! its own `--root`/`--runroot`, `--runtime runc`, and an image imported
//! from a busybox-static rootfs the test builds. Recipe: `docs/testing.md`.

use crate::cmd::{Cmd, Out};
use crate::conf;
use crate::fixture::Fixture;
use crate::gate::{self, Need};
use crate::host;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Generous but finite: an image import or a container run.
const PODMAN_LIMIT: Duration = Duration::from_secs(120);
const IMAGE: &str = "localhost/mcni-busybox:1";
const READY: &str = "MCNI-READY";

/// podman with this test's storage and config.
struct Podman {
    conf: PathBuf,
    root: PathBuf,
    runroot: PathBuf,
    /// The network's name: libcni keeps its cache in /var/lib/cni/results
    /// (podman has no knob for it), files named `<net>-<id>-<if>`.
    net: String,
}

impl Podman {
    fn cmd(&self) -> Cmd {
        let mut env = std::collections::BTreeMap::new();
        env.insert(
            "CONTAINERS_CONF".to_string(),
            self.conf.display().to_string(),
        );
        env.insert("HOME".to_string(), self.root.display().to_string());
        Cmd::new("podman")
            .env_exact(env)
            .arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .args(["--runtime", "runc"])
            .limit(PODMAN_LIMIT)
    }
}

impl Drop for Podman {
    /// Runs before the fixture's guard (declared after it): remove any
    /// container still there (a failed test may leave one running: its
    /// teardown also runs the CNI DEL), unmount the storage, and remove
    /// libcni's cache files of this network.
    fn drop(&mut self) {
        let turn = host::net_lock();
        let _ = self
            .cmd()
            .args(["rm", "-a", "-f", "-t", "0"])
            .limit(Duration::from_secs(60))
            .run();
        drop(turn);
        let mut notes = host::unmount_below(&self.root);
        notes.extend(host::unmount_below(&self.runroot));
        let results = Path::new("/var/lib/cni/results");
        if let Ok(rd) = std::fs::read_dir(results) {
            for e in rd.flatten() {
                if e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{}-", self.net))
                {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}

/// Namespaces that are not this suite's own (`mcni-*`): podman's.
fn foreign_netns() -> Vec<String> {
    let mut v: Vec<String> = host::ip(&["netns", "list"])
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|n| !n.starts_with("mcni-"))
        .collect();
    v.sort();
    v
}

fn build_image(f: &Fixture, p: &Podman) {
    let busybox = gate::static_busybox().expect("gate checked busybox");
    let rootfs = f.root.join("rootfs");
    let bin = rootfs.join("bin");
    std::fs::create_dir_all(&bin).expect("rootfs");
    std::fs::copy(&busybox, bin.join("busybox")).expect("copy busybox");
    for applet in ["sh", "ip", "echo", "cat"] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("applet link");
    }
    let tar = f.root.join("rootfs.tar");
    Cmd::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .run()
        .expect_ok();
    p.cmd()
        .args(["import", "-q"])
        .arg(&tar)
        .arg(IMAGE)
        .run()
        .expect_ok();
}

#[test]
fn podman_container_gets_eth0_from_meta_cni_and_del_cleans_up() {
    let name = "podman_container_gets_eth0_from_meta_cni_and_del_cleans_up";
    if !gate::ready(name, &[Need::Podman]) {
        return;
    }
    let f = Fixture::new();
    let net = format!("mcni{}", f.n);
    // The meta config is the single plugin of a conflist; libcni fills in
    // its name and cniVersion.
    let mut meta = conf::seed_meta(&f, "1.0.0", &net, false);
    if let Some(m) = meta.as_object_mut() {
        m.remove("name");
        m.remove("cniVersion");
    }
    f.write_net(
        &net,
        "conflist",
        &json!({"cniVersion": "1.0.0", "name": net, "plugins": [meta]}),
    );
    let tmp = f.root.join("ptmp");
    std::fs::create_dir_all(&tmp).expect("podman tmp dir");
    let containers_conf = f.root.join("containers.conf");
    std::fs::write(
        &containers_conf,
        format!(
            "[engine]\ntmp_dir = {tmp:?}\nevents_logger = \"none\"\n\n\
             [network]\nnetwork_backend = \"cni\"\ncni_plugin_dirs = [{bin:?}]\n\
             network_config_dir = {netd:?}\n",
            tmp = tmp.display().to_string(),
            bin = f.bin.display().to_string(),
            netd = f.netconf.display().to_string(),
        ),
    )
    .expect("containers.conf");
    let p = Podman {
        conf: containers_conf,
        root: f.root.join("root"),
        runroot: f.root.join("run"),
        net: net.clone(),
    };
    assert!(
        p.runroot.display().to_string().len() <= 50,
        "podman refuses a runroot > 50 chars"
    );
    build_image(&f, &p);
    let netns_before = foreign_netns();

    // The container prints its addresses, then waits on stdin: while it
    // runs the DNAT rule and the reservation must exist; closing stdin ends
    // it, and `--rm` makes podman run the CNI DEL.
    let port = f.host_port.to_string();
    let turn = host::net_lock(); // the ADD
    let mut run = p
        .cmd()
        .args([
            "run",
            "--rm",
            "-i",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ])
        .args(["--network", &net, "-p", &format!("{port}:80"), IMAGE])
        .args([
            "sh",
            "-c",
            &format!("ip -4 -o addr; echo {READY}; read x; echo done"),
        ])
        .stdin(Vec::new())
        .interactive()
        .spawn()
        .unwrap_or_else(|o| panic!("podman did not start: {}", o.describe()));
    let ready = run.wait_stdout(PODMAN_LIMIT, |s| s.contains(READY));
    drop(turn);
    let printed = run.stdout_so_far();
    assert!(
        ready,
        "container never got ready\nstdout: {printed}\nstderr: {}",
        run.stderr_so_far()
    );
    let eth0: Vec<String> = host::parse_inet(
        &printed
            .lines()
            .filter(|l| l.contains(" eth0 "))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    assert_eq!(
        eth0.len(),
        1,
        "one IPv4 address on eth0 expected:\n{printed}"
    );
    let addr = &eth0[0];
    assert!(
        f.subnet.contains(addr) && addr.ends_with("/24"),
        "{addr} not in {}",
        f.subnet.cidr()
    );
    let ip = addr.trim_end_matches("/24");

    let nat = host::nat_rules();
    let dnat = format!("--dport {port} -j DNAT --to-destination {ip}:80");
    assert!(
        nat.contains(&dnat),
        "no `{dnat}` while the container runs:\n{nat}"
    );
    // meta-cni names the bridge delegate "calico": host-local's dir.
    let res = f.reservation("calico", ip);
    let holder = std::fs::read_to_string(&res)
        .unwrap_or_else(|e| panic!("no reservation {} while running: {e}", res.display()));
    let cid = holder.lines().next().unwrap_or("").trim().to_string();
    assert_eq!(
        cid.len(),
        64,
        "podman's container ID holds the address: {holder:?}"
    );
    f.add_marker(&cid);
    assert!(
        nat.contains(&format!("id: \\\"{cid}\\\"")),
        "portmap's rule names another container:\n{nat}"
    );

    let out: Out = {
        let _turn = host::net_lock(); // the DEL
        run.close_stdin();
        run.finish()
    };
    assert!(out.ok(), "podman run: {}", out.describe());
    assert!(out.stdout.contains("done"), "{}", out.describe());

    // --rm: the container is gone and DEL ran through meta-cni.
    assert!(
        !res.exists(),
        "reservation {} survived the container",
        res.display()
    );
    let nat = host::nat_rules();
    assert!(
        !nat.contains(&format!("{ip}:80")),
        "DNAT rule survived the container:\n{nat}"
    );
    assert!(
        !nat.contains(&cid),
        "a rule still names the container:\n{nat}"
    );
    let ports = host::ip(&["-o", "link", "show", "master", &f.bridge]);
    assert_eq!(
        ports.stdout.trim(),
        "",
        "a veth is still on the bridge: {}",
        ports.describe()
    );
    assert_eq!(foreign_netns(), netns_before, "podman's netns survived");
    let ps = p.cmd().args(["ps", "-a", "-q"]).run();
    assert_eq!(ps.expect_ok().trim(), "", "container not removed");
}
