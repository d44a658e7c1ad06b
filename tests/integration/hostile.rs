//! Hostile input against the built binary: oversized stdin, deep nesting,
//! NUL bytes, invalid UTF-8, huge strings, out-of-range numbers and wrong
//! JSON types in every config field. Whatever comes in, the answer is one
//! CNI error object (or a result) on stdout, exit 0/1, within the deadline:
//! never a panic (exit 101 or code 110), a signal or a hang.

use crate::harness::*;
use meta_cni::plugin::STDIN_CAP;
use serde_json::{json, Value};
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn base(s: &Setup) -> Value {
    json!({"cniVersion": "1.0.0", "name": "n", "type": "meta-cni",
           "stateDir": s.state_dir().display().to_string(),
           "delegates": [{"name": "a", "type": "a"}]})
}

/// Run with the setup's environment, `changes` applied (`None` removes),
/// and `stdin` streamed in.
fn run_os(
    s: &Setup,
    cmd: &str,
    changes: &[(&str, Option<OsString>)],
    stdin: Box<dyn Read + Send>,
) -> RawRun {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", host_path())
        .envs(&s.env)
        .env("CNI_COMMAND", cmd);
    for (k, v) in changes {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    run_command(&mut c, stdin, LIMIT)
}

fn run_bytes(s: &Setup, cmd: &str, stdin: &[u8]) -> RawRun {
    run_os(s, cmd, &[], Box::new(std::io::Cursor::new(stdin.to_vec())))
}

fn run_json(s: &Setup, cmd: &str, conf: &Value) -> RawRun {
    run_bytes(s, cmd, conf.to_string().as_bytes())
}

/// Assert the protocol holds and the run failed with one of `codes`;
/// returns `msg` and `details`.
#[track_caller]
fn expect_error(r: &RawRun, codes: &[u64], what: &str) -> String {
    let doc = check_protocol(r)
        .unwrap_or_else(|why| panic!("{what}: {why}\nstderr: {:.2000}", r.stderr_text()))
        .unwrap_or(Value::Null);
    assert_eq!(
        r.status.code(),
        Some(1),
        "{what}: expected a failure, got {doc}"
    );
    let code = doc["code"].as_u64().unwrap_or(0);
    assert!(
        codes.contains(&code),
        "{what}: code {code}, expected one of {codes:?}: {doc}"
    );
    format!(
        "{} {}",
        doc["msg"].as_str().unwrap_or(""),
        doc["details"].as_str().unwrap_or("")
    )
}

#[track_caller]
fn expect_ok(r: &RawRun, what: &str) -> Value {
    let doc = check_protocol(r)
        .unwrap_or_else(|why| panic!("{what}: {why}\nstderr: {:.2000}", r.stderr_text()));
    assert_eq!(
        r.status.code(),
        Some(0),
        "{what}: expected success, got {doc:?}\nstderr: {:.2000}",
        r.stderr_text()
    );
    doc.unwrap_or(Value::Null)
}

#[test]
fn stdin_over_the_cap_is_code_6_fast_and_in_bounded_memory() {
    let s = Setup::new(&["a"]);
    // 1 GiB offered, produced lazily; under a 96 MiB address-space limit
    // (reading stops at the cap, so a 16 MiB buffer is all it may need).
    let prefix = br#"{"cniVersion": "0.4.0", "name": "n", "x": ""#.to_vec();
    let stream = std::io::Cursor::new(prefix).chain(std::io::repeat(b'a').take(1 << 30));
    let mut c = Command::new("/bin/sh");
    c.args(["-c", "ulimit -v 98304 && exec \"$0\"", BIN])
        .env_clear()
        .env("PATH", host_path())
        .envs(&s.env)
        .env("CNI_COMMAND", "ADD");
    let r = run_command(&mut c, Box::new(stream), LIMIT);
    let msg = expect_error(&r, &[6], "1 GiB on stdin");
    assert!(msg.contains("16 MiB"), "{msg}");
    assert!(r.took < Duration::from_secs(15), "took {:?}", r.took);

    // The boundary: exactly STDIN_CAP bytes are read and parsed, one more
    // byte is refused.
    let conf = base(&s).to_string().into_bytes();
    let pad = |n: u64| {
        let mut v = conf.clone();
        v.resize(usize::try_from(n).expect("fits"), b' ');
        v
    };
    expect_ok(&run_bytes(&s, "ADD", &pad(STDIN_CAP)), "exactly the cap");
    let msg = expect_error(&run_bytes(&s, "ADD", &pad(STDIN_CAP + 1)), &[6], "cap + 1");
    assert!(msg.contains("16 MiB"), "{msg}");
    assert_eq!(
        s.calls().len(),
        1,
        "only the run within the cap called a delegate"
    );
}

#[test]
fn deeply_nested_json_is_code_6_not_a_stack_overflow() {
    let s = Setup::new(&["a"]);
    let deep = |open: &str, n: usize| open.repeat(n).into_bytes();
    let inside = |key: &str, n: usize| {
        let mut c = base(&s).to_string();
        c.pop(); // the closing brace
        format!("{c}, \"{key}\": {}1{}}}", "[".repeat(n), "]".repeat(n)).into_bytes()
    };
    let in_conf = format!(
        r#"{{"cniVersion": "1.0.0", "name": "n", "delegates": [{{"name": "a",
            "conf": {{"type": "a", "x": {}1{}}}}}]}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("100k [", deep("[", 100_000)),
        ("100k {\"a\":", deep("{\"a\":", 100_000)),
        ("100k [ closed", {
            let mut v = deep("[", 100_000);
            v.extend(deep("]", 100_000));
            v
        }),
        ("deep unknown key", inside("x", 100_000)),
        ("deep runtimeConfig", inside("runtimeConfig", 1000)),
        ("deep prevResult", inside("prevResult", 1000)),
        ("deep conf", in_conf.into_bytes()),
    ];
    for (what, stdin) in &cases {
        for cmd in ["ADD", "DEL", "CHECK"] {
            let r = run_bytes(&s, cmd, stdin);
            let msg = expect_error(&r, &[6], &format!("{cmd} {what}"));
            assert!(msg.contains("recursion limit"), "{what}: {msg}");
        }
        // VERSION needs no config: it still answers.
        let v = expect_ok(&run_bytes(&s, "VERSION", stdin), what);
        assert_eq!(v["cniVersion"], "1.0.0");
    }
    assert!(s.calls().is_empty());

    // Nesting a real plugin config could have (100 levels) goes through intact.
    let mut conf = base(&s);
    let mut nested = json!("leaf");
    for _ in 0..100 {
        nested = json!([nested]);
    }
    conf["delegates"][0]["conf"] = json!({"type": "a", "x": nested.clone()});
    expect_ok(&run_json(&s, "ADD", &conf), "100 levels");
    assert_eq!(s.calls()[0].stdin["x"], nested);
}

#[test]
fn nul_bytes_in_strings_are_config_errors_where_they_would_reach_a_c_string() {
    let s = Setup::new(&["a"]);
    // In the network name: code 7 naming it.
    let mut c = base(&s);
    c["name"] = json!("n\u{0}x");
    assert!(expect_error(&run_json(&s, "ADD", &c), &[7], "name").contains("name"));
    // Raw NUL bytes are not JSON, inside or outside strings.
    for raw in [
        b"{\"name\": \"n\x00\"}".to_vec(),
        b"{\"name\":\x00 \"n\"}".to_vec(),
        b"\x00".to_vec(),
    ] {
        expect_error(&run_bytes(&s, "ADD", &raw), &[6], "raw NUL");
    }
    // Values that become environment variables or paths (environment
    // values are C strings: the OS itself cannot carry a NUL in one, so the
    // runtime's own variables cannot hold one either; only the config can).
    let with_override = |field: &str, ov: Value| {
        let mut c = base(&s);
        c["runtimeOverride"] = ov;
        let msg = expect_error(&run_json(&s, "ADD", &c), &[7], field);
        assert!(msg.contains(field), "{field}: {msg}");
    };
    with_override("runtimeOverride.envs[0]", json!({"envs": ["A=x\u{0}"]}));
    with_override("runtimeOverride.args[0]", json!({"args": ["A=\"\u{0}\""]}));
    with_override("runtimeOverride.netns", json!({"netns": "/n\u{0}"}));
    with_override("runtimeOverride.cniPath", json!({"cniPath": "/b\u{0}"}));
    with_override("runtimeOverride.ifName", json!({"ifName": "e\u{0}"}));
    with_override(
        "runtimeOverride.containerID",
        json!({"containerID": "c\u{0}"}),
    );
    for (field, key, v) in [
        ("stateDir", "stateDir", json!("/tmp/x\u{0}")),
        ("logFile", "logFile", json!("/tmp/x\u{0}")),
        ("metricsFile", "metricsFile", json!("/tmp/m\u{0}")),
    ] {
        let mut c = base(&s);
        c[key] = v;
        let msg = expect_error(&run_json(&s, "ADD", &c), &[7], field);
        assert!(msg.contains(field), "{field}: {msg}");
    }
    let mut c = base(&s);
    c["delegates"][0]["type"] = json!("a\u{0}");
    let msg = expect_error(&run_json(&s, "ADD", &c), &[7], "type");
    assert!(msg.contains("delegates[0].type"), "{msg}");
    assert!(s.calls().is_empty(), "no delegate runs on a bad config");

    // Inside a delegate's conf a NUL is ordinary JSON text: passed on escaped.
    let mut c = base(&s);
    c["delegates"][0]["conf"] = json!({"type": "a", "x": "a\u{0}b"});
    expect_ok(&run_json(&s, "ADD", &c), "NUL in conf");
    let call = &s.calls()[0];
    assert!(call.raw_stdin.contains(r"a\u0000b"), "{}", call.raw_stdin);

    // Other control characters in the runtime's variables.
    let ctl = |v: &str| Some(OsString::from(v));
    let conf = base(&s).to_string();
    let run = |changes: &[(&str, Option<OsString>)]| {
        run_os(
            &s,
            "ADD",
            changes,
            Box::new(std::io::Cursor::new(conf.clone().into_bytes())),
        )
    };
    expect_error(&run(&[("CNI_CONTAINERID", ctl("c\u{1}"))]), &[4], "id");
    expect_error(&run(&[("CNI_IFNAME", ctl("e\tx"))]), &[4], "ifname");
    expect_ok(
        &run(&[
            ("CNI_NETNS", ctl("/n\nx")),
            ("CNI_ARGS", ctl("A=\u{1};B=\n")),
        ]),
        "control characters in netns and args",
    );
}

#[test]
fn invalid_utf8_is_code_6_on_stdin_and_code_4_in_a_used_variable() {
    let s = Setup::new(&["a"]);
    let conf = base(&s).to_string();
    for (what, bad) in [
        ("0xff in a string", b"\xff\xfe".to_vec()),
        ("lone continuation byte", b"\x80".to_vec()),
        ("overlong /", b"\xc0\xaf".to_vec()),
        ("UTF-16 surrogate", b"\xed\xa0\x80".to_vec()),
        ("truncated sequence", b"\xe2\x82".to_vec()),
    ] {
        let mut stdin = conf.clone().into_bytes();
        let at = stdin.windows(3).position(|w| w == b"\"n\"").expect("name") + 1;
        stdin.splice(at..at + 1, bad);
        let msg = expect_error(&run_bytes(&s, "ADD", &stdin), &[6], what);
        assert!(msg.contains("JSON"), "{what}: {msg}");
    }
    // An escaped lone surrogate decodes to no Rust string either.
    let stdin = conf.replace("\"n\"", "\"\\ud800\"");
    expect_error(&run_bytes(&s, "ADD", stdin.as_bytes()), &[6], "\\ud800");

    let bad = || Some(OsString::from_vec(b"x\xff\xfey".to_vec()));
    let stdin = || -> Box<dyn Read + Send> { Box::new(std::io::Cursor::new(conf.clone())) };
    for var in [
        "CNI_ARGS",
        "CNI_IFNAME",
        "CNI_CONTAINERID",
        "CNI_NETNS",
        "CNI_PATH",
    ] {
        let r = run_os(&s, "ADD", &[(var, bad())], stdin());
        let msg = expect_error(&r, &[4], var);
        assert!(msg.contains(var) && msg.contains("UTF-8"), "{var}: {msg}");
        // VERSION uses none of them.
        expect_ok(&run_os(&s, "VERSION", &[(var, bad())], stdin()), var);
    }
    let r = run_os(&s, "DEL", &[("CNI_ARGS", bad())], stdin());
    expect_error(&r, &[4], "DEL with bad CNI_ARGS");
    let r = run_os(&s, "STATUS", &[("CNI_IFNAME", bad())], stdin());
    // (It fails for its own reason: the 1.0.0 config knows no STATUS.)
    let msg = expect_error(&r, &[1], "STATUS with a stray bad CNI_IFNAME");
    assert!(!msg.contains("CNI_IFNAME"), "{msg}");
    let r = run_os(&s, "ADD", &[("CNI_COMMAND", bad())], stdin());
    expect_error(&r, &[4], "CNI_COMMAND");
    assert!(s.calls().is_empty());
    // A variable meta-cni does not read is passed on untouched.
    expect_ok(
        &run_os(&s, "ADD", &[("SOME_OTHER", bad())], stdin()),
        "other variable",
    );
}

#[test]
fn huge_strings_are_handled_and_never_echoed_in_full() {
    let s = Setup::new(&["a"]);
    let ten_mb = "n".repeat(10 << 20);
    let bounded = |r: &RawRun, what: &str| {
        assert!(
            r.stdout.len() < 100 << 10,
            "{what}: {} bytes on stdout",
            r.stdout.len()
        );
    };
    // As the network name it is also the state directory's name: too long
    // for a file system (code 5), or for the network-name pattern (code 7).
    let mut c = base(&s);
    c["name"] = json!(ten_mb);
    let r = run_json(&s, "ADD", &c);
    expect_error(&r, &[5], "10 MB name");
    bounded(&r, "10 MB name");
    c["name"] = json!(format!("{ten_mb}/"));
    let r = run_json(&s, "ADD", &c);
    assert!(expect_error(&r, &[7], "10 MB bad name").contains("name"));
    bounded(&r, "10 MB bad name");
    // Without state files the name is only a label.
    c["name"] = json!(ten_mb);
    c["attachmentState"] = json!(false);
    expect_ok(&run_json(&s, "ADD", &c), "10 MB name, no state");

    // In a delegate's conf: delivered whole.
    let mut c = base(&s);
    let mut conf = json!({"type": "a", "big": ten_mb});
    conf[&ten_mb[..1 << 20]] = json!(1);
    c["delegates"][0]["conf"] = conf;
    expect_ok(&run_json(&s, "ADD", &c), "10 MB conf value");
    let calls = s.calls();
    let last = calls.last().expect("a call");
    assert_eq!(last.stdin["big"].as_str().map(str::len), Some(10 << 20));

    // As a bad plugin name and as 100,000 config problems: the error is cut.
    let mut c = base(&s);
    c["delegates"][0]["type"] = json!(format!("{ten_mb}/"));
    let r = run_json(&s, "ADD", &c);
    let msg = expect_error(&r, &[7], "10 MB type");
    assert!(msg.contains("delegates[0].type") && msg.contains("more bytes not shown"));
    bounded(&r, "10 MB type");
    c["delegates"] = Value::Array(vec![json!({"name": "x"}); 100_000]);
    let r = run_json(&s, "ADD", &c);
    let msg = expect_error(&r, &[7], "100k problems");
    assert!(msg.contains("100000 problems") && msg.contains("more bytes not shown"));
    bounded(&r, "100k problems");
}

#[test]
fn numbers_in_a_delegate_conf_reach_it_as_written() {
    // A Go delegate with an int field refuses 1000.0 where the operator
    // wrote 1e3: numbers are passed (and recorded) as written.
    let s = Setup::new(&["a"]);
    // (written, as passed): serde_json keeps the digits and only spells an
    // exponent as e+N / e-N.
    let literals = [
        ("n1", "1e3", "1e+3"),
        ("n2", "-0", "-0"),
        ("n3", "12345678901234567890123", "12345678901234567890123"),
        ("n4", "0.10", "0.10"),
        ("n5", "1E+2", "1e+2"),
        ("n6", "1e400", "1e+400"),
        ("n7", "-0.0", "-0.0"),
        ("n8", "2.5e-3", "2.5e-3"),
    ];
    let fields: Vec<String> = literals
        .iter()
        .map(|(k, v, _)| format!("\"{k}\": {v}"))
        .collect();
    let conf = format!(
        r#"{{"cniVersion": "1.0.0", "name": "net", "stateDir": {}, "delegates": [{{"name": "a", "conf": {{"type": "a", {}}}}}]}}"#,
        json!(s.state_dir()),
        fields.join(", ")
    );
    // ADD, then DEL replaying the recorded bytes: the same numbers.
    for cmd in ["ADD", "DEL"] {
        s.clear_calls();
        expect_ok(&run_bytes(&s, cmd, conf.as_bytes()), cmd);
        let calls = s.calls();
        let call = calls.last().expect("a call");
        for (k, _, v) in literals {
            assert!(
                call.raw_stdin.contains(&format!("\"{k}\":{v}")),
                "{cmd} {k}: {v} not passed as written: {}",
                call.raw_stdin
            );
        }
    }
}

#[test]
fn out_of_range_numbers() {
    let s = Setup::new(&["a"]);
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut c = base(&s);
        edit(&mut c);
        c
    };
    // Beyond any float: valid JSON, kept as written (numbers are never
    // rewritten), so only a field meta-cni reads refuses it, by name.
    let raw = |field: &str, lit: &str| {
        let mut t = base(&s).to_string();
        t.pop();
        format!("{t}, \"{field}\": {lit}}}").into_bytes()
    };
    for lit in ["1e400", "-1e400"] {
        let msg = expect_error(
            &run_bytes(&s, "ADD", &raw("timeoutSeconds", lit)),
            &[7],
            lit,
        );
        assert!(
            msg.contains("timeoutSeconds") && msg.contains("out of range"),
            "{msg}"
        );
        let msg = expect_error(&run_bytes(&s, "ADD", &raw("logMaxSizeMB", lit)), &[7], lit);
        assert!(msg.contains("logMaxSizeMB"), "{msg}");
        expect_ok(&run_bytes(&s, "ADD", &raw("x", lit)), lit);
    }
    // Out of range for the field: code 7 naming it.
    for (field, lit) in [
        ("timeoutSeconds", "1e30"),
        ("timeoutSeconds", "99999999999999999999999"),
        ("timeoutSeconds", "18446744073709551615"),
        ("timeoutSeconds", "0.5"),
        ("logMaxSizeMB", "18446744073709551616"),
        ("logMaxSizeMB", "5000"),
        ("logMaxSizeMB", "-0"),
        ("logMaxSizeMB", "-1"),
    ] {
        let msg = expect_error(&run_bytes(&s, "ADD", &raw(field, lit)), &[7], lit);
        assert!(msg.contains(field), "{lit}: {msg}");
    }
    let c = with(&|c| c["delegates"][0]["timeoutSeconds"] = json!(1e300));
    assert!(
        expect_error(&run_json(&s, "ADD", &c), &[7], "delegate 1e300")
            .contains("delegates[0].timeoutSeconds")
    );
    // -0 is 0 (no timeout), as for upstream; the largest timeout is simply
    // a very long one (it overflowed the clock and panicked before).
    expect_ok(&run_bytes(&s, "ADD", &raw("timeoutSeconds", "-0")), "-0");
    for t in [i64::MAX, i64::MAX - 1, 1 << 40] {
        let c = with(&|c| {
            c["timeoutSeconds"] = json!(t);
            c["delegates"][0]["timeoutSeconds"] = json!(t);
        });
        expect_ok(&run_json(&s, "ADD", &c), &format!("timeout {t}"));
        expect_ok(&run_json(&s, "DEL", &c), &format!("DEL timeout {t}"));
    }
    // Numbers in a prevResult: code 6 naming the field.
    for (what, prev) in [
        (
            "interface index 1e30",
            json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}],
                   "ips": [{"address": "10.0.0.2/24", "interface": 1e30}]}),
        ),
        (
            "interface index 2^64",
            json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}],
                   "ips": [{"address": "10.0.0.2/24", "interface": u64::MAX}]}),
        ),
        (
            "interface index -1",
            json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}],
                   "ips": [{"address": "10.0.0.2/24", "interface": -1}]}),
        ),
        (
            "route mtu 2^32",
            json!({"cniVersion": "1.1.0", "routes": [{"dst": "0.0.0.0/0", "mtu": 4_294_967_296_u64}]}),
        ),
        (
            "route scope 256",
            json!({"cniVersion": "1.1.0", "routes": [{"dst": "0.0.0.0/0", "scope": 256}]}),
        ),
    ] {
        let c = with(&|c| c["prevResult"] = prev.clone());
        let msg = expect_error(&run_json(&s, "CHECK", &c), &[6], what);
        assert!(msg.contains("prevResult"), "{what}: {msg}");
    }
}

/// One config field: where it lives, the fragments of its path an error
/// message must contain, and the kinds of JSON value it accepts (null counts
/// as absent for every optional field, so it is not a wrong type).
struct Field {
    /// JSON pointer of the field in [`full_config`].
    pointer: String,
    names: Vec<String>,
    accepts: Vec<Kind>,
    shape: Shape,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
    Array,
    Object,
}

#[derive(Clone, Copy, Debug)]
enum Shape {
    Seed,
    Pipelines,
}

const ALL_KINDS: [Kind; 6] = [
    Kind::Bool,
    Kind::Int,
    Kind::Float,
    Kind::Str,
    Kind::Array,
    Kind::Object,
];

fn sample(k: Kind) -> Value {
    match k {
        Kind::Bool => json!(true),
        Kind::Int => json!(3),
        Kind::Float => json!(2.5),
        Kind::Str => json!("x"),
        Kind::Array => json!([]),
        Kind::Object => json!({}),
    }
}

/// A valid config of `shape` that sets every field.
fn full_config(s: &Setup, shape: Shape) -> Value {
    let ro = || {
        json!({"containerID": "c2", "netns": "/n", "cniPath": "/nonexistent",
               "args": ["A=1"], "envs": ["B=2"]})
    };
    let delegate = || {
        json!({"name": "a", "type": "a", "timeoutSeconds": 5, "runtimeOverride": ro(),
               "conf": {"type": "a", "name": "a", "cniVersion": "1.0.0"}})
    };
    let mut top = json!({"cniVersion": "1.0.0", "name": "n", "type": "meta-cni",
        "logLevel": "info", "logFile": s.path("log").display().to_string(), "logMaxSizeMB": 1,
        "metricsFile": s.path("metrics.prom").display().to_string(),
        "timeoutSeconds": 10, "stateDir": s.state_dir().display().to_string(),
        "attachmentState": true, "runtimeConfigMode": "all",
        "runtimeConfig": {}, "prevResult": {"cniVersion": "1.0.0"}, "capabilities": {},
        "runtimeOverride": {"containerID": "c2", "netns": "/n", "ifName": "eth1",
                            "cniPath": "/nonexistent", "args": ["A=1"], "envs": ["B=2"]}});
    match shape {
        Shape::Seed => {
            top["resultMode"] = json!("chained");
            let mut d = delegate();
            d["runtimeOverride"]["ifName"] = json!("eth2");
            top["delegates"] = json!([d]);
        }
        Shape::Pipelines => {
            top["pipelines"] = json!([
                {"name": "p", "ifName": "eth0", "runtimeOverride": ro(), "delegates": [delegate()]},
                {"name": "q", "ifNamePrefix": "net", "delegates": [delegate()]}
            ]);
        }
    }
    top
}

fn fields() -> Vec<Field> {
    use Kind::*;
    use Shape::*;
    let mut v = Vec::new();
    let mut add = |pointer: &str, names: &[&str], accepts: &[Kind], shape: Shape| {
        v.push(Field {
            pointer: pointer.to_string(),
            names: names.iter().map(|n| n.to_string()).collect(),
            accepts: accepts.to_vec(),
            shape,
        });
    };
    for (key, kind) in [
        ("cniVersion", Str),
        ("name", Str),
        ("type", Str),
        ("logLevel", Str),
        ("logFile", Str),
        ("logMaxSizeMB", Int),
        ("metricsFile", Str),
        ("timeoutSeconds", Int),
        ("stateDir", Str),
        ("attachmentState", Bool),
        ("runtimeConfigMode", Str),
        ("runtimeConfig", Object),
        ("prevResult", Object),
        ("capabilities", Object),
        ("resultMode", Str),
        ("delegates", Array),
    ] {
        add(&format!("/{key}"), &[key], &[kind], Seed);
    }
    add("/pipelines", &["pipelines"], &[Array], Pipelines);
    for (at, names, shape) in [
        ("/delegates/0", ["delegates[0]", ""], Seed),
        (
            "/pipelines/0/delegates/0",
            ["pipelines[0]", ".delegates[0]"],
            Pipelines,
        ),
    ] {
        let named = |suffix: &str| {
            let [a, b] = names;
            let last = if b.is_empty() { a } else { b };
            [a.to_string(), format!("{last}{suffix}")]
        };
        let n = named("");
        add(at, &[&n[0], &n[1]], &[Object], shape);
        for (key, kind) in [
            ("name", Str),
            ("type", Str),
            ("conf", Object),
            ("timeoutSeconds", Int),
            ("conf/type", Str),
            ("conf/name", Str),
            ("conf/cniVersion", Str),
        ] {
            let n = named(&format!(".{}", key.replace('/', ".")));
            add(&format!("{at}/{key}"), &[&n[0], &n[1]], &[kind], shape);
        }
    }
    add("/pipelines/0", &["pipelines[0]"], &[Object], Pipelines);
    for (key, kind) in [("name", Str), ("ifName", Str), ("delegates", Array)] {
        add(
            &format!("/pipelines/0/{key}"),
            &["pipelines[0]", &format!(".{key}")],
            &[kind],
            Pipelines,
        );
    }
    add(
        "/pipelines/1/ifNamePrefix",
        &["pipelines[1]", ".ifNamePrefix"],
        &[Str],
        Pipelines,
    );
    // runtimeOverride at every level.
    for (at, first, rest, shape) in [
        (
            "/runtimeOverride",
            "runtimeOverride",
            "runtimeOverride",
            Seed,
        ),
        (
            "/delegates/0/runtimeOverride",
            "delegates[0]",
            "delegates[0].runtimeOverride",
            Seed,
        ),
        (
            "/pipelines/0/runtimeOverride",
            "pipelines[0]",
            ".runtimeOverride",
            Pipelines,
        ),
        (
            "/pipelines/0/delegates/0/runtimeOverride",
            "pipelines[0]",
            ".delegates[0].runtimeOverride",
            Pipelines,
        ),
    ] {
        add(at, &[first, rest], &[Object], shape);
        for (key, kind) in [
            ("containerID", Str),
            ("netns", Str),
            ("cniPath", Str),
            ("args", Array),
            ("envs", Array),
            ("args/0", Str),
            ("envs/0", Str),
        ] {
            let shown = format!("{rest}.{}", key.replace("/0", "[0]"));
            add(&format!("{at}/{key}"), &[first, &shown], &[kind], shape);
        }
    }
    v
}

#[test]
fn wrong_json_types_in_every_config_field_are_code_7_naming_it() {
    let s = Setup::new(&["a"]);
    // The full configs are valid: they fail only at the (absent) plugin.
    for shape in [Shape::Seed, Shape::Pipelines] {
        let r = run_json(&s, "ADD", &full_config(&s, shape));
        let msg = expect_error(&r, &[100], &format!("{shape:?} sample"));
        assert!(msg.contains("not found"), "{msg}");
    }
    let mut checked = 0;
    for field in fields() {
        let good = full_config(&s, field.shape);
        assert!(
            good.pointer(&field.pointer).is_some(),
            "{} is not in the sample config",
            field.pointer
        );
        for kind in ALL_KINDS {
            if field.accepts.contains(&kind) {
                continue;
            }
            let mut c = good.clone();
            *c.pointer_mut(&field.pointer).expect("field") = sample(kind);
            let what = format!("{} = {}", field.pointer, sample(kind));
            let msg = expect_error(&run_json(&s, "ADD", &c), &[7], &what);
            for n in &field.names {
                assert!(msg.contains(n.as_str()), "{what}: {n:?} not named in {msg}");
            }
            checked += 1;
        }
    }
    assert!(checked > 250, "only {checked} cases");
    assert!(s.calls().is_empty(), "no delegate ran");
}
