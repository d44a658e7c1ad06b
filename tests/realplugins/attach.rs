//! What one bridge + portmap + bandwidth attachment looks like, on paper
//! (the result cnitool prints) and on the host (address in the namespace,
//! DNAT rule, qdiscs, host-local reservation), and what must be gone after
//! DEL. Used for the meta config and for the plain conflist alike.

use crate::cmd::Out;
use crate::conf;
use crate::fixture::Fixture;
use crate::host;
use serde_json::Value;

/// An attachment made by ADD, as read from its result.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub result: Value,
    /// `a.b.c.d/24`
    pub addr: String,
    /// `a.b.c.d`
    pub ip: String,
    pub host_veth: String,
    /// bandwidth's ifb device (egress shaping), when egress limits are set.
    pub ifb: Option<String>,
    /// The network name host-local saw (its reservation dir).
    pub ipam_name: String,
    /// The network name portmap saw (in its rule comment).
    pub dnat_name: String,
}

/// Parse and check the printed result of an ADD of bridge + portmap
/// (+ bandwidth). (`Fixture::cnitool` already registered its host-side
/// links for the guard.)
pub fn from_add(
    f: &Fixture,
    add: &Out,
    version: &str,
    bandwidth: bool,
    (ipam_name, dnat_name): (&str, &str),
) -> Attachment {
    assert!(add.ok(), "ADD failed: {}", add.describe());
    let r: Value = serde_json::from_str(&add.stdout)
        .unwrap_or_else(|e| panic!("ADD printed no JSON result ({e}): {}", add.describe()));
    let ctx = || format!("result: {r:#}\n{}", add.describe());
    assert_eq!(r["cniVersion"], version, "{}", ctx());

    let ifs = r["interfaces"].as_array().cloned().unwrap_or_default();
    // bridge: [bridge, host veth, eth0 in the sandbox]; bandwidth appends
    // its ifb. Exactly this list, in this order, proves each delegate got
    // its predecessor's result (bandwidth returns prevResult + its ifb).
    assert_eq!(ifs.len(), if bandwidth { 4 } else { 3 }, "{}", ctx());
    assert_eq!(ifs[0]["name"], f.bridge.as_str(), "{}", ctx());
    assert!(ifs[0].get("sandbox").is_none(), "{}", ctx());
    let host_veth = ifs[1]["name"].as_str().unwrap_or("").to_string();
    assert!(host_veth.starts_with("veth"), "{}", ctx());
    assert!(ifs[1].get("sandbox").is_none(), "{}", ctx());
    assert_eq!(ifs[2]["name"], "eth0", "{}", ctx());
    assert_eq!(ifs[2]["sandbox"], f.netns_path().as_str(), "{}", ctx());
    for i in &ifs {
        assert_eq!(
            i["mac"].as_str().map(str::len),
            Some(17),
            "mac of {i}: {}",
            ctx()
        );
    }
    let ifb = if bandwidth {
        let n = ifs[3]["name"].as_str().unwrap_or("").to_string();
        assert!(n.starts_with("bwp"), "{}", ctx());
        assert!(ifs[3].get("sandbox").is_none(), "{}", ctx());
        Some(n)
    } else {
        None
    };

    let ips = r["ips"].as_array().cloned().unwrap_or_default();
    assert_eq!(ips.len(), 1, "{}", ctx());
    let addr = ips[0]["address"].as_str().unwrap_or("").to_string();
    assert!(
        f.subnet.contains(&addr) && addr.ends_with("/24"),
        "{}",
        ctx()
    );
    let ip = addr.trim_end_matches("/24").to_string();
    let host: u8 = ip
        .rsplit('.')
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    assert!((2..=254).contains(&host), "{}", ctx());
    assert_eq!(ips[0]["gateway"], f.subnet.gateway().as_str(), "{}", ctx());
    assert_eq!(
        ips[0]["interface"],
        2,
        "the IP must point at eth0: {}",
        ctx()
    );
    assert_eq!(
        r["routes"],
        serde_json::json!([{"dst": "0.0.0.0/0"}]),
        "{}",
        ctx()
    );

    Attachment {
        result: r,
        addr,
        ip,
        host_veth,
        ifb,
        ipam_name: ipam_name.to_string(),
        dnat_name: dnat_name.to_string(),
    }
}

/// The side effects of ADD are really on the host.
pub fn assert_present(f: &Fixture, a: &Attachment) {
    let ctx = || format!("attachment {a:#?}");
    assert_eq!(
        host::addrs_in(&f.netns, "eth0"),
        vec![a.addr.clone()],
        "{}",
        ctx()
    );
    assert!(host::link_exists(&a.host_veth), "{}", ctx());

    let nat = host::nat_rules();
    let chain = host::dnat_chain_for(&nat, &f.cid)
        .unwrap_or_else(|| panic!("no DNAT chain for {}:\n{nat}\n{}", f.cid, ctx()));
    let dnat = format!(
        "-A {chain} -p tcp -m tcp --dport {} -j DNAT --to-destination {}:80",
        f.host_port, a.ip
    );
    assert!(
        nat.lines().any(|l| l == dnat),
        "missing `{dnat}` in:\n{nat}"
    );
    let jump = nat
        .lines()
        .find(|l| l.starts_with("-A CNI-HOSTPORT-DNAT ") && l.ends_with(&format!("-j {chain}")))
        .unwrap_or("");
    assert!(
        jump.contains(&format!("dnat name: \\\"{}\\\"", a.dnat_name))
            && jump.contains(&format!("--dports {}", f.host_port)),
        "jump rule {jump:?} in:\n{nat}"
    );

    if let Some(ifb) = &a.ifb {
        // bandwidth 1.1.1: ingress (towards the container) is a tbf on the
        // host veth's root; egress is mirrored from the host veth's ingress
        // qdisc to an ifb device with its own tbf.
        let veth_q = host::qdiscs(&a.host_veth);
        let rate = |bits: u64| format!("{}Mbit", bits / 1_000_000);
        let want_in = format!(
            "tbf root rate {} burst {}b",
            rate(conf::INGRESS_RATE),
            conf::INGRESS_BURST / 8
        );
        assert!(veth_q.contains(&want_in), "{want_in:?} not in {veth_q:?}");
        assert!(veth_q.iter().any(|q| q == "ingress"), "{veth_q:?}");
        let ifb_q = host::qdiscs(ifb);
        let want_out = format!(
            "tbf root rate {} burst {}b",
            rate(conf::EGRESS_RATE),
            conf::EGRESS_BURST / 8
        );
        assert!(ifb_q.contains(&want_out), "{want_out:?} not in {ifb_q:?}");
    }

    let res = f.reservation(&a.ipam_name, &a.ip);
    let held = std::fs::read_to_string(&res)
        .unwrap_or_else(|e| panic!("reservation {} ({e}); {}", res.display(), ctx()));
    assert_eq!(
        held.lines().next().map(str::trim),
        Some(f.cid.as_str()),
        "{res:?}"
    );
}

/// Everything ADD created for this attachment is gone after DEL (the
/// namespace itself stays: it is the runtime's).
pub fn assert_gone(f: &Fixture, a: &Attachment, net: &str) {
    let res = f.reservation(&a.ipam_name, &a.ip);
    assert!(!res.exists(), "reservation {} survived DEL", res.display());
    let nat = host::nat_rules();
    assert_eq!(
        host::dnat_chain_for(&nat, &f.cid),
        None,
        "DNAT chain survived DEL:\n{nat}"
    );
    let to = format!("--to-destination {}:80", a.ip);
    assert!(!nat.contains(&to), "DNAT rule survived DEL:\n{nat}");
    assert!(
        !host::link_exists(&a.host_veth),
        "host veth {} survived DEL",
        a.host_veth
    );
    if let Some(ifb) = &a.ifb {
        assert!(!host::link_exists(ifb), "ifb {ifb} survived DEL");
    }
    assert!(!host::link_exists_in(&f.netns, "eth0"), "eth0 survived DEL");
    let cached = f
        .cache
        .join("results")
        .join(format!("{net}-{}-eth0", f.cid));
    assert!(
        !cached.exists(),
        "libcni cache {} survived DEL",
        cached.display()
    );
}

/// A CNI error object printed by cnitool: (code, msg).
pub fn cni_error(o: &Out) -> (u64, String) {
    let v: Value = serde_json::from_str(&o.stdout)
        .unwrap_or_else(|e| panic!("no CNI error object on stdout ({e}): {}", o.describe()));
    (
        v["code"].as_u64().unwrap_or(0),
        v["msg"].as_str().unwrap_or("").to_string(),
    )
}

/// Outcome of a CHECK with portmap in the chain and port mappings given:
/// `Ok(())`, or `Err` with the one failure this host may legitimately
/// produce, portmap 1.1.1's IPv6 CHECK bug (see `host::ipv6_nat_listable`).
/// Anything else fails the test.
pub fn check_outcome(f: &Fixture, chk: &Out, meta: bool) -> Result<(), String> {
    if chk.ok() {
        return Ok(());
    }
    let (code, msg) = cni_error(chk);
    let chain = host::dnat_chain_for(&host::nat_rules(), &f.cid).unwrap_or_default();
    let quirk = format!("could not check ipv6 dnat: chain {chain} not found in iptables table nat");
    let want = if meta {
        format!("delegate \"portmap\": {quirk}")
    } else {
        quirk
    };
    assert!(
        host::ipv6_nat_listable() && code == 999 && msg == want && !chain.is_empty(),
        "CHECK failed, and not with portmap 1.1.1's known IPv6 quirk \
         (expected code 999 {want:?}):\n{}",
        chk.describe()
    );
    Err(msg.replace(&chain, "<CHAIN>"))
}
