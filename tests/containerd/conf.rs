//! What containerd is given: its own config, the CNI network (a `.conflist`
//! whose single plugin is meta-cni, multi-NIC shape), and the pods as
//! CraneSched's Craned asks for them.

use crate::node::Node;
use serde_json::{json, Map, Value};

/// The GRES template pipeline's name: Craned's annotations for it are
/// `cranesched.internal/meta-cni/gres/gres/<index>`.
pub const GRES_PIPELINE: &str = "gres";
/// Interface prefix of the template pipeline: `net0`, `net1`, ...
pub const GRES_PREFIX: &str = "net";

/// containerd's config: everything it writes under the node's temp dir
/// (root, state, sockets, runc's state, the `opt` plugin's dir), CNI from
/// the node's bin and conf dirs, the locally imported pause image.
pub fn containerd_toml(node: &Node) -> String {
    let q = |p: &std::path::Path| format!("{:?}", p.display().to_string());
    format!(
        r#"version = 2
root = {root}
state = {state}
# Snapshotters this suite does not use (and that probe the host at start).
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = {sock}

[ttrpc]
  address = {ttrpc}

[debug]
  level = "debug"

[plugins."io.containerd.internal.v1.opt"]
  path = {opt}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{image}"
  # Without it runc fails here with "can't get final child's PID from pipe"
  # (the sandbox may not lower oom_score_adj below its own).
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = {runc}

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = {bin}
    conf_dir = {netd}
    max_conf_num = 1
"#,
        root = q(&node.ctd_root()),
        state = q(&node.ctd_state()),
        sock = q(&node.sock()),
        ttrpc = q(&node.dir().join("c.ttrpc")),
        opt = q(&node.dir().join("opt")),
        image = crate::gate::tools().pause_ref,
        runc = q(&node.dir().join("runc")),
        bin = q(&node.bin()),
        netd = q(&node.netd()),
    )
}

/// The meta config as containerd's CNI conf dir holds it: a `.conflist`
/// with meta-cni as its only plugin, declaring the capabilities containerd
/// must fill in (port mappings for portmap, pod annotations for the GRES
/// template pipeline).
///
/// * pipeline `ethernet` on `eth0`: `bridge` (the node's bridge, gateway,
///   host-local in the node's eth0 subnet), then `portmap` (`snat`);
/// * template pipeline `gres` (`net<index>`): `macvlan` whose master is the
///   annotation's device, host-local in `10.A.<n><index>.0/24`, named
///   per instance (`macvlan-<index>`) so the instances' reservations and
///   names stay apart.
pub fn meta_conflist(node: &Node, timeout_seconds: u32) -> Value {
    let ipam = node.ipam();
    let meta = json!({
        "type": "meta-cni",
        "logLevel": "debug",
        "logFile": node.meta_log(),
        "timeoutSeconds": timeout_seconds,
        "stateDir": node.mstate(),
        "capabilities": {"portMappings": true, "io.kubernetes.cri.pod-annotations": true},
        "pipelines": [
            {"name": "ethernet", "ifName": "eth0", "delegates": [
                {"name": "bridge", "conf": {
                    "type": "bridge", "bridge": node.bridge, "isGateway": true, "ipMasq": false,
                    "ipam": {"type": "host-local", "dataDir": ipam,
                             "ranges": [[{"subnet": node.eth.cidr()}]],
                             "routes": [{"dst": "0.0.0.0/0"}]}}},
                {"name": "portmap", "conf": {
                    "type": "portmap", "snat": true, "capabilities": {"portMappings": true}}}
            ]},
            {"name": GRES_PIPELINE, "ifNamePrefix": GRES_PREFIX, "delegates": [
                {"name": "macvlan", "conf": {
                    "type": "macvlan", "name": "macvlan-{{.Gres.Index}}",
                    "master": "{{.Gres.Device}}", "mode": "bridge",
                    "ipam": {"type": "host-local", "dataDir": ipam,
                             "ranges": [[{"subnet": node.gres_subnet_template()}]]}}}
            ]}
        ]
    });
    json!({"cniVersion": "1.0.0", "name": node.net, "plugins": [meta]})
}

/// A pod as Craned sends it: namespace `cranesched`, name
/// `job-<jobid>-<node>`, a uid hashed from both, Craned's annotations
/// (`cranesched.internal/...`, GRES devices among them), port mappings and
/// DNS.
#[derive(Clone, Debug)]
pub struct Pod {
    pub job: u32,
    pub node_name: String,
    /// (index, device): `cranesched.internal/meta-cni/gres/gres/<index>` =
    /// `<device>`.
    pub gres: Vec<(u32, String)>,
    /// Host ports mapped to the pod's port 80/tcp.
    pub ports: Vec<u16>,
}

impl Pod {
    pub fn name(&self) -> String {
        format!("job-{}-{}", self.job, self.node_name)
    }

    /// A uid in UUID form, hashed (FNV-1a) from job and node.
    pub fn uid(&self) -> String {
        let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
        for b in format!("{}/{}", self.job, self.node_name).bytes() {
            h ^= u128::from(b);
            h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
        }
        let x = format!("{h:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &x[..8],
            &x[8..12],
            &x[12..16],
            &x[16..20],
            &x[20..]
        )
    }

    /// The JSON spec `cri-client run-pod` reads.
    pub fn spec(&self, node: &Node) -> Value {
        let mut ann = Map::new();
        ann.insert(
            "cranesched.internal/job-id".into(),
            json!(self.job.to_string()),
        );
        ann.insert("cranesched.internal/node".into(), json!(self.node_name));
        for (i, dev) in &self.gres {
            ann.insert(
                format!("cranesched.internal/meta-cni/gres/{GRES_PIPELINE}/{i}"),
                json!(dev),
            );
        }
        let ports: Vec<Value> = self
            .ports
            .iter()
            .map(|p| json!({"protocol": "tcp", "container_port": 80, "host_port": p}))
            .collect();
        json!({
            "name": self.name(),
            "namespace": "cranesched",
            "uid": self.uid(),
            "hostname": format!("job-{}", self.job),
            "log_directory": node.dir().join("logs").join(self.name()),
            "labels": {"cranesched.internal/job-id": self.job.to_string()},
            "annotations": ann,
            "port_mappings": ports,
            "dns": {"servers": [node.eth.gateway()], "searches": ["cranesched.local"],
                    "options": ["ndots:2"]},
            "cgroup_parent": node.cgroup_parent
        })
    }
}
