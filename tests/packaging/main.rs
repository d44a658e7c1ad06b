//! Packaging: `make static`, `make deb`, `make install`, as a node gets them.
//!
//! One `make deb` (which runs `make static`: an LTO release build for the
//! static target) is shared by every test here; the rest only reads its
//! results or copies files, so the whole file costs one release build.
//!
//! * the static binary: an x86-64 ELF without a program interpreter, `ldd`
//!   calls it static, and it answers `CNI_COMMAND=VERSION` exactly as the
//!   debug build does;
//! * the .deb: its file list (`dpkg-deb -c`) is exactly the expected one, with
//!   root ownership and the right modes, nothing under /etc; its control
//!   fields (`dpkg-deb -f`) are right, its version is Cargo.toml's; no
//!   maintainer scripts;
//! * unpacked into a temp root (`dpkg-deb -x`; the machine's package database
//!   is never touched) it gives the same, working binary, and its md5sums hold;
//! * `make install DESTDIR=...` lays out the same files (minus the Debian-only
//!   ones), honours PREFIX, creates nothing under /etc; `make install-config`
//!   never overwrites an existing config.
//!
//! A missing tool (make, dpkg-deb, ldd, md5sum) skips the tests with a loud
//! `SKIPPED (...)` line on stderr, unless `META_CNI_REQUIRE_REAL=1` (CI sets
//! it), where it fails them. A failing build always fails.

#[path = "../common/tempdir.rs"]
mod tempdir;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use tempdir::TempDir;

const REQUIRE_VAR: &str = "META_CNI_REQUIRE_REAL";
const VERSION: &str = env!("CARGO_PKG_VERSION");
const DEBUG_BIN: &str = env!("CARGO_BIN_EXE_meta-cni");
/// Tools the tests run besides the build's own (cargo, cc).
const TOOLS: &[&str] = &["make", "dpkg-deb", "ldd", "md5sum", "install"];
/// Longest a `make` may take (the one release build, on a loaded machine).
const BUILD_LIMIT: Duration = Duration::from_secs(900);
const STEP_LIMIT: Duration = Duration::from_secs(120);

fn top() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the Makefile puts things: `$CARGO_TARGET_DIR`, else `target/`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => top().join(d),
        _ => top().join("target"),
    }
}

/// The example configs shipped as docs: every `examples/*.conf`.
fn examples() -> Vec<String> {
    files_in("examples", ".conf")
}

/// The manual shipped next to the README: every `docs/*.md`.
fn manual() -> Vec<String> {
    files_in("docs", ".md")
}

fn files_in(dir: &str, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(top().join(dir))
        .unwrap_or_else(|e| panic!("read {dir}/: {e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no {dir}/*{suffix}");
    names
}

// ---------------------------------------------------------------------------
// Running things

struct Out {
    ok: bool,
    status: String,
    stdout: String,
    stderr: String,
}

impl Out {
    fn describe(&self, what: &str) -> String {
        let tail = |s: &str| {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(40)..].join("\n")
        };
        format!(
            "{what}: {}\n--- stdout (tail)\n{}\n--- stderr (tail)\n{}",
            self.status,
            tail(&self.stdout),
            tail(&self.stderr)
        )
    }
}

/// Run `cmd` with a deadline (its whole process group is killed past it),
/// stdin from `input`, output captured through files (no pipe can fill).
fn run(cmd: &mut Command, input: &[u8], limit: Duration) -> Out {
    use std::os::unix::process::CommandExt;
    let dir = TempDir::new("pkg-out");
    let (o, e, i) = (
        dir.0.join("stdout"),
        dir.0.join("stderr"),
        dir.0.join("stdin"),
    );
    std::fs::write(&i, input).expect("write stdin file");
    let mut child = cmd
        .stdin(std::fs::File::open(&i).expect("open stdin file"))
        .stdout(std::fs::File::create(&o).expect("create stdout file"))
        .stderr(std::fs::File::create(&e).expect("create stderr file"))
        .process_group(0)
        .spawn()
        .unwrap_or_else(|err| panic!("spawn {cmd:?}: {err}"));
    let start = Instant::now();
    let status = loop {
        match child.try_wait().expect("wait") {
            Some(s) => break format!("{s}"),
            None if start.elapsed() > limit => {
                let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                break format!("killed after {limit:?}");
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into();
    Out {
        ok: status == "exit status: 0",
        status,
        stdout: read(&o),
        stderr: read(&e),
    }
}

/// `make ARGS` in the source tree. The variables a parent make or cargo
/// passes to its children (jobserver descriptors) are not handed on.
fn make(args: &[&str], limit: Duration) -> Out {
    let mut cmd = Command::new("make");
    cmd.current_dir(top()).args(args);
    for v in ["MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CARGO_MAKEFLAGS"] {
        cmd.env_remove(v);
    }
    run(&mut cmd, b"", limit)
}

/// make calls that rebuild or rewrite `target/static` take turns.
fn make_lock() -> MutexGuard<'static, ()> {
    static L: Mutex<()> = Mutex::new(());
    L.lock().unwrap_or_else(|p| p.into_inner())
}

fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------
// The shared build

struct Built {
    /// `target/static/meta-cni`.
    bin: PathBuf,
    /// The Rust target `make static` used (musl, or glibc as the fallback).
    target: String,
    deb: PathBuf,
}

enum State {
    Ready(Built),
    Skip(String),
    Failed(String),
}

/// The one `make deb`. `None`: skipped (already said why, loudly).
fn built(test: &str) -> Option<&'static Built> {
    static STATE: OnceLock<State> = OnceLock::new();
    let state = STATE.get_or_init(|| {
        let missing: Vec<&str> = TOOLS.iter().copied().filter(|t| !which(t)).collect();
        if !missing.is_empty() {
            return State::Skip(format!("not found in PATH: {}", missing.join(", ")));
        }
        if std::env::consts::ARCH != "x86_64" {
            return State::Skip(format!(
                "the static build and the .deb are x86-64 only (this is {})",
                std::env::consts::ARCH
            ));
        }
        let _g = make_lock();
        let start = Instant::now();
        let out = make(&["deb"], BUILD_LIMIT);
        if !out.ok {
            return State::Failed(out.describe("make deb"));
        }
        let static_dir = target_dir().join("static");
        let target = std::fs::read_to_string(static_dir.join("meta-cni.target"))
            .unwrap_or_default()
            .trim()
            .to_string();
        let _ = writeln!(
            std::io::stderr(),
            "packaging: make deb took {:.1?} (static build for {target})",
            start.elapsed()
        );
        State::Ready(Built {
            bin: static_dir.join("meta-cni"),
            target,
            deb: target_dir()
                .join("deb")
                .join(format!("meta-cni_{VERSION}_amd64.deb")),
        })
    });
    match state {
        State::Ready(b) => Some(b),
        State::Failed(why) => panic!("{why}"),
        State::Skip(why) => {
            if std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1") {
                panic!("{REQUIRE_VAR}=1 but {test} cannot run: {why}");
            }
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!! SKIPPED {test} ({why}); set {REQUIRE_VAR}=1 to make this a failure !!!!!"
            );
            None
        }
    }
}

// ---------------------------------------------------------------------------
// Checks shared by several tests

/// `CNI_COMMAND=VERSION` answer of `bin`, as JSON.
fn version_reply(bin: &Path) -> Value {
    let out = run(
        Command::new(bin).env_clear().env("CNI_COMMAND", "VERSION"),
        br#"{"cniVersion":"1.0.0"}"#,
        STEP_LIMIT,
    );
    assert!(
        out.ok,
        "{}",
        out.describe(&format!("{} VERSION", bin.display()))
    );
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("VERSION reply is not JSON ({e}): {}", out.stdout))
}

fn assert_answers_version(bin: &Path) {
    let v = version_reply(bin);
    assert_eq!(v["cniVersion"], "1.0.0", "{v}");
    let supported: Vec<&str> = v["supportedVersions"]
        .as_array()
        .unwrap_or_else(|| panic!("no supportedVersions: {v}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for want in ["0.3.1", "0.4.0", "1.0.0", "1.1.0"] {
        assert!(supported.contains(&want), "{want} missing from {v}");
    }
    assert_eq!(
        v,
        version_reply(Path::new(DEBUG_BIN)),
        "differs from the debug build"
    );
}

fn read_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Static per the ELF itself: x86-64, and no PT_INTERP (no dynamic loader).
/// A static PIE still has PT_DYNAMIC, for relocating itself.
fn assert_static_elf(bin: &Path) {
    let b = std::fs::read(bin).expect("read binary");
    assert!(b.len() > 64 && &b[..4] == b"\x7fELF", "not ELF");
    assert_eq!(b[4], 2, "not ELF64");
    assert_eq!(b[5], 1, "not little-endian");
    assert_eq!(read_u16(&b, 18), 62, "e_machine is not x86-64");
    let phoff = u64::from_le_bytes(b[32..40].try_into().expect("8 bytes")) as usize;
    let phentsize = read_u16(&b, 54) as usize;
    let phnum = read_u16(&b, 56) as usize;
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let p_type = u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
        assert_ne!(
            p_type,
            3,
            "{} has a PT_INTERP: dynamically linked",
            bin.display()
        );
    }
}

fn assert_ldd_static(bin: &Path) {
    let out = run(Command::new("ldd").arg(bin), b"", STEP_LIMIT);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(
        said.contains("not a dynamic executable") || said.contains("statically linked"),
        "ldd {}: {said}",
        bin.display()
    );
}

/// Every file and directory under `root`, as `dpkg-deb -c` names them
/// (`./x/`, `./x/y`), with their modes.
fn tree(root: &Path) -> BTreeMap<String, u32> {
    use std::os::unix::fs::PermissionsExt;
    fn walk(dir: &Path, rel: &str, into: &mut BTreeMap<String, u32>) {
        for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let name = format!("{rel}{}", e.file_name().to_string_lossy());
            let md = e.metadata().expect("metadata");
            let mode = md.permissions().mode() & 0o7777;
            if md.is_dir() {
                into.insert(format!("{name}/"), mode);
                walk(&e.path(), &format!("{name}/"), into);
            } else {
                into.insert(name, mode);
            }
        }
    }
    let mut m = BTreeMap::new();
    walk(root, "./", &mut m);
    m
}

/// What `make install` (PREFIX=/usr) lays out, and so the .deb too.
fn install_layout() -> BTreeMap<String, u32> {
    let mut m = BTreeMap::new();
    for d in [
        "./opt/",
        "./opt/cni/",
        "./opt/cni/bin/",
        "./usr/",
        "./usr/share/",
        "./usr/share/doc/",
        "./usr/share/doc/meta-cni/",
        "./usr/share/doc/meta-cni/examples/",
        "./usr/share/doc/meta-cni/docs/",
    ] {
        m.insert(d.to_string(), 0o755);
    }
    m.insert("./opt/cni/bin/meta-cni".to_string(), 0o755);
    for f in ["README.md", "copyright"] {
        m.insert(format!("./usr/share/doc/meta-cni/{f}"), 0o644);
    }
    for ex in examples() {
        m.insert(format!("./usr/share/doc/meta-cni/examples/{ex}"), 0o644);
    }
    for page in manual() {
        m.insert(format!("./usr/share/doc/meta-cni/docs/{page}"), 0o644);
    }
    m
}

fn deb_layout() -> BTreeMap<String, u32> {
    let mut m = install_layout();
    m.insert("./".to_string(), 0o755);
    m.insert("./usr/share/doc/meta-cni/changelog.gz".to_string(), 0o644);
    for d in ["./usr/share/lintian/", "./usr/share/lintian/overrides/"] {
        m.insert(d.to_string(), 0o755);
    }
    m.insert("./usr/share/lintian/overrides/meta-cni".to_string(), 0o644);
    m
}

fn mode_string(mode: u32, dir: bool) -> String {
    let mut s = String::from(if dir { "d" } else { "-" });
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

fn assert_same_file(a: &Path, b: &Path) {
    let (x, y) = (std::fs::read(a), std::fs::read(b));
    assert!(
        x.is_ok() && x.as_ref().ok() == y.as_ref().ok(),
        "{} and {} differ",
        a.display(),
        b.display()
    );
}

// ---------------------------------------------------------------------------
// The tests

#[test]
fn static_binary_is_static_and_answers_version() {
    let Some(b) = built("static_binary_is_static_and_answers_version") else {
        return;
    };
    assert!(
        ["x86_64-unknown-linux-musl", "x86_64-unknown-linux-gnu"].contains(&b.target.as_str()),
        "target/static/meta-cni.target says {:?}",
        b.target
    );
    assert_static_elf(&b.bin);
    assert_ldd_static(&b.bin);
    assert_answers_version(&b.bin);
    // The copyright file made with it names the C library it contains.
    let copyright = std::fs::read_to_string(target_dir().join("static/copyright"))
        .expect("target/static/copyright");
    let libc = if b.target.ends_with("musl") {
        "C library: musl"
    } else {
        "C library: GNU C Library"
    };
    assert!(copyright.contains(libc), "{copyright}");
    assert!(copyright.contains(" serde_json "), "{copyright}");
    assert!(
        !copyright.contains("@"),
        "unfilled placeholder: {copyright}"
    );
}

#[test]
fn deb_file_list_is_exact() {
    let Some(b) = built("deb_file_list_is_exact") else {
        return;
    };
    let out = run(
        Command::new("dpkg-deb").arg("-c").arg(&b.deb),
        b"",
        STEP_LIMIT,
    );
    assert!(out.ok, "{}", out.describe("dpkg-deb -c"));
    let mut got = BTreeMap::new();
    for line in out.stdout.lines() {
        // drwxr-xr-x root/root 0 2026-01-01 00:00 ./opt/
        let f: Vec<&str> = line.split_whitespace().collect();
        assert!(
            f.len() == 6,
            "unexpected dpkg-deb -c line (a link?): {line}"
        );
        assert_eq!(f[1], "root/root", "owner of {}", f[5]);
        got.insert(f[5].to_string(), f[0].to_string());
    }
    let want: BTreeMap<String, String> = deb_layout()
        .into_iter()
        .map(|(p, m)| {
            let dir = p.ends_with('/');
            (p, mode_string(m, dir))
        })
        .collect();
    assert_eq!(got, want, "dpkg-deb -c of {}", b.deb.display());
    assert!(
        !got.keys().any(|p| p.starts_with("./etc")),
        "the .deb installs into /etc"
    );
}

#[test]
fn deb_control_fields() {
    let Some(b) = built("deb_control_fields") else {
        return;
    };
    assert_eq!(
        b.deb.file_name().and_then(|n| n.to_str()),
        Some(format!("meta-cni_{VERSION}_amd64.deb").as_str())
    );
    let field = |name: &str| {
        let out = run(
            Command::new("dpkg-deb").arg("-f").arg(&b.deb).arg(name),
            b"",
            STEP_LIMIT,
        );
        assert!(out.ok, "{}", out.describe("dpkg-deb -f"));
        out.stdout.trim_end().to_string()
    };
    assert_eq!(field("Package"), "meta-cni");
    assert_eq!(field("Version"), VERSION, "Version must be Cargo.toml's");
    assert_eq!(field("Architecture"), "amd64");
    assert_eq!(field("Section"), "net");
    assert_eq!(field("Priority"), "optional");
    let maint = field("Maintainer");
    assert!(
        maint.contains('<') && maint.contains('@') && maint.ends_with('>'),
        "{maint}"
    );
    let desc = field("Description");
    let synopsis = desc.lines().next().unwrap_or_default();
    assert!(
        !synopsis.is_empty() && synopsis.len() < 80,
        "synopsis: {synopsis:?}"
    );
    assert!(desc.lines().count() > 2, "no extended description: {desc}");
    assert!(field("Suggests").contains("containernetworking-plugins"));
    // Static: no dependencies at all.
    for f in ["Depends", "Pre-Depends", "Recommends"] {
        assert_eq!(field(f), "", "{f} is set");
    }
    let size: u64 = field("Installed-Size")
        .parse()
        .expect("Installed-Size is a number");
    let bin_k = std::fs::metadata(&b.bin).expect("binary").len() / 1024;
    assert!(
        size > bin_k && size < bin_k + 200,
        "Installed-Size {size} KiB for a {bin_k} KiB binary"
    );

    // The control archive: control and md5sums, no maintainer scripts.
    let dir = TempDir::new("pkg-ctrl");
    let ctrl = dir.0.join("DEBIAN");
    let out = run(
        Command::new("dpkg-deb").arg("-e").arg(&b.deb).arg(&ctrl),
        b"",
        STEP_LIMIT,
    );
    assert!(out.ok, "{}", out.describe("dpkg-deb -e"));
    let names: BTreeSet<String> = tree(&ctrl)
        .into_keys()
        .map(|k| k.trim_start_matches("./").to_string())
        .collect();
    let want: BTreeSet<String> = ["control", "md5sums"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, want, "control archive members");
}

#[test]
fn deb_unpacks_to_a_working_binary() {
    let Some(b) = built("deb_unpacks_to_a_working_binary") else {
        return;
    };
    let root = TempDir::new("pkg-root");
    let out = run(
        Command::new("dpkg-deb").arg("-x").arg(&b.deb).arg(&root.0),
        b"",
        STEP_LIMIT,
    );
    assert!(out.ok, "{}", out.describe("dpkg-deb -x"));
    let bin = root.0.join("opt/cni/bin/meta-cni");
    assert_same_file(&bin, &b.bin);
    assert_static_elf(&bin);
    assert_answers_version(&bin);

    // The md5sums in the package match what it unpacks.
    let ctrl = TempDir::new("pkg-ctrl");
    let out = run(
        Command::new("dpkg-deb").arg("-e").arg(&b.deb).arg(&ctrl.0),
        b"",
        STEP_LIMIT,
    );
    assert!(out.ok, "{}", out.describe("dpkg-deb -e"));
    let sums = std::fs::read(ctrl.0.join("md5sums")).expect("md5sums");
    let out = run(
        Command::new("md5sum")
            .arg("--check")
            .arg("--strict")
            .current_dir(&root.0),
        &sums,
        STEP_LIMIT,
    );
    assert!(out.ok, "{}", out.describe("md5sum --check"));

    let doc = root.0.join("usr/share/doc/meta-cni");
    assert_same_file(&doc.join("README.md"), &top().join("README.md"));
    for ex in examples() {
        assert_same_file(
            &doc.join("examples").join(&ex),
            &top().join("examples").join(&ex),
        );
    }
    for page in manual() {
        assert_same_file(
            &doc.join("docs").join(&page),
            &top().join("docs").join(&page),
        );
    }
    let copyright = std::fs::read_to_string(doc.join("copyright")).expect("copyright");
    assert!(copyright
        .starts_with("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"));
    assert!(copyright.contains("License: Apache-2.0"));
    assert!(!root.0.join("etc").exists(), "the .deb installs into /etc");
}

#[test]
fn make_install_layout() {
    if built("make_install_layout").is_none() {
        return;
    }
    let _g = make_lock();
    let dest = TempDir::new("pkg-destdir");
    let d = format!("DESTDIR={}", dest.0.display());
    let out = make(&["install", &d], BUILD_LIMIT);
    assert!(out.ok, "{}", out.describe("make install"));
    let mut got = tree(&dest.0);
    let want = install_layout();
    assert_eq!(got, want, "make install DESTDIR=...");
    assert_same_file(
        &dest.0.join("opt/cni/bin/meta-cni"),
        &target_dir().join("static/meta-cni"),
    );
    // The .deb is that layout plus the Debian-only files.
    let deb_only: BTreeMap<String, u32> = deb_layout()
        .into_iter()
        .filter(|(p, _)| !want.contains_key(p))
        .collect();
    got.extend(deb_only.clone());
    got.insert("./".to_string(), 0o755);
    assert_eq!(got, deb_layout());
    assert!(deb_only
        .keys()
        .all(|p| p == "./" || p.contains("changelog") || p.contains("lintian")));

    // PREFIX moves the docs, not the plugin: CNI runtimes look in /opt/cni/bin.
    let dest2 = TempDir::new("pkg-prefix");
    let d2 = format!("DESTDIR={}", dest2.0.display());
    let out = make(&["install", &d2, "PREFIX=/usr/local"], BUILD_LIMIT);
    assert!(out.ok, "{}", out.describe("make install PREFIX=/usr/local"));
    assert!(dest2.0.join("opt/cni/bin/meta-cni").is_file());
    assert!(dest2
        .0
        .join("usr/local/share/doc/meta-cni/README.md")
        .is_file());
    assert!(!dest2.0.join("usr/share").exists());
    assert!(!dest2.0.join("etc").exists());
}

#[test]
fn make_install_config_never_overwrites() {
    if built("make_install_config_never_overwrites").is_none() {
        return;
    }
    let dest = TempDir::new("pkg-config");
    let d = format!("DESTDIR={}", dest.0.display());
    let conf = dest.0.join("etc/cni/net.d/00-meta.example.conf");
    let out = make(&["install-config", &d], STEP_LIMIT);
    assert!(out.ok, "{}", out.describe("make install-config"));
    assert_same_file(&conf, &top().join("examples/00-meta.example.conf"));

    std::fs::write(&conf, b"{\"edited\": true}\n").expect("edit config");
    let out = make(&["install-config", &d], STEP_LIMIT);
    assert!(out.ok, "{}", out.describe("make install-config (again)"));
    assert!(out.stdout.contains("keeping existing"), "{}", out.stdout);
    assert_eq!(
        std::fs::read(&conf).expect("config"),
        b"{\"edited\": true}\n",
        "install-config overwrote an existing config"
    );
}

/// How many targets `bench/run` reports a verdict for.
const TARGETS: usize = 10;

/// The benchmark (`make bench`) keeps working: it builds what it needs,
/// runs every case and reports a verdict on every target. Three rounds, so
/// its figures mean nothing here and nothing is asserted about them.
#[test]
fn the_benchmark_runs_every_case_and_reports_every_target() {
    let Some(_) = built("the_benchmark_runs_every_case_and_reports_every_target") else {
        return;
    };
    let missing: Vec<&str> = ["gcc", "python3", "rustc"]
        .into_iter()
        .filter(|t| !which(t))
        .collect();
    if !missing.is_empty() {
        if std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1") {
            panic!("{REQUIRE_VAR}=1 but the benchmark cannot run: no {missing:?}");
        }
        eprintln!("\n!!!!! SKIPPED the benchmark test (no {missing:?}) !!!!!");
        return;
    }
    let _g = make_lock();
    let mut cmd = Command::new("python3");
    cmd.current_dir(top()).arg("bench/run").arg("3");
    for v in ["MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CARGO_MAKEFLAGS"] {
        cmd.env_remove(v);
    }
    let out = run(&mut cmd, b"", BUILD_LIMIT);
    assert!(out.ok, "{}", out.describe("bench/run 3"));
    for case in [
        "add3",
        "floor3",
        "rfloor3",
        "version",
        "tmpl1",
        "tmpl4",
        "tmpl16",
        "ips1",
        "ips64",
        "ips1024",
        "state+log",
        "metrics",
        "par4",
        "seq4",
        "par16",
    ] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(case)),
            "no row for {case}:\n{}",
            out.stdout
        );
    }
    let verdicts = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("MET ") || l.starts_with("MISS "))
        .count();
    assert_eq!(verdicts, TARGETS, "{}", out.stdout);
    assert!(
        out.stdout.contains("all targets met") != out.stdout.contains("some targets missed"),
        "{}",
        out.stdout
    );
}
