//! The exec protocol: VERSION, the about text, the environment table.

use crate::harness::*;
use serde_json::json;

#[test]
fn version_echoes_the_config_version_and_lists_all() {
    let s = Setup::new(&[]);
    for v in ["0.3.1", "1.0.0", "1.1.0"] {
        let out = s.run("VERSION", &json!({"cniVersion": v})).ok();
        assert_eq!(out["cniVersion"], v);
        assert_eq!(
            out["supportedVersions"],
            json!(["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
        );
    }
    // VERSION needs no other variable and no config.
    let mut bare = Setup::new(&[]);
    bare.unset("CNI_CONTAINERID")
        .unset("CNI_IFNAME")
        .unset("CNI_NETNS")
        .unset("CNI_PATH");
    let out = bare.run_raw(Some("VERSION"), b"").ok();
    assert_eq!(out["cniVersion"], "1.0.0");
}

#[test]
fn no_command_prints_the_about_text_and_exits_0() {
    let s = Setup::new(&[]);
    let r = s.run_raw(None, b"");
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.is_empty(),
        "stdout must stay empty: {:?}",
        r.stdout
    );
    assert!(
        r.stderr.contains("meta-cni") && r.stderr.contains("1.1.0"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn every_missing_variable_is_named_in_one_code_4_error() {
    let mut s = Setup::new(&[]);
    s.unset("CNI_CONTAINERID")
        .unset("CNI_IFNAME")
        .unset("CNI_NETNS");
    let conf =
        json!({"cniVersion": "1.0.0", "name": "n", "delegates": [{"name": "a", "type": "a"}]});
    let msg = s.run("ADD", &conf).err(4);
    for v in ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_NETNS"] {
        assert!(msg.contains(v), "{v} missing from {msg}");
    }
    // The error object is in the config's version.
    let r = s.run("ADD", &json!({"cniVersion": "0.4.0", "name": "n"}));
    assert_eq!(r.json()["cniVersion"], "0.4.0");
}

#[test]
fn unknown_command_and_bad_ids_are_code_4() {
    let mut s = Setup::new(&[]);
    let conf =
        json!({"cniVersion": "1.0.0", "name": "n", "delegates": [{"name": "a", "type": "a"}]});
    assert!(s.run("FROB", &conf).err(4).contains("FROB"));
    s.set("CNI_CONTAINERID", "../../etc/passwd");
    assert!(s.run("ADD", &conf).err(4).contains("CNI_CONTAINERID"));
    s.set("CNI_CONTAINERID", "ok")
        .set("CNI_IFNAME", "a-very-long-interface-name");
    assert!(s.run("DEL", &conf).err(4).contains("CNI_IFNAME"));
}

#[test]
fn bad_json_is_code_6_and_unsupported_version_is_code_1() {
    let s = Setup::new(&[]);
    assert!(s.run_raw(Some("ADD"), b"{not json").err(6).contains("JSON"));
    assert!(s.run_raw(Some("ADD"), b"[1,2]").err(6).contains("object"));
    assert!(s.run_raw(Some("ADD"), b"").err(6).contains("JSON"));
    let msg = s
        .run(
            "ADD",
            &json!({"cniVersion": "9.9.9", "name": "n", "delegates": []}),
        )
        .err(1);
    assert!(msg.contains("9.9.9"), "{msg}");
}

#[test]
fn stdout_carries_exactly_one_document_even_at_trace_level() {
    let s = Setup::new(&["a", "b"]);
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "logLevel": "trace", "resultMode": "chained",
        "delegates": [{"name": "a", "type": "a"}, {"name": "b", "type": "b"}]});
    let r = s.run("ADD", &conf);
    r.ok();
    // Exactly one JSON value: a stream deserializer finds one and nothing else.
    let docs: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&r.stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("stdout parses");
    assert_eq!(docs.len(), 1);
    assert!(
        r.stderr.contains("DEBUG"),
        "logs go to stderr: {}",
        r.stderr
    );
}

/// The fds of this process that a child inherits (no close-on-exec):
/// whatever started the tests may have left some open, and meta-cni passes
/// those on as libcni would; it must add none of its own.
fn inherited_fds() -> Vec<u32> {
    let mut fds = Vec::new();
    for e in std::fs::read_dir("/proc/self/fdinfo").expect("fdinfo") {
        let e = e.expect("entry");
        let Ok(fd) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(info) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
            .unwrap_or(0);
        if fd > 2 && flags & 0o2000000 == 0 {
            fds.push(fd);
        }
    }
    fds
}

#[test]
fn a_delegate_starts_clean_whatever_meta_cni_holds_open() {
    let mut s = Setup::new(&[]);
    // perl, not the python fake: python ignores SIGPIPE itself at start-up.
    let report = s.path("report");
    let script = "#!/bin/sh\nexec perl -e '\
        open(my $st, \"<\", \"/proc/self/status\") or die; \
        my %f = map { /^(\\w+):\\s*(\\S+)/ ? ($1, $2) : () } <$st>; close $st; \
        opendir(my $d, \"/proc/self/fd\") or die; \
        my @fds = sort { $a <=> $b } grep { /^\\d+$/ && (readlink(\"/proc/self/fd/$_\") // \"\") !~ m{^/proc/} } readdir $d; \
        my @kinds = map { (readlink(\"/proc/self/fd/$_\") // \"\") =~ /^pipe:/ ? \"pipe\" : \"other\" } 0..2; \
        local $/; my $in = <STDIN>; \
        open(my $o, \">\", $ENV{CLEAN_REPORT}) or die; \
        print $o \"ign=$f{SigIgn} blk=$f{SigBlk} own_group=\", (getpgrp() == $$ ? 1 : 0), \
            \" fds=\", join(\",\", @fds), \" stdio=\", join(\",\", @kinds), \" stdin=\", length($in), \"\\n\"; \
        print q({\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.66.0.9/24\"}]});'\n";
    let path = s.bin.join("clean");
    std::fs::write(&path, script).expect("write");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    s.set("CLEAN_REPORT", &report.display().to_string());
    // State and a log file on: meta-cni holds a lock, the log and the
    // state directory open while the delegate runs.
    let conf = json!({"cniVersion": "1.0.0", "name": "n", "stateDir": s.state_dir(),
        "logFile": s.path("meta.log"), "logLevel": "debug",
        "delegates": [{"name": "clean", "type": "clean"}]});
    let inherited = inherited_fds();
    assert_eq!(
        s.run("ADD", &conf).ok()["ips"][0]["address"],
        "10.66.0.9/24"
    );
    let got = std::fs::read_to_string(&report).expect("report");
    let field = |k: &str| {
        got.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("{k} missing in {got}"))
            .to_string()
    };
    // SIGPIPE is not ignored (meta-cni ignores it itself), nor any other
    // standard signal: perl ignores SIGFPE on its own, and the C library's
    // spawn sets its internal real-time signals (32 and up) to ignored.
    let ign = u64::from_str_radix(&field("ign"), 16).expect("SigIgn is hex");
    let sigpipe = 1 << (13 - 1);
    let sigfpe = 1 << (8 - 1);
    assert_eq!(ign & sigpipe, 0, "SIGPIPE ignored: {got}");
    assert_eq!(ign & 0x7fff_ffff & !sigfpe, 0, "{got}");
    assert_eq!(field("blk"), "0000000000000000", "{got}");
    // Its own process group, so a timeout can kill all it started.
    assert_eq!(field("own_group"), "1", "{got}");
    // stdio are meta-cni's pipes; beyond them only what meta-cni inherited.
    assert_eq!(field("stdio"), "pipe,pipe,pipe", "{got}");
    let extra: Vec<u32> = field("fds")
        .split(',')
        .filter_map(|f| f.parse().ok())
        .filter(|f| *f > 2)
        .collect();
    assert!(
        extra.iter().all(|f| inherited.contains(f)),
        "delegate got fds {extra:?}, the test process passes on only {inherited:?}"
    );
    assert!(
        field("stdin").parse::<usize>().expect("stdin length") > 40,
        "{got}"
    );
}
