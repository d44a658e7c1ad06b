//! One test's node: a private containerd with the CRI plugin, its CNI bin
//! and conf dirs, meta-cni's state and log, a bridge, two GRES devices
//! (macvlan masters), subnets, host ports and a cgroup parent; and the
//! guard that gives all of it back.
//!
//! A [`Node`] owns a temp dir `/tmp/meta-cni-containerd-<pid>-<k>` holding
//! containerd's root, state, sockets, runc root and debug log, the CNI bin
//! dir (meta-cni plus links to every reference plugin; `loopback` wrapped
//! to record the network namespace of every sandbox, a delayed plugin
//! wrapped to sleep), the CNI conf dir, host-local's `dataDir`, meta-cni's
//! `stateDir` and `logFile`. Names: network and link prefix
//! `mcd<pid%10000>x<n>`, subnets `10.<150 + pid%50>.<200+n>.0/24` (eth0) and
//! `10.<150 + pid%50>.<n><index>.0/24` (GRES instances), host ports from
//! `19000 + (pid%25)*40`, cgroup parent `/mcd-<pid>-<n>`.
//!
//! Nodes take turns ([`Node::new`] holds a process-wide lock until the node
//! is dropped): the tests measure time against CRI deadlines (one of them
//! starts 16 pods at once), which another test's pods on the same two CPUs
//! would skew, and portmap creates its shared chains check-then-create.
//! What a node looks for is its own, so other programs' namespaces, links
//! and rules on the host do not disturb it: the network namespaces its
//! containerd handed to CNI, links on its bridge and macvlans on its
//! GRES devices, rules of its subnets and ports, processes started from its
//! CNI bin dir, in its cgroup or naming its socket.
//!
//! Dropping a node (on success, on a failed assertion, on a panic): pods
//! still there are stopped and removed through CRI (so meta-cni's DEL runs),
//! containerd is stopped by its PID, its shims (their command line names
//! this node's socket) and their children, the pause processes in the
//! node's cgroup and any CNI plugin process started from its bin dir are
//! killed by PID; then the network namespaces containerd created for this
//! node, the links, the nat rules of its subnets and ports and portmap's
//! chains of its sandboxes (and portmap's shared chains if this process
//! created them), libcni's cache files of
//! its network, its cgroups, mounts below its temp dir and the temp dir
//! are removed.

use crate::cmd::{child_path, Cmd, Out};
use crate::conf::{self, Pod};
use crate::gate::{self, PLUGIN_DIR};
use crate::host;
use crate::subnet::Subnet;
use crate::tempdir::TempDir;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub const META_BIN: &str = env!("CARGO_BIN_EXE_meta-cni");
/// Craned's deadline for RunPodSandbox, StopPodSandbox and
/// RemovePodSandbox.
pub const CRI_DEADLINE_MS: u64 = 5000;
/// containerd must answer CRI calls with the network ready within this.
const START_LIMIT: Duration = Duration::from_secs(30);
/// SIGTERM to SIGKILL when stopping containerd.
const STOP_GRACE: Duration = Duration::from_secs(10);

fn pid() -> u32 {
    std::process::id()
}

fn turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

/// What was on the host before this process's first node, so that only
/// what the suite created is removed.
struct Before {
    shared_chains: bool,
    run_containerd: bool,
}

fn before() -> &'static Before {
    static BEFORE: OnceLock<Before> = OnceLock::new();
    BEFORE.get_or_init(|| Before {
        shared_chains: host::shared_chains_exist(),
        run_containerd: Path::new("/run/containerd").exists(),
    })
}

/// A plugin in the bin dir replaced by a wrapper that sleeps `secs` on ADD
/// and then runs the real one (DEL and the rest go straight through).
#[derive(Debug, Clone, Copy)]
pub struct Delay {
    pub plugin: &'static str,
    pub secs: u32,
}

#[derive(Debug, Clone, Copy)]
pub struct Opts {
    /// meta-cni's `timeoutSeconds`.
    pub timeout_seconds: u32,
    pub delay: Option<Delay>,
}

impl Default for Opts {
    fn default() -> Opts {
        // Below Craned's 5 s deadline: meta-cni gives up (and rolls back)
        // before containerd kills it.
        Opts {
            timeout_seconds: 3,
            delay: None,
        }
    }
}

pub struct Node {
    pub n: u32,
    /// CNI network name; also the prefix of every link name.
    pub net: String,
    pub bridge: String,
    /// The GRES devices: macvlan masters (one end of a veth pair each; the
    /// dummy module is not available everywhere).
    pub masters: [String; 2],
    peers: [String; 2],
    pub eth: Subnet,
    /// `10.A.<n>`: GRES instance `i` gets `10.A.<n><i>.0/24`.
    gres_base: String,
    pub cgroup_parent: String,
    ports: Mutex<Vec<u16>>,
    ctd: Mutex<Option<Child>>,
    /// sandbox id -> portmap's chain name for it.
    chains: Mutex<BTreeMap<String, String>>,
    dir: TempDir,
    _turn: MutexGuard<'static, ()>,
}

impl Node {
    /// A node with containerd running (network ready) and the pause image
    /// imported.
    pub fn new(opts: Opts) -> Node {
        static N: AtomicU32 = AtomicU32::new(1);
        let turn = turn();
        let _ = before();
        let n = N.fetch_add(1, Ordering::SeqCst);
        assert!(n <= 19, "too many nodes in one process (subnet scheme)");
        let a = 150 + pid() % 50;
        let tag = format!("mcd{}x{n}", pid() % 10000);
        let node = Node {
            n,
            net: tag.clone(),
            bridge: format!("{tag}b"),
            masters: [format!("{tag}m0"), format!("{tag}m1")],
            peers: [format!("{tag}p0"), format!("{tag}p1")],
            eth: Subnet {
                prefix: format!("10.{a}.{}", 200 + n),
            },
            gres_base: format!("10.{a}.{n}"),
            cgroup_parent: format!("/mcd-{}-{n}", pid()),
            ports: Mutex::default(),
            ctd: Mutex::default(),
            chains: Mutex::default(),
            dir: TempDir::new("containerd"),
            _turn: turn,
        };
        // From here on Drop cleans up whatever exists.
        node.lay_out(opts);
        node.start_containerd();
        node.import_image();
        node
    }

    pub fn dir(&self) -> &Path {
        &self.dir.0
    }
    pub fn bin(&self) -> PathBuf {
        self.dir().join("bin")
    }
    pub fn netd(&self) -> PathBuf {
        self.dir().join("net.d")
    }
    pub fn ipam(&self) -> PathBuf {
        self.dir().join("ipam")
    }
    pub fn mstate(&self) -> PathBuf {
        self.dir().join("meta-state")
    }
    pub fn meta_log(&self) -> PathBuf {
        self.dir().join("meta-cni.log")
    }
    pub fn ctd_log(&self) -> PathBuf {
        self.dir().join("containerd.log")
    }
    pub fn ctd_root(&self) -> PathBuf {
        self.dir().join("root")
    }
    pub fn ctd_state(&self) -> PathBuf {
        self.dir().join("state")
    }
    pub fn sock(&self) -> PathBuf {
        self.dir().join("c.sock")
    }
    /// `CNI_COMMAND CNI_CONTAINERID CNI_NETNS` of every call containerd
    /// made to the `loopback` plugin, which it runs for every sandbox before
    /// the pod's own network: the only place that names the network
    /// namespace of a pod whose RunPodSandbox failed (containerd 1.6 logs
    /// it nowhere, and removes it only if its teardown completes).
    pub fn netns_log(&self) -> PathBuf {
        self.dir().join("netns.log")
    }

    /// GRES instance `index`'s subnet.
    pub fn gres_subnet(&self, index: u32) -> Subnet {
        Subnet {
            prefix: format!("{}{index}", self.gres_base),
        }
    }

    /// The host-local subnet of the template pipeline, as a template.
    pub fn gres_subnet_template(&self) -> String {
        format!("{}{{{{.Gres.Index}}}}.0/24", self.gres_base)
    }

    /// A host port of this node's own.
    pub fn port(&self) -> u16 {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let k = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(k < 40, "too many host ports in one process");
        let p = (19000 + (pid() % 25) * 40 + k) as u16;
        self.ports.lock().unwrap_or_else(|e| e.into_inner()).push(p);
        p
    }

    fn ports(&self) -> Vec<u16> {
        self.ports.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// nat-rule markers: this node's subnet prefixes.
    fn markers(&self) -> Vec<String> {
        vec![
            self.eth.dotted(),
            self.gres_subnet(0).dotted(),
            self.gres_subnet(1).dotted(),
        ]
    }

    fn lay_out(&self, opts: Opts) {
        for d in [self.bin(), self.netd(), self.ipam(), self.mstate()] {
            std::fs::create_dir_all(d).expect("create node dir");
        }
        std::os::unix::fs::symlink(META_BIN, self.bin().join("meta-cni")).expect("link meta-cni");
        for e in std::fs::read_dir(PLUGIN_DIR)
            .expect("read plugin dir")
            .flatten()
        {
            std::os::unix::fs::symlink(e.path(), self.bin().join(e.file_name()))
                .expect("link plugin");
        }
        self.wrap(
            "loopback",
            &format!(
                "echo \"$CNI_COMMAND $CNI_CONTAINERID $CNI_NETNS\" >> {:?}",
                self.netns_log().display().to_string()
            ),
        );
        if let Some(d) = opts.delay {
            self.wrap(
                d.plugin,
                &format!("if [ \"$CNI_COMMAND\" = ADD ]; then sleep {}; fi", d.secs),
            );
        }
        for (m, p) in self.masters.iter().zip(&self.peers) {
            host::ip(&["link", "add", m, "type", "veth", "peer", "name", p]).expect_ok();
            host::ip(&["link", "set", m, "up"]).expect_ok();
            host::ip(&["link", "set", p, "up"]).expect_ok();
        }
        let conflist = conf::meta_conflist(self, opts.timeout_seconds);
        std::fs::write(
            self.netd().join(format!("10-{}.conflist", self.net)),
            serde_json::to_string_pretty(&conflist).expect("encode conflist"),
        )
        .expect("write conflist");
        std::fs::write(self.dir().join("config.toml"), conf::containerd_toml(self))
            .expect("write containerd config");
    }

    /// Put a script in the bin dir in `plugin`'s place that runs `first`,
    /// then execs the real plugin (same process: a kill still hits it).
    fn wrap(&self, plugin: &str, first: &str) {
        let w = self.bin().join(plugin);
        std::fs::remove_file(&w).expect("remove plugin link");
        std::fs::write(
            &w,
            format!("#!/bin/sh\n{first}\nexec {PLUGIN_DIR}/{plugin} \"$@\"\n"),
        )
        .expect("write wrapper");
        std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755))
            .expect("chmod wrapper");
    }

    /// Start containerd and wait until its CRI service says the runtime and
    /// the network (the CNI config loaded) are ready.
    pub fn start_containerd(&self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.ctd_log())
            .expect("open containerd log");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(self.dir().join("config.toml"))
            .env("PATH", child_path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start containerd");
        let pid = child.id();
        *self.ctd.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        let started = Instant::now();
        loop {
            if let Some(status) = self.ctd_exited() {
                panic!(
                    "containerd (pid {pid}) exited at start: {status}\n{}",
                    self.diag()
                );
            }
            let o = self.cri(&["status"], 2000);
            let last = if o.ok() {
                let v: Value = serde_json::from_str(&o.stdout).unwrap_or_default();
                let ready = |t: &str| {
                    v["conditions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|c| c["type"] == t && c["status"] == true)
                };
                if ready("RuntimeReady") && ready("NetworkReady") {
                    return;
                }
                o.stdout
            } else {
                o.describe()
            };
            if started.elapsed() > START_LIMIT {
                panic!(
                    "containerd (pid {pid}) not ready after {START_LIMIT:?}: {last}\n{}",
                    self.diag()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn ctd_exited(&self) -> Option<String> {
        let mut g = self.ctd.lock().unwrap_or_else(|e| e.into_inner());
        match g.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(s))) => Some(s.to_string()),
            _ => None,
        }
    }

    /// SIGKILL containerd (as a crash would); its shims and pods stay.
    pub fn kill_containerd(&self) {
        if let Some(mut c) = self.ctd.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM containerd, SIGKILL after a grace.
    fn stop_containerd(&self) {
        let Some(mut c) = self.ctd.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let until = Instant::now() + STOP_GRACE;
        while Instant::now() < until {
            if matches!(c.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    /// Kill containerd and start it again with the same root, state and
    /// config.
    pub fn restart_containerd(&self) {
        self.kill_containerd();
        self.start_containerd();
    }

    fn import_image(&self) {
        let t = gate::tools();
        let o = Cmd::new("ctr")
            .arg("--address")
            .arg(self.sock())
            .args(["-n", "k8s.io", "images", "import"])
            .arg(&t.pause_tar)
            .limit(Duration::from_secs(30))
            .run();
        assert!(o.ok(), "image import: {}\n{}", o.describe(), self.diag());
        assert!(
            o.stdout.contains(&t.pause_ref),
            "`ctr images import` did not name the image {}: {}",
            t.pause_ref,
            o.describe()
        );
    }

    /// `cri-client --socket S --timeout-ms MS ARGS...` (a real gRPC
    /// deadline of `ms`); the process itself gets 10 s more.
    pub fn cri(&self, args: &[&str], ms: u64) -> Out {
        Cmd::new(&gate::tools().cri_client)
            .arg("--socket")
            .arg(self.sock())
            .args(["--timeout-ms", &ms.to_string()])
            .args(args)
            .limit(Duration::from_millis(ms) + Duration::from_secs(10))
            .run()
    }

    /// RunPodSandbox with Craned's 5 s deadline.
    pub fn run_pod(&self, pod: &Pod) -> Out {
        let dir = self.dir().join("pods");
        std::fs::create_dir_all(&dir).expect("pods dir");
        let spec = dir.join(format!("{}.json", pod.name()));
        std::fs::write(
            &spec,
            serde_json::to_string_pretty(&pod.spec(self)).expect("encode pod"),
        )
        .expect("write pod spec");
        self.cri(&["run-pod", &spec.display().to_string()], CRI_DEADLINE_MS)
    }

    pub fn stop_pod(&self, id: &str) -> Out {
        self.cri(&["stop-pod", id], CRI_DEADLINE_MS)
    }

    pub fn remove_pod(&self, id: &str) -> Out {
        self.cri(&["remove-pod", id], CRI_DEADLINE_MS)
    }

    /// PodSandboxStatus (verbose) as `cri-client pod-status` prints it.
    pub fn pod_status(&self, id: &str) -> Value {
        let o = self.cri(&["pod-status", id], CRI_DEADLINE_MS);
        assert!(o.ok(), "pod-status: {}\n{}", o.describe(), self.diag());
        serde_json::from_str(&o.stdout).expect("pod-status JSON")
    }

    /// The sandbox ids ListPodSandbox returns.
    pub fn pod_ids(&self) -> Result<Vec<String>, Out> {
        let o = self.cri(&["list-pods"], CRI_DEADLINE_MS);
        if !o.ok() {
            return Err(o);
        }
        let v: Value = serde_json::from_str(&o.stdout).unwrap_or_default();
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["id"].as_str().map(str::to_string))
            .collect())
    }

    /// meta-cni's attachment record of sandbox `id`'s `eth0`.
    pub fn record(&self, id: &str) -> PathBuf {
        self.mstate()
            .join(&self.net)
            .join(format!("{id}-eth0.json"))
    }

    /// libcni's cache file of sandbox `id` on this network.
    pub fn libcni_cache(&self, id: &str) -> PathBuf {
        Path::new(host::LIBCNI_RESULTS).join(format!("{}-{id}-eth0", self.net))
    }

    /// The sandbox ids of this node's CNI calls (from
    /// [`Node::netns_log`]): also those of pods whose RunPodSandbox failed.
    fn sandbox_ids(&self) -> BTreeSet<String> {
        std::fs::read_to_string(self.netns_log())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_string)
            .collect()
    }

    /// portmap's DNAT chain name of every sandbox this node's containerd
    /// ran CNI for (portmap's network name is its delegate entry's,
    /// `portmap`).
    fn portmap_chains(&self) -> Vec<String> {
        let mut memo = self.chains.lock().unwrap_or_else(|e| e.into_inner());
        for id in self.sandbox_ids() {
            memo.entry(id)
                .or_insert_with_key(|id| host::portmap_chain("portmap", id));
        }
        memo.values().cloned().collect()
    }

    /// The network namespaces (`cni-...` names in /var/run/netns) this
    /// node's containerd made, as its CNI calls named them (see
    /// [`Node::netns_log`]); also those of pods whose RunPodSandbox failed.
    pub fn netns_made(&self) -> BTreeSet<String> {
        let text = std::fs::read_to_string(self.netns_log()).unwrap_or_default();
        let dir = format!("{}/", host::NETNS_DIR);
        text.lines()
            .filter_map(|l| l.split_whitespace().nth(2))
            .filter_map(|p| p.strip_prefix(&dir))
            .filter(|n| n.starts_with("cni-") && !n.contains('/'))
            .map(str::to_string)
            .collect()
    }

    /// Host links made for this node's pods: ports of its bridge (the
    /// pods' veth ends) and macvlans on its GRES devices.
    pub fn pod_links(&self) -> Vec<String> {
        let mut v = host::links_of(&self.bridge);
        let all = host::ip(&["-o", "link", "show", "type", "macvlan"]).stdout;
        for l in all.lines() {
            let Some(name) = l.split(": ").nth(1) else {
                continue;
            };
            if self
                .masters
                .iter()
                .any(|m| name.ends_with(&format!("@{m}")))
            {
                v.push(name.split('@').next().unwrap_or(name).to_string());
            }
        }
        v
    }

    /// Processes of this node: CNI plugins (meta-cni, delegates, wrappers)
    /// started from its bin dir, pause processes in its cgroup, its
    /// containerd's shims. Zombies are not counted.
    pub fn processes(&self) -> Vec<host::Proc> {
        let bin = self.bin().display().to_string();
        let sock = self.sock().display().to_string();
        let cg = format!("{}/", self.cgroup_parent);
        host::processes()
            .into_iter()
            .filter(|p| !p.zombie)
            .filter(|p| {
                p.cmdline.contains(&format!("-address {sock}"))
                    || p.cgroups().contains(&cg)
                    || p.environ().iter().any(|e| {
                        e.strip_prefix("CNI_PATH=")
                            .is_some_and(|v| v.split(':').any(|d| d == bin))
                    })
            })
            .collect()
    }

    /// Everything of this node's pods still on the host: CRI sandboxes,
    /// nat rules of its subnets and ports, host-local reservations,
    /// meta-cni records, new host links, new network namespaces,
    /// processes, libcni cache files, mounts below the node's state.
    /// Empty: nothing left.
    pub fn leftovers(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.ctd.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
            match self.pod_ids() {
                Ok(ids) => v.extend(ids.iter().map(|i| format!("pod sandbox still listed: {i}"))),
                Err(o) => v.push(format!("ListPodSandbox failed: {}", o.describe())),
            }
        }
        let (rules, _) = host::nat_rules_of(
            &host::nat_rules(),
            &self.markers(),
            &self.ports(),
            &self.portmap_chains(),
        );
        v.extend(rules.iter().map(|r| match r.strip_prefix("chain ") {
            Some(c) => format!("nat chain: {c}"),
            None => format!("nat rule: {r}"),
        }));
        v.extend(
            self.reservations()
                .iter()
                .map(|r| format!("host-local reservation: {r}")),
        );
        v.extend(
            self.records()
                .iter()
                .map(|r| format!("meta-cni record: {r}")),
        );
        v.extend(self.pod_links().iter().map(|l| format!("host link: {l}")));
        let now = host::cni_netns();
        for ns in self.netns_made().intersection(&now) {
            v.push(format!("netns: {}/{ns}", host::NETNS_DIR));
        }
        v.extend(
            self.processes()
                .iter()
                .map(|p| format!("process: {}", p.describe())),
        );
        v.extend(
            host::libcni_cache(&[format!("{}-", self.net)])
                .iter()
                .map(|p| format!("libcni cache: {}", p.display())),
        );
        let sandboxes = self.ctd_state();
        v.extend(
            host::mounts_below(&sandboxes)
                .iter()
                .map(|m| format!("mount: {m}")),
        );
        v
    }

    /// Poll [`Node::leftovers`] until empty or `limit` passed; returns the
    /// last list.
    pub fn leftovers_within(&self, limit: Duration) -> Vec<String> {
        let until = Instant::now() + limit;
        loop {
            let v = self.leftovers();
            if v.is_empty() || Instant::now() >= until {
                return v;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// host-local reservation files (named by the IP they reserve) under
    /// the node's `dataDir`, as `<network>/<ip>`.
    pub fn reservations(&self) -> Vec<String> {
        let mut v = Vec::new();
        for net in std::fs::read_dir(self.ipam())
            .into_iter()
            .flatten()
            .flatten()
        {
            for f in std::fs::read_dir(net.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let name = f.file_name().to_string_lossy().into_owned();
                if name.parse::<std::net::IpAddr>().is_ok() {
                    v.push(format!("{}/{name}", net.file_name().to_string_lossy()));
                }
            }
        }
        v.sort();
        v
    }

    /// meta-cni's attachment records (not its spare or lock files).
    pub fn records(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.mstate().join(&self.net))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.') && n.ends_with(".json"))
            .collect();
        v.sort();
        v
    }

    /// The last lines of containerd's debug log and of meta-cni's log, for
    /// failure messages.
    pub fn diag(&self) -> String {
        format!(
            "--- containerd log ({}), last lines ---\n{}\n--- meta-cni log ({}), last lines ---\n{}",
            self.ctd_log().display(),
            tail(&self.ctd_log(), 40),
            self.meta_log().display(),
            tail(&self.meta_log(), 40),
        )
    }
}

fn tail(p: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| format!("({e})"));
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| {
            // Debug dumps of whole configs: keep the head of each line.
            if l.len() > 600 {
                let cut = (0..=600)
                    .rev()
                    .find(|i| l.is_char_boundary(*i))
                    .unwrap_or(0);
                format!("{} ...", &l[..cut])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Drop for Node {
    fn drop(&mut self) {
        let mut notes: Vec<String> = Vec::new();
        // Pods still there: stop and remove them through CRI, so that
        // meta-cni's DEL undoes what only the plugins know about.
        if self.ctd.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
            if let Ok(ids) = self.pod_ids() {
                for id in ids {
                    for o in [self.stop_pod(&id), self.remove_pod(&id)] {
                        if !o.ok() {
                            notes.push(format!("cleanup: {}", o.describe()));
                        }
                    }
                }
            }
        }
        self.stop_containerd();
        // Shims, pause processes, plugins: by PID.
        let all = host::processes();
        for p in self.processes() {
            host::kill_tree(p.pid, &all);
        }
        notes.extend(host::remove_netns(&self.netns_made()));
        for l in self.pod_links() {
            let _ = host::ip(&["link", "del", &l]);
        }
        for l in [&self.bridge, &self.masters[0], &self.masters[1]] {
            if host::link_exists(l) {
                let o = host::ip(&["link", "del", l]);
                if !o.ok() {
                    notes.push(format!("link {l}: {}", o.describe()));
                }
            }
        }
        notes.extend(host::remove_nat_rules(
            &self.markers(),
            &self.ports(),
            &self.portmap_chains(),
        ));
        if !before().shared_chains {
            notes.extend(host::remove_shared_chains_if_unused());
        }
        let mut cache = vec![format!("{}-", self.net)];
        cache.extend(
            self.sandbox_ids()
                .into_iter()
                .map(|id| format!("cni-loopback-{id}-")),
        );
        for f in host::libcni_cache(&cache) {
            let _ = std::fs::remove_file(f);
        }
        notes.extend(host::remove_cgroups(&self.cgroup_parent));
        notes.extend(host::unmount_below(self.dir()));
        if !before().run_containerd {
            // The shims' sockets live in /run/containerd/s (not
            // configurable in containerd 1.6); gone with the last shim.
            let _ = std::fs::remove_dir("/run/containerd/s");
            let _ = std::fs::remove_dir("/run/containerd");
        }
        if !notes.is_empty() {
            let _ = writeln!(
                std::io::stderr(),
                "node {} ({}) cleanup problems:\n{}",
                self.n,
                self.dir().display(),
                notes.join("\n")
            );
        }
        // The temp dir goes with `self.dir`, the turn with `self._turn`.
    }
}
