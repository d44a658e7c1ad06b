//! The network configs the tests use, built per fixture.

use crate::fixture::Fixture;
use crate::subnet::Subnet;
use serde_json::{json, Value};

/// The K8S_* args a kubelet-driven runtime passes. host-local rejects
/// unknown args, so the chain only works because the meta config's
/// `runtimeOverride.args` strips them.
pub const K8S_ARGS: &str =
    "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=pod;K8S_POD_INFRA_CONTAINER_ID=x;K8S_POD_UID=u";

/// Bandwidth limits; distinct ingress/egress values so that the qdisc
/// assertions tell which limit went where. Rates are bits/s, bursts bits.
pub const INGRESS_RATE: u64 = 1_000_000;
pub const INGRESS_BURST: u64 = 100_000;
pub const EGRESS_RATE: u64 = 2_000_000;
pub const EGRESS_BURST: u64 = 200_000;

/// `bridge` + `host-local`, standing in for calico (an interface plugin
/// with IPAM). `ipMasq` off: no masquerade chains to clean up.
pub fn bridge(f: &Fixture) -> Value {
    bridge_on(&f.bridge, &f.subnet, f)
}

pub fn bridge_on(br: &str, subnet: &Subnet, f: &Fixture) -> Value {
    json!({
        "type": "bridge",
        "bridge": br,
        "isGateway": true,
        "ipMasq": false,
        "ipam": {
            "type": "host-local",
            "dataDir": f.data,
            "ranges": [[{"subnet": subnet.cidr()}]],
            "routes": [{"dst": "0.0.0.0/0"}]
        }
    })
}

/// A macvlan delegate on `master` with host-local in `subnet` (a CIDR,
/// possibly a template).
pub fn macvlan(f: &Fixture, master: &str, subnet: &str) -> Value {
    json!({
        "type": "macvlan",
        "master": master,
        "mode": "bridge",
        "ipam": {
            "type": "host-local",
            "dataDir": f.data,
            "ranges": [[{"subnet": subnet}]]
        }
    })
}

pub fn portmap() -> Value {
    json!({"type": "portmap", "snat": true, "capabilities": {"portMappings": true}})
}

pub fn bandwidth() -> Value {
    json!({"type": "bandwidth", "capabilities": {"bandwidth": true}})
}

/// The seed's `runtimeOverride`.
pub fn seed_override() -> Value {
    json!({
        "args": ["-K8S_POD_NAMESPACE", "-K8S_POD_NAME",
                 "-K8S_POD_INFRA_CONTAINER_ID", "-K8S_POD_UID"],
        "envs": []
    })
}

/// The seed-shaped meta config (examples/00-meta.example.conf) with
/// `bridge` in calico's place. The delegate entries keep the seed's names,
/// and meta-cni gives each delegate its entry's name as `name`: host-local
/// therefore keeps its reservations under `<dataDir>/calico/`, and portmap's
/// rule comment says `dnat name: "portmap"`.
pub fn seed_meta(f: &Fixture, version: &str, net: &str, with_bandwidth: bool) -> Value {
    let mut delegates = vec![
        json!({"name": "calico", "conf": bridge(f)}),
        json!({"name": "portmap", "conf": portmap()}),
    ];
    if with_bandwidth {
        delegates.push(json!({"name": "bandwidth", "conf": bandwidth()}));
    }
    let mut caps = json!({"portMappings": true});
    if with_bandwidth {
        caps["bandwidth"] = json!(true);
    }
    json!({
        "cniVersion": version,
        "name": net,
        "type": "meta-cni",
        "logLevel": "debug",
        "timeoutSeconds": 30,
        "resultMode": "chained",
        "stateDir": f.state,
        "capabilities": caps,
        "runtimeOverride": seed_override(),
        "delegates": delegates
    })
}

/// The same delegates as a plain conflist (no meta-cni).
pub fn plain_conflist(f: &Fixture, version: &str, net: &str) -> Value {
    json!({
        "cniVersion": version,
        "name": net,
        "plugins": [bridge(f), portmap(), bandwidth()]
    })
}

/// `CAP_ARGS` with port mapping `host_port -> 80/tcp` and the bandwidth
/// limits above.
pub fn caps_full(host_port: u16) -> Value {
    json!({
        "portMappings": [{"hostPort": host_port, "containerPort": 80, "protocol": "tcp"}],
        "bandwidth": bandwidth_caps(INGRESS_RATE)
    })
}

/// `CAP_ARGS` with only the bandwidth limits: portmap's CHECK is then a
/// no-op (it returns early without portMappings) while bridge and bandwidth
/// really check.
pub fn caps_bandwidth_only(ingress_rate: u64) -> Value {
    json!({"bandwidth": bandwidth_caps(ingress_rate)})
}

fn bandwidth_caps(ingress_rate: u64) -> Value {
    json!({
        "ingressRate": ingress_rate, "ingressBurst": INGRESS_BURST,
        "egressRate": EGRESS_RATE, "egressBurst": EGRESS_BURST
    })
}
