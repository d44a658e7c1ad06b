//! The properties the fuzz targets check, one function per target, shared
//! by the cargo-fuzz targets in `fuzz/` (nightly, libFuzzer) and by the
//! stable `cargo test` replay in `tests/fuzz/main.rs`, which runs every saved
//! regression input and every seed through the same functions.
//!
//! Every function takes arbitrary bytes and panics (with a message saying
//! which property broke) on a bug. Beyond "no panic", each checks what its
//! component promises: errors are `Err` with the documented codes, renders
//! keep the JSON shape, results round-trip through every version.

#![allow(dead_code)]

use meta_cni::config;
use meta_cni::invoke::{Call, Failure, Invoker, Output, Started};
use meta_cni::overrides::{apply_to_args, join_cni_args, parse_cni_args, Manip};
use meta_cni::protocol::Env;
use meta_cni::result::CniResult;
use meta_cni::template::{self, Gres, Vars};
use meta_cni::version::Version;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// One target's check: panics on a bug.
pub type Check = fn(&[u8]);

/// The targets, by name (the directory names under `tests/fixtures/fuzz/`).
pub const TARGETS: &[(&str, Check)] = &[
    ("config_load", config_load),
    ("overrides", overrides),
    ("template", template),
    ("result", result),
    ("plugin_run", plugin_run),
];

// ---------------------------------------------------------------------------
// config::load

/// `config::load` on arbitrary bytes: `Err` with code 1, 6 or 7 (6 only when
/// the bytes are not a JSON object); `Ok` only for a config every later
/// stage can rely on.
pub fn config_load(data: &[u8]) {
    let is_object = serde_json::from_slice::<Value>(data).is_ok_and(|v| v.is_object());
    match config::load(data) {
        Err(e) => {
            assert!(
                matches!(e.code, 1 | 6 | 7),
                "config::load: code {} ({})",
                e.code,
                e.msg
            );
            assert!(!e.msg.is_empty(), "config::load: empty message");
            assert!(
                e.code != 6 || !is_object,
                "config::load: code 6 for a JSON object: {}",
                e.msg
            );
        }
        Ok(c) => {
            assert!(is_object, "config::load accepted a non-object");
            assert!(!c.pipelines.is_empty(), "a config without pipelines");
            assert!(
                meta_cni::protocol::valid_container_id(&c.name),
                "network name {:?} accepted",
                c.name
            );
            assert!(c.state_dir.is_absolute());
            for p in &c.pipelines {
                assert!(
                    !p.delegates.is_empty(),
                    "pipeline {:?} has no delegates",
                    p.name
                );
                match &p.target {
                    config::Target::Static(n) => {
                        assert!(meta_cni::protocol::check_ifname(n).is_ok(), "ifName {n:?}")
                    }
                    config::Target::Template(pre) => assert!(
                        meta_cni::protocol::check_ifname(&format!("{pre}0")).is_ok(),
                        "ifNamePrefix {pre:?}"
                    ),
                    config::Target::Request => {}
                }
                for d in &p.delegates {
                    assert!(!d.name.is_empty() && !d.plugin.is_empty());
                    assert!(
                        !d.plugin.contains(['/', '\0']) && d.plugin != "." && d.plugin != "..",
                        "plugin {:?} accepted",
                        d.plugin
                    );
                    for key in ["type", "name", "cniVersion"] {
                        assert!(
                            d.conf.get(key).is_some_and(Value::is_string),
                            "delegate {:?}: conf.{key} not filled in",
                            d.name
                        );
                    }
                    assert!(!d.conf.contains_key("prevResult"), "conf keeps prevResult");
                    assert_eq!(
                        d.templated,
                        template::has_templates(&Value::Object(d.conf.clone())),
                        "delegate {:?}: templated flag",
                        d.name
                    );
                    for o in [&d.runtime_override, &p.runtime_override] {
                        check_override(o);
                    }
                }
            }
            check_override(&c.runtime_override);
        }
    }
}

fn check_override(o: &config::Override) {
    for v in [&o.container_id, &o.netns, &o.ifname, &o.cni_path]
        .into_iter()
        .flatten()
    {
        assert!(!v.is_empty() && !v.contains('\0'), "override value {v:?}");
    }
    for m in o.args.iter().chain(&o.envs) {
        if let Manip::Set(_, v) = m {
            assert!(!v.contains('\0'), "override expression value {v:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// overrides

fn valid_key(k: &str) -> bool {
    let mut b = k.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// `Manip::parse` (both flavours) on each line, `parse_cni_args` on the
/// whole text: what parses is well-formed and parses again the same way
/// from its canonical spelling; `CNI_ARGS` round-trips through join.
pub fn overrides(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut manips = Vec::new();
    for line in text.split('\n') {
        for for_args in [false, true] {
            let Ok(m) = Manip::parse(line, for_args) else {
                continue;
            };
            let again = match &m {
                Manip::Delete(k) => {
                    assert!(valid_key(k), "delete key {k:?} from {line:?}");
                    Manip::parse(&format!("-{k}"), for_args)
                }
                Manip::Set(k, v) => {
                    assert!(valid_key(k), "set key {k:?} from {line:?}");
                    assert!(!v.contains('\0'), "NUL in value from {line:?}");
                    assert!(!for_args || !v.contains(';'), "';' in args value");
                    if !v.contains('"') {
                        Manip::parse(&format!("{k}=\"{v}\""), for_args)
                    } else if !v.contains('\'') {
                        Manip::parse(&format!("{k}='{v}'"), for_args)
                    } else {
                        Ok(m.clone())
                    }
                }
            };
            assert_eq!(again.as_ref(), Ok(&m), "canonical form of {line:?}");
            if for_args {
                manips.push(m);
            }
        }
    }
    let lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    if let Ok(list) = Manip::parse_list(&lines, true) {
        assert_eq!(list.len(), lines.len());
    }
    if let Ok(mut args) = parse_cni_args(&text) {
        for (k, v) in &args {
            assert!(!k.contains([';', '=']) && !v.contains(';'), "{k:?}={v:?}");
        }
        let joined = join_cni_args(&args);
        assert_eq!(joined.is_none(), args.is_empty());
        if let Some(j) = joined {
            assert_eq!(parse_cni_args(&j).as_ref(), Ok(&args), "join of {text:?}");
        }
        apply_to_args(&mut args, &manips);
        if let Some(j) = join_cni_args(&args) {
            assert_eq!(parse_cni_args(&j).as_ref(), Ok(&args), "after apply");
        }
    }
}

// ---------------------------------------------------------------------------
// template

fn template_args() -> BTreeMap<String, String> {
    [
        ("MASTER", "eth1"),
        ("K8S_POD_NAME", "p"),
        ("K8S-DASH", "d"),
        ("", "empty-key"),
        ("Q", "\"},{\"x\":1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The template renderer on random confs with random templates. The bytes
/// are used twice: as one template string placed at several spots of a
/// conf, and (when they are JSON) as a conf whose strings are templates.
/// A render either succeeds and keeps the JSON shape (only strings holding
/// `{{` change, and they stay strings), or fails with the JSON path of a
/// string holding `{{` and a column.
pub fn template(data: &[u8]) {
    let args = template_args();
    let text = String::from_utf8_lossy(data);
    let t: &str = &text;
    for gres in [
        None,
        Some(Gres {
            device: "0000:3b:00.2\"}",
            index: "7",
        }),
    ] {
        let vars = Vars { gres, args: &args };
        let single = template::render_str(t, &vars);
        if !t.contains("{{") {
            assert_eq!(single.as_deref(), Ok(t), "text without {{{{ changed");
        }
        let conf = json!({"a": t, "b": [t, {"c": t, "n": 1, "z": null}], "{{.Args.MASTER}}": t});
        let mut rendered = conf.clone();
        match template::render_value(&mut rendered, &vars) {
            Ok(()) => {
                let s = single.as_deref().unwrap_or_else(|e| {
                    panic!("render_str failed ({e}) but render_value succeeded for {t:?}")
                });
                assert_eq!(rendered["a"], json!(s));
                assert_eq!(rendered["b"][0], json!(s));
                assert_eq!(rendered["b"][1]["c"], json!(s));
                same_shape(&conf, &rendered, "$".into());
            }
            Err(e) => {
                assert!(
                    single.is_err(),
                    "render_value failed ({e}) but render_str did not"
                );
                assert_eq!(e.path, r#"$["a"]"#, "first error is at the first string");
                check_error_points_at_template(&conf, &e);
            }
        }
        if let Ok(mut v) = serde_json::from_slice::<Value>(data) {
            let original = v.clone();
            match template::render_value(&mut v, &vars) {
                Ok(()) => same_shape(&original, &v, "$".into()),
                Err(e) => check_error_points_at_template(&original, &e),
            }
        }
    }
}

/// `after` is `before` with only `{{`-strings replaced by strings.
fn same_shape(before: &Value, after: &Value, at: String) {
    match (before, after) {
        (Value::String(a), Value::String(b)) => {
            assert!(
                a.contains("{{") || a == b,
                "{at}: untemplated string changed"
            );
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{at}: array length");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                same_shape(x, y, format!("{at}[{i}]"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            assert!(a.keys().eq(b.keys()), "{at}: keys changed");
            for (k, x) in a {
                same_shape(x, &b[k], format!("{at}[{k:?}]"));
            }
        }
        (a, b) => assert_eq!(a, b, "{at}: non-string changed"),
    }
}

/// The error's path leads, in `conf`, to a string holding `{{`.
fn check_error_points_at_template(conf: &Value, e: &template::TemplateError) {
    assert!(
        e.reason.contains("column ") || e.reason.contains("nested deeper"),
        "{e}"
    );
    let mut rest = e
        .path
        .strip_prefix('$')
        .unwrap_or_else(|| panic!("path {:?}", e.path));
    let mut at = conf;
    while let Some(seg) = rest.strip_prefix('[') {
        if seg.starts_with('"') {
            let mut it = serde_json::Deserializer::from_str(seg).into_iter::<String>();
            let key = it
                .next()
                .and_then(Result::ok)
                .unwrap_or_else(|| panic!("path {:?}: bad key", e.path));
            at = &at[key.as_str()];
            rest = &seg[it.byte_offset()..];
        } else {
            let end = seg.find(']').unwrap_or_else(|| panic!("path {:?}", e.path));
            let i: usize = seg[..end]
                .parse()
                .unwrap_or_else(|_| panic!("path {:?}", e.path));
            at = &at[i];
            rest = &seg[end..];
        }
        rest = rest
            .strip_prefix(']')
            .unwrap_or_else(|| panic!("path {:?}: no ]", e.path));
    }
    assert!(rest.is_empty(), "path {:?}: trailing text", e.path);
    match at {
        Value::String(s) => assert!(s.contains("{{"), "path {:?} is a plain string", e.path),
        Value::Array(_) | Value::Object(_) => assert!(e.reason.contains("nested deeper")),
        other => panic!("path {:?} leads to {other}", e.path),
    }
}

// ---------------------------------------------------------------------------
// result

/// A result read under every default version, printed in every version and
/// read back: printing never produces something unreadable, a second
/// conversion changes nothing (idempotent after one normalisation), 1.1.0
/// (the hub) loses nothing, and a merge keeps interface indexes valid.
pub fn result(data: &[u8]) {
    for default in Version::ALL {
        let Ok((r, written_in)) = CniResult::parse_slice_versioned(data, default) else {
            continue;
        };
        check_indexes(&r, "parsed");
        for v in Version::ALL {
            let once = r.to_json(v);
            assert_eq!(once["cniVersion"], v.as_str());
            let text = serde_json::to_vec(&once).expect("serialises");
            let back = CniResult::parse_slice(&text, Version::V0_1_0).unwrap_or_else(|e| {
                panic!("{written_in} -> {v}: printed result does not parse: {e}\n{once}")
            });
            check_indexes(&back, "re-read");
            let twice = back.to_json(v);
            assert_eq!(once, twice, "{written_in} -> {v} is not idempotent");
            if v == CniResult::HUB_VERSION {
                assert_eq!(back, r, "{written_in} -> 1.1.0 lost something");
            }
            if v == written_in {
                // Reading at its own version and printing it changes nothing
                // more than the normalisation already did.
                let from_data = CniResult::parse_slice(data, default).expect("parsed before");
                assert_eq!(from_data.to_json(v), once);
            }
            let _ = r.conversion_losses(v);
        }
        let mut merged = r.clone();
        merged.merge(&r);
        check_indexes(&merged, "merged with itself");
        let mut with_empty = r.clone();
        with_empty.merge(&CniResult::default());
        assert_eq!(with_empty, r, "merging an empty result changed it");
        let mut into_empty = CniResult::default();
        into_empty.merge(&r);
        check_indexes(&into_empty, "merged into empty");
        for v in Version::ALL {
            let j = merged.to_json(v);
            assert!(
                CniResult::parse(&j, v).is_ok(),
                "merged -> {v} unreadable: {j}"
            );
        }
    }
}

fn check_indexes(r: &CniResult, what: &str) {
    for ip in &r.ips {
        if let Some(i) = ip.interface {
            assert!(
                i < r.interfaces.len(),
                "{what}: interface index {i} out of range"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// plugin::run, in process

/// A delegate simulated in process, steered by its conf's `fake` object
/// (so the fuzzer steers it through the config): `fake.<cmd>` is `ok`
/// (default), `fail`, `crash`, `garbage`, `signal`, `timeout`, `notfound`,
/// `huge` or `incompatible`; `fake.stdout` is printed verbatim on ADD.
pub struct FakeInvoker;

impl Invoker for FakeInvoker {
    fn start<'a>(&self, call: &'a Call<'a>) -> Result<Started<'a>, Failure> {
        Ok(Started::Answered(self.answer(call)))
    }
}

impl FakeInvoker {
    fn answer(&self, call: &Call<'_>) -> Result<Output, Failure> {
        let env = |k: &str| {
            call.env
                .get(k)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        let cmd = env("CNI_COMMAND");
        let conf: Value = serde_json::from_slice(call.stdin).unwrap_or(Value::Null);
        let fake = conf.get("fake").cloned().unwrap_or(Value::Null);
        let version = conf["cniVersion"].as_str().unwrap_or("1.0.0").to_string();
        let out = |s: String| {
            Ok(Output {
                stdout: s.into_bytes(),
            })
        };
        if cmd == "VERSION" {
            let all = json!(Version::all_strings());
            let versions = fake.get("versions").cloned().unwrap_or(all);
            return out(json!({"cniVersion": version, "supportedVersions": versions}).to_string());
        }
        let mode = fake
            .get(cmd.to_ascii_lowercase())
            .and_then(Value::as_str)
            .unwrap_or("ok");
        let tail = "fake stderr".to_string();
        match mode {
            "fail" => Err(Failure::Reported {
                code: fake["code"]
                    .as_u64()
                    .and_then(|c| u32::try_from(c).ok())
                    .unwrap_or(11),
                msg: "fake failure".into(),
                details: String::new(),
            }),
            "crash" => Err(Failure::Exited {
                status: 3,
                stdout: String::new(),
                stderr_tail: tail,
            }),
            "garbage" => out("this is not json".into()),
            "signal" => Err(Failure::Signaled {
                signal: "SIGSEGV".into(),
                stderr_tail: tail,
            }),
            "timeout" => Err(Failure::TimedOut {
                limit: call.limit.unwrap_or_default(),
                stderr_tail: tail,
            }),
            "notfound" => Err(Failure::NotFound {
                plugin: call.plugin.to_string(),
                searched: call.cni_path.to_string(),
            }),
            "huge" => Err(Failure::OutputTooLarge),
            "incompatible"
                if !fake["versions"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|v| v == version.as_str())) =>
            {
                Err(Failure::Reported {
                    code: 1,
                    msg: "incompatible CNI versions".into(),
                    details: String::new(),
                })
            }
            _ if cmd != "ADD" => out(String::new()),
            _ => match fake.get("stdout") {
                Some(Value::String(s)) => out(s.clone()),
                Some(v) => out(v.to_string()),
                None => {
                    let mut r = conf.get("prevResult").cloned().unwrap_or(json!({}));
                    if !r.is_object() {
                        r = json!({});
                    }
                    r["cniVersion"] = json!(version);
                    if version.as_str() >= "0.3.0" {
                        let n = r["interfaces"].as_array().map_or(0, Vec::len);
                        let ifname = env("CNI_IFNAME");
                        if !r["interfaces"].is_array() {
                            r["interfaces"] = json!([]);
                        }
                        if let Some(a) = r["interfaces"].as_array_mut() {
                            a.push(json!({"name": ifname, "sandbox": env("CNI_NETNS")}));
                        }
                        if !r["ips"].is_array() {
                            r["ips"] = json!([]);
                        }
                        if let Some(a) = r["ips"].as_array_mut() {
                            a.push(json!({"address": "10.9.0.2/24", "interface": n}));
                        }
                    } else if r.get("ip4").is_none() {
                        r["ip4"] = json!({"ip": "10.9.0.2/24"});
                    }
                    out(r.to_string())
                }
            },
        }
    }
}

/// The environments one input is run under: each command with a complete
/// environment, and ADD/DEL with odd ones.
fn environments() -> Vec<(String, Env)> {
    let full = |cmd: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![
            ("CNI_COMMAND", cmd),
            ("CNI_CONTAINERID", "ctr-1"),
            ("CNI_NETNS", "/var/run/netns/x"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/fake/bin"),
            ("CNI_ARGS", "K8S_POD_NAME=p;MASTER=eth1;IgnoreUnknown=1"),
        ]
    };
    let mut out: Vec<(String, Env)> = ["ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC", "FROB"]
        .iter()
        .map(|c| (c.to_string(), Env::from_pairs(full(c))))
        .collect();
    let mut odd = full("ADD");
    odd.retain(|(k, _)| *k != "CNI_ARGS");
    odd.push(("CNI_ARGS", "novalue;A=1"));
    out.push(("ADD bad CNI_ARGS".into(), Env::from_pairs(odd)));
    let mut odd = full("DEL");
    odd.retain(|(k, _)| *k != "CNI_NETNS");
    out.push(("DEL without netns".into(), Env::from_pairs(odd)));
    out
}

/// The whole invocation (`plugin::run`) in process with [`FakeInvoker`], under
/// each of [`environments`]. State files and metrics are switched off and
/// the log goes to `/dev/null` (nothing touches the file system). Each run
/// keeps the protocol: exit 0 or 1, exactly one JSON document on stdout (or
/// none after a successful DEL/CHECK), a CNI error object on failure and
/// never code 110 (a caught panic); a successful ADD prints a readable
/// result.
pub fn plugin_run(data: &[u8]) {
    let stdin = match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(mut m)) => {
            m.insert("attachmentState".into(), Value::Bool(false));
            // Logging still runs (debug level included), into nothing.
            m.insert("logFile".into(), Value::String("/dev/null".into()));
            // No metrics file either: nothing touches the file system.
            m.remove("metricsFile");
            serde_json::to_vec(&Value::Object(m)).expect("serialises")
        }
        _ => data.to_vec(),
    };
    for (what, env) in environments() {
        let mut stdout = Vec::new();
        let code = meta_cni::plugin::run(&env, &mut &stdin[..], &mut stdout, &FakeInvoker);
        check_reply(&what, code, &stdout);
    }
}

/// The protocol's promises about one reply.
pub fn check_reply(what: &str, code: u8, stdout: &[u8]) {
    assert!(code <= 1, "{what}: exit code {code}");
    let text = std::str::from_utf8(stdout).unwrap_or_else(|e| panic!("{what}: stdout {e}"));
    if text.trim().is_empty() {
        assert_eq!(code, 0, "{what}: failure without an error object");
        assert!(
            ["DEL", "CHECK", "STATUS", "GC"]
                .iter()
                .any(|c| what.starts_with(c)),
            "{what}: nothing printed"
        );
        return;
    }
    let docs: Vec<Value> = serde_json::Deserializer::from_str(text)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{what}: stdout is not JSON ({e}): {text}"));
    assert_eq!(docs.len(), 1, "{what}: {} documents: {text}", docs.len());
    let doc = &docs[0];
    let version = doc["cniVersion"]
        .as_str()
        .and_then(Version::parse)
        .unwrap_or_else(|| panic!("{what}: no valid cniVersion: {doc}"));
    if code == 1 {
        let ok = doc["code"].is_u64()
            && doc["msg"].is_string()
            && (doc.get("details").is_none() || doc["details"].is_string());
        assert!(ok, "{what}: not a CNI error object: {doc}");
        assert_ne!(
            doc["code"], 110,
            "{what}: internal error (caught panic): {doc}"
        );
        return;
    }
    if what.starts_with("VERSION") {
        assert!(doc["supportedVersions"].is_array(), "{what}: {doc}");
    } else if what.starts_with("ADD") {
        CniResult::parse(doc, version)
            .unwrap_or_else(|e| panic!("{what}: printed result does not parse: {e}\n{doc}"));
    } else {
        panic!("{what}: printed something on success: {doc}");
    }
}
