//! A tiny deterministic generator (xorshift64*) and a structure-aware
//! mutator for JSON seeds: used by the stable random tests (the library
//! checks in `tests/fuzz/main.rs`, the whole-binary runs in
//! `tests/integration/random.rs`). No dependencies beyond serde_json.
//!
//! A mutation picks a node of the parsed seed and replaces, removes,
//! duplicates, renames or splices it, drawing new values from a vocabulary
//! of what meta-cni's inputs are made of (config keys, versions, templates,
//! override expressions, addresses, edge-case numbers); now and then the
//! serialised text is also damaged byte-wise.

#![allow(dead_code)]

use serde_json::{Map, Value};

/// xorshift64*: small, fast, reproducible.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Never 0 (a fixed point); mix so that nearby seeds diverge.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }

    /// True with probability `1/n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The seed from `META_CNI_FUZZ_SEED` (decimal or `0x` hex), else `default`.
pub fn seed_from_env(default: u64) -> u64 {
    std::env::var("META_CNI_FUZZ_SEED")
        .ok()
        .and_then(|s| {
            let s = s.trim();
            match s.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => s.parse().ok(),
            }
        })
        .unwrap_or(default)
}

/// A number from the environment variable `var`, else `default`.
pub fn count_from_env(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

/// Keys that meta-cni's config, results and the fake delegate read.
pub const KEYS: &[&str] = &[
    "cniVersion",
    "name",
    "type",
    "logLevel",
    "timeoutSeconds",
    "logMaxSizeMB",
    "resultMode",
    "runtimeConfigMode",
    "attachmentState",
    "runtimeConfig",
    "prevResult",
    "capabilities",
    "runtimeOverride",
    "delegates",
    "pipelines",
    "conf",
    "ifName",
    "ifNamePrefix",
    "containerID",
    "netns",
    "args",
    "envs",
    "io.kubernetes.cri.pod-annotations",
    "cranesched.internal/meta-cni/gres/roce/0",
    "cranesched.internal/meta-cni/gres/roce/1",
    "cranesched.internal/meta-cni/gres/roce/x",
    "portMappings",
    "interfaces",
    "ips",
    "routes",
    "dns",
    "ip4",
    "ip6",
    "ip",
    "address",
    "gateway",
    "interface",
    "version",
    "dst",
    "gw",
    "mtu",
    "advmss",
    "priority",
    "table",
    "scope",
    "sandbox",
    "mac",
    "socketPath",
    "pciID",
    "nameservers",
    "domain",
    "search",
    "options",
    "fake",
    "add",
    "del",
    "check",
    "code",
    "stdout",
    "versions",
    "password",
    "x",
];

/// String values worth trying.
pub const STRINGS: &[&str] = &[
    "",
    "0.1.0",
    "0.2.0",
    "0.3.0",
    "0.3.1",
    "0.4.0",
    "1.0.0",
    "1.1.0",
    "9.9.9",
    "a",
    "b",
    "n",
    "eth0",
    "eth1",
    "net",
    "roce",
    "roce3",
    "ib",
    "ib1",
    "ok",
    "fail",
    "crash",
    "garbage",
    "empty",
    "signal",
    "badip",
    "incompatible",
    "timeout",
    "notfound",
    "none",
    "chained",
    "merged",
    "all",
    "capabilities",
    "debug",
    "trace",
    "verbose",
    "{{.Gres.Device}}",
    "{{.Gres.Index}}",
    "{{.Args.MASTER}}",
    "{{index .Args \"K8S-POD\"}}",
    "{{if .Args.MASTER}}{{.Args.MASTER}}{{else}}eno1{{end}}",
    "{{.Gres.Nope}}",
    "{{",
    "}}",
    "{{printf \"%s-%d\" .Gres.Device 3}}",
    "A=1",
    "-K8S_POD_NAME",
    "-A",
    "A=''",
    "A=\"x y\"",
    "FOO",
    "-FOO=bar",
    "A=x;y",
    "NO_PROXY=svc.local",
    "10.0.0.2/24",
    "10.0.0.1",
    "fd00::2/64",
    "::1/128",
    "0.0.0.0/0",
    "10.0.0.300/24",
    "10.0.0.2",
    "/var/run/netns/x",
    "../x",
    "a/b",
    ".",
    "..",
    "é",
    "\u{0}",
    "\u{1}",
    " ",
    "0000:3b:00.2",
];

/// Number literals worth trying (all representable by serde_json).
pub const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "2",
    "3",
    "1.5",
    "0.0",
    "1e3",
    "1e30",
    "-1e30",
    "1e308",
    "255",
    "256",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
];

pub fn random_number(rng: &mut Rng) -> Value {
    serde_json::from_str(rng.pick::<&str>(NUMBERS)).unwrap_or(Value::Null)
}

pub fn random_string(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => rng.pick(KEYS).to_string(),
        1 => "x".repeat(1 + rng.below(300)),
        2 => format!("{}{}", rng.pick::<&str>(STRINGS), rng.pick::<&str>(STRINGS)),
        _ => rng.pick(STRINGS).to_string(),
    }
}

pub fn random_value(rng: &mut Rng, depth: usize) -> Value {
    let container = depth < 3;
    match rng.below(if container { 9 } else { 6 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.one_in(2)),
        2 => random_number(rng),
        3..=5 => Value::String(random_string(rng)),
        6 | 7 => {
            let mut m = Map::new();
            for _ in 0..rng.below(4) {
                m.insert(rng.pick(KEYS).to_string(), random_value(rng, depth + 1));
            }
            Value::Object(m)
        }
        _ => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
    }
}

#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    Index(usize),
}

fn paths(v: &Value, at: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                at.push(Seg::Key(k.clone()));
                paths(x, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                at.push(Seg::Index(i));
                paths(x, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn node_mut<'v>(mut v: &'v mut Value, path: &[Seg]) -> &'v mut Value {
    for s in path {
        v = match s {
            Seg::Key(k) => &mut v[k.as_str()],
            Seg::Index(i) => &mut v[*i],
        };
    }
    v
}

fn node<'v>(mut v: &'v Value, path: &[Seg]) -> &'v Value {
    for s in path {
        v = match s {
            Seg::Key(k) => &v[k.as_str()],
            Seg::Index(i) => &v[*i],
        };
    }
    v
}

/// One structural mutation of `v`.
pub fn mutate_value(rng: &mut Rng, v: &mut Value) {
    let mut all = Vec::new();
    paths(v, &mut Vec::new(), &mut all);
    let path = rng.pick(all.as_slice()).clone();
    let donor = node(v, rng.pick::<Vec<Seg>>(&all)).clone();
    let n = node_mut(v, &path);
    match rng.below(10) {
        0 => *n = random_value(rng, path.len()),
        1 => *n = Value::Null,
        2 => *n = donor,
        _ => match n {
            Value::Object(m) => match rng.below(4) {
                0 if !m.is_empty() => {
                    let k = m
                        .keys()
                        .nth(rng.below(m.len()))
                        .cloned()
                        .unwrap_or_default();
                    m.shift_remove(&k);
                }
                1 if !m.is_empty() => {
                    let k = m
                        .keys()
                        .nth(rng.below(m.len()))
                        .cloned()
                        .unwrap_or_default();
                    if let Some(x) = m.shift_remove(&k) {
                        m.insert(rng.pick(KEYS).to_string(), x);
                    }
                }
                2 => {
                    m.insert(rng.pick(KEYS).to_string(), donor);
                }
                _ => {
                    let d = path.len() + 1;
                    m.insert(rng.pick(KEYS).to_string(), random_value(rng, d));
                }
            },
            Value::Array(a) => match rng.below(4) {
                0 if !a.is_empty() => {
                    let i = rng.below(a.len());
                    a.remove(i);
                }
                1 if !a.is_empty() => {
                    let i = rng.below(a.len());
                    let x = a[i].clone();
                    a.insert(i, x);
                }
                2 => a.push(donor),
                _ => a.push(random_value(rng, path.len() + 1)),
            },
            Value::String(s) => match rng.below(4) {
                0 => s.truncate(
                    s.char_indices()
                        .nth(rng.below(s.len() + 1))
                        .map_or(0, |c| c.0),
                ),
                1 => s.push_str(rng.pick::<&str>(STRINGS)),
                _ => *s = random_string(rng),
            },
            Value::Number(_) => *n = random_number(rng),
            Value::Bool(b) => *b = !*b,
            Value::Null => *n = random_value(rng, path.len()),
        },
    }
}

/// Byte-level damage: flip, drop, duplicate or insert a few bytes.
pub fn mutate_bytes(rng: &mut Rng, data: &mut Vec<u8>) {
    const TOKENS: &[&[u8]] = &[
        b"{", b"}", b"[", b"]", b"\"", b",", b":", b"\\", b"\xff", b"\x00",
    ];
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(data.len() + 1);
        match rng.below(5) {
            0 if at < data.len() => data[at] ^= 1 << rng.below(8),
            1 if at < data.len() => {
                let end = (at + 1 + rng.below(16)).min(data.len());
                data.drain(at..end);
            }
            2 => data.truncate(at),
            3 if at < data.len() => {
                let end = (at + 1 + rng.below(32)).min(data.len());
                let piece = data[at..end].to_vec();
                data.splice(at..at, piece);
            }
            _ => {
                let t = rng.pick(TOKENS).to_vec();
                data.splice(at..at, t);
            }
        }
    }
}

/// A mutant of `seed`: structural when it is JSON (1–4 mutations, and one
/// time in eight also byte damage), byte-level otherwise.
pub fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let n = 1 + rng.below(4);
    mutate_n(rng, seed, n)
}

/// Like [`mutate`] with exactly `n` structural mutations of a JSON seed.
pub fn mutate_n(rng: &mut Rng, seed: &[u8], n: usize) -> Vec<u8> {
    match serde_json::from_slice::<Value>(seed) {
        Ok(mut v) => {
            for _ in 0..n {
                mutate_value(rng, &mut v);
            }
            let mut out = serde_json::to_vec(&v).unwrap_or_default();
            if rng.one_in(8) {
                mutate_bytes(rng, &mut out);
            }
            out
        }
        Err(_) => {
            let mut out = seed.to_vec();
            mutate_bytes(rng, &mut out);
            out
        }
    }
}
