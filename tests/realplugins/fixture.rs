//! One test's private piece of the host, and the guard that gives it back.
//!
//! A [`Fixture`] owns: a network namespace `mcni-<pid>-<n>`, a bridge name
//! `mcb<pid%10000><n>` (at most 15 bytes), a 10.x subnet of its own, a host
//! port, a container ID, and a temp dir `/tmp/mcni-<pid>-<n>` holding the
//! CNI bin dir (meta-cni plus links to every reference plugin), the
//! NETCONFPATH dir, host-local's `dataDir`, `CNI_CACHE_DIR` and meta-cni's
//! `stateDir`. Dropping it (on success, on a failed assertion, on a panic)
//! deletes the namespaces, the bridge and every other link the test
//! registered, the nat rules and chains that mention its container IDs or
//! subnets, anything mounted below its temp dir, and the temp dir.

use crate::cmd::{Cmd, Out};
use crate::gate::{cnitool, PLUGIN_DIR};
use crate::host;
use crate::subnet::Subnet;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub const META_BIN: &str = env!("CARGO_BIN_EXE_meta-cni");
/// Deadline for one cnitool operation (the meta config's own
/// `timeoutSeconds` is 30; this must be larger so that meta-cni's own
/// timeout handling, not ours, is what a slow delegate runs into).
const CNITOOL_LIMIT: Duration = Duration::from_secs(60);

/// Fixture numbers and the third octets of subnets, unique within the
/// process.
static N: AtomicU32 = AtomicU32::new(1);

fn next_n() -> u32 {
    N.fetch_add(1, Ordering::SeqCst)
}

fn pid() -> u32 {
    std::process::id()
}

impl Subnet {
    /// A /24 in `10.<200 + pid % 50>.<n>.0/24`: unique within the process
    /// (fresh `n`) and, very likely, across two suites running at once.
    pub fn fresh() -> Subnet {
        let n = next_n();
        assert!(n < 255, "too many subnets in one process");
        Subnet {
            prefix: format!("10.{}.{n}", 200 + pid() % 50),
        }
    }
}

/// Ten /24s `10.<200 + pid % 50>.<D>0` .. `.<D>9` (third octets `10D` ..
/// `10D+9`, taken from the same counter as [`Subnet::fresh`]), so that a
/// template can name instance `i`'s subnet by appending the GRES index,
/// e.g. `10.A.<D>{{.Gres.Index}}.0/24` for indexes 0 to 9.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetDecade {
    /// `10.A.D`: a subnet's prefix without the last digit of its third
    /// octet.
    pub head: String,
}

impl SubnetDecade {
    pub fn fresh() -> SubnetDecade {
        let mut start = 0;
        let _ = N.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |cur| {
            start = cur.div_ceil(10).max(1) * 10;
            Some(start + 10)
        });
        assert!(start + 9 < 255, "too many subnets in one process");
        SubnetDecade {
            head: format!("10.{}.{}", 200 + pid() % 50, start / 10),
        }
    }

    /// The subnet of index `i` (0 to 9).
    pub fn subnet(&self, i: u32) -> Subnet {
        assert!(i < 10, "a decade has ten subnets");
        Subnet {
            prefix: format!("{}{i}", self.head),
        }
    }

    /// `10.A.D{{.Gres.Index}}.0/24`: the subnet of the GRES index.
    pub fn gres_template(&self) -> String {
        format!("{}{{{{.Gres.Index}}}}.0/24", self.head)
    }
}

/// One `cnitool add`: (network, netns path, CAP_ARGS, CNI_ARGS).
type AddCall = (String, String, Value, Option<String>);

pub struct Fixture {
    pub n: u32,
    pub root: PathBuf,
    /// NETCONFPATH.
    pub netconf: PathBuf,
    /// CNI_PATH: `meta-cni` plus links to every reference plugin.
    pub bin: PathBuf,
    /// host-local `dataDir`.
    pub data: PathBuf,
    pub cache: PathBuf,
    /// meta-cni `stateDir`.
    pub state: PathBuf,
    pub netns: String,
    pub bridge: String,
    pub subnet: Subnet,
    pub host_port: u16,
    pub cid: String,
    links: RefCell<Vec<String>>,
    netnses: RefCell<Vec<String>>,
    markers: RefCell<Vec<String>>,
    /// Every `cnitool add` run: (network, netns path, CAP_ARGS, CNI_ARGS),
    /// so a failing test's guard can first let the plugins undo their own
    /// work with a DEL.
    adds: RefCell<Vec<AddCall>>,
}

impl Fixture {
    pub fn new() -> Fixture {
        host::shared_chains_were_there();
        let n = next_n();
        let p = pid();
        let root = PathBuf::from(format!("/tmp/mcni-{p}-{n}"));
        let _ = std::fs::remove_dir_all(&root);
        let f = Fixture {
            n,
            netconf: root.join("net.d"),
            bin: root.join("bin"),
            data: root.join("ipam"),
            cache: root.join("cache"),
            state: root.join("state"),
            root,
            netns: format!("mcni-{p}-{n}"),
            bridge: format!("mcb{}{n}", p % 10000),
            subnet: Subnet::fresh(),
            host_port: 18000 + n as u16,
            cid: format!("mcnictr{p}x{n}"),
            links: RefCell::default(),
            netnses: RefCell::default(),
            markers: RefCell::default(),
            adds: RefCell::default(),
        };
        assert!(f.bridge.len() <= 15, "bridge name {} too long", f.bridge);
        // From here on Drop cleans up whatever exists.
        f.track_link(&f.bridge.clone());
        f.add_marker(&f.cid.clone());
        f.add_marker(&f.subnet.dotted());
        for d in [&f.netconf, &f.bin, &f.data, &f.cache, &f.state] {
            std::fs::create_dir_all(d).expect("create fixture dir");
        }
        // Writable by root alone, whatever the umask: meta-cni trusts its
        // state directory only then (docs/security.md).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f.root, std::fs::Permissions::from_mode(0o755))
            .expect("chmod fixture dir");
        std::os::unix::fs::symlink(META_BIN, f.bin.join("meta-cni")).expect("link meta-cni");
        for e in std::fs::read_dir(PLUGIN_DIR)
            .expect("read plugin dir")
            .flatten()
        {
            std::os::unix::fs::symlink(e.path(), f.bin.join(e.file_name())).expect("link plugin");
        }
        f.add_netns(&f.netns.clone());
        f
    }

    /// Create (and own) another namespace.
    pub fn add_netns(&self, name: &str) {
        self.netnses.borrow_mut().push(name.to_string());
        host::ip(&["netns", "add", name]).expect_ok();
    }

    /// Delete this link (if it still exists) on drop.
    pub fn track_link(&self, name: &str) {
        let mut l = self.links.borrow_mut();
        if !l.iter().any(|x| x == name) {
            l.push(name.to_string());
        }
    }

    /// nat rules containing `m` are this test's (removed on drop).
    pub fn add_marker(&self, m: &str) {
        self.markers.borrow_mut().push(m.to_string());
    }

    /// A fresh subnet owned (for cleanup) by this fixture.
    pub fn extra_subnet(&self) -> Subnet {
        let s = Subnet::fresh();
        self.add_marker(&s.dotted());
        s
    }

    /// Ten fresh subnets owned (for cleanup) by this fixture.
    pub fn extra_decade(&self) -> SubnetDecade {
        let d = SubnetDecade::fresh();
        for i in 0..10 {
            self.add_marker(&d.subnet(i).dotted());
        }
        d
    }

    /// A veth pair `a`/`b` in the host namespace, both up, owned.
    pub fn veth_pair(&self, a: &str, b: &str) {
        self.track_link(a);
        host::ip(&["link", "add", a, "type", "veth", "peer", "name", b]).expect_ok();
        host::ip(&["link", "set", a, "up"]).expect_ok();
        host::ip(&["link", "set", b, "up"]).expect_ok();
    }

    pub fn netns_path(&self) -> String {
        format!("/var/run/netns/{}", self.netns)
    }

    /// Write `NAME.EXT` (`conf` or `conflist`) into NETCONFPATH.
    pub fn write_net(&self, name: &str, ext: &str, conf: &Value) -> PathBuf {
        let p = self.netconf.join(format!("{name}.{ext}"));
        let text = serde_json::to_string_pretty(conf).expect("encode conf");
        std::fs::write(&p, text).expect("write net conf");
        p
    }

    /// The host-local reservation file for `ip` in network dir `net`.
    pub fn reservation(&self, net: &str, ip: &str) -> PathBuf {
        self.data.join(net).join(ip)
    }

    /// `cnitool OP NET /var/run/netns/<ns>` with this fixture's CNI
    /// environment. `cap_args`: Null for none. `cni_args`: `CNI_ARGS`.
    pub fn cnitool(&self, op: &str, net: &str, cap_args: &Value, cni_args: Option<&str>) -> Out {
        self.cnitool_in(op, net, &self.netns_path(), cap_args, cni_args)
    }

    pub fn cnitool_in(
        &self,
        op: &str,
        net: &str,
        netns_path: &str,
        cap_args: &Value,
        cni_args: Option<&str>,
    ) -> Out {
        if op == "add" {
            self.adds.borrow_mut().push((
                net.to_string(),
                netns_path.to_string(),
                cap_args.clone(),
                cni_args.map(str::to_string),
            ));
        }
        let out = {
            let _turn = host::net_lock();
            self.cnitool_cmd(op, net, netns_path, &self.cid, cap_args, cni_args)
                .run()
        };
        if op == "add" {
            // Host-side interfaces of the result (bridge, veth, bandwidth's
            // ifb) are deleted by the guard even if the test never gets to
            // look at the result.
            if let Ok(r) = serde_json::from_str::<Value>(&out.stdout) {
                for i in r["interfaces"].as_array().into_iter().flatten() {
                    if let (Some(n), None) = (i["name"].as_str(), i.get("sandbox")) {
                        self.track_link(n);
                    }
                }
            }
        }
        out
    }

    /// The `cnitool OP NET NETNS_PATH` command for container `cid` with
    /// this fixture's CNI environment, not yet run. It can be moved to
    /// another thread, so that a test can run many at once; run that way
    /// it takes no turn on [`host::net_lock`] (not for plugins that change
    /// the nat table) and the guard does not DEL what its ADD made.
    pub fn cnitool_cmd(
        &self,
        op: &str,
        net: &str,
        netns_path: &str,
        cid: &str,
        cap_args: &Value,
        cni_args: Option<&str>,
    ) -> Cmd {
        let mut env = BTreeMap::new();
        let s = |p: &Path| p.display().to_string();
        env.insert("NETCONFPATH".to_string(), s(&self.netconf));
        env.insert("CNI_PATH".to_string(), s(&self.bin));
        env.insert("CNI_IFNAME".to_string(), "eth0".to_string());
        env.insert("CNI_CONTAINERID".to_string(), cid.to_string());
        env.insert("CNI_CACHE_DIR".to_string(), s(&self.cache));
        if let Some(a) = cni_args {
            env.insert("CNI_ARGS".to_string(), a.to_string());
        }
        if !cap_args.is_null() {
            env.insert("CAP_ARGS".to_string(), cap_args.to_string());
        }
        Cmd::new(cnitool())
            .args([op, net, netns_path])
            .env_exact(env)
            .limit(CNITOOL_LIMIT)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let mut notes: Vec<String> = Vec::new();
        if std::thread::panicking() {
            // The test failed somewhere between ADD and its own DEL: a
            // best-effort DEL lets the plugins remove what only they know
            // about (e.g. an ifb from an ADD whose output was lost).
            let adds = self.adds.borrow().clone();
            for (net, ns, caps, args) in adds.iter().rev() {
                let _ = self.cnitool_in("del", net, ns, caps, args.as_deref());
            }
        }
        for ns in self.netnses.borrow().iter() {
            if host::netns_exists(ns) {
                let o = host::ip(&["netns", "del", ns]);
                if !o.ok() {
                    notes.push(format!("netns {ns}: {}", o.describe()));
                }
            }
        }
        for l in self.links.borrow().iter() {
            if host::link_exists(l) {
                let o = host::ip(&["link", "del", l]);
                if !o.ok() {
                    notes.push(format!("link {l}: {}", o.describe()));
                }
            }
        }
        let removed = host::remove_nat_leftovers(&self.markers.borrow());
        if removed.iter().any(|r| r.starts_with("FAILED")) {
            notes.extend(removed);
        }
        if !host::shared_chains_were_there() {
            let _turn = host::net_lock();
            // "still hold container rules": another test's, kept for it.
            notes.extend(
                host::remove_shared_chains_if_unused()
                    .into_iter()
                    .filter(|n| n.starts_with("iptables-restore")),
            );
        }
        notes.extend(host::unmount_below(&self.root));
        if let Err(e) = std::fs::remove_dir_all(&self.root) {
            if self.root.exists() {
                notes.push(format!("rm -r {}: {e}", self.root.display()));
            }
        }
        if !notes.is_empty() {
            let _ = writeln!(
                std::io::stderr(),
                "fixture {} cleanup problems:\n{}",
                self.n,
                notes.join("\n")
            );
        }
    }
}
