//! `meta-cni` run by a person: `--version`, `--help`, and `validate`, which
//! checks a config the way the plugin would read it and then checks the
//! node: the paths it names can be trusted (docs/security.md), and each
//! delegate binary is in the CNI path, executable, and speaks the version it
//! will be called with.

use crate::config::{self, MetaConfig, PipelineSpec, Target};
use crate::invoke::{self, Call, ChildEnv, Invoker, ProcessInvoker};
use crate::log::{LogLevel, Logger};
use crate::plan::{EnvDelta, Label, Planner, Sample};
use crate::protocol::{Command, Request};
use crate::trust::{self, Dir, Last};
use crate::version::{supported_versions, Version};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

const USAGE: &str = "\
usage: meta-cni                          (run by a container runtime, with CNI_COMMAND set)
       meta-cni validate [--cni-path DIRS] [--runtime-deadline SECS] FILE...
       meta-cni attachments [--state-dir DIR] [--network NAME] [--json]
       meta-cni release --network NAME --container ID [--ifname IF] [--state-dir DIR] [--timeout SECS]
       meta-cni gc --network NAME --valid FILE [--dry-run] [--min-age SECS] [--state-dir DIR] [--timeout SECS]
       meta-cni --version | --help

validate   read each FILE (.conf, or a .conflist holding a meta-cni plugin) as the
           plugin would, then check every delegate: found and executable in DIRS
           (default: $CNI_PATH, else /opt/cni/bin), and speaking the CNI version it
           will be called with (its VERSION); and the paths it names, as meta-cni
           would trust them (docs/security.md): an untrusted stateDir is a problem,
           an untrusted logFile or metricsFile a warning (run it as root, as the
           runtime runs meta-cni). Prints a report; exits 1 on any problem.
           --runtime-deadline: the deadline the runtime gives a network operation
           (CraneSched's CRI calls: 5); timeoutSeconds must be below it so that
           meta-cni's own rollback runs instead of the runtime's kill.
attachments
           list every attachment record under DIR (default /var/lib/cni/meta-cni):
           network, container, interfaces, pipelines and delegates, when ADD wrote
           it, and its state: completed, in-flight (a delegate of a killed
           meta-cni still runs), interrupted (meta-cni was killed) or failed (a
           DEL or a rollback failed and kept it). Reads only, takes no lock.
           --json: one JSON object per line.
release    run the DEL a record describes, as a runtime's DEL would (same lock,
           time limit, replay; delegates a killed meta-cni left running ended
           first), for one interface or every record of the container. Prints
           each delegate's outcome; exits 0 when nothing is left.
gc         release every record of the network that FILE (`-`: stdin) does not
           list; a line is `containerID ifname`, or a containerID alone for all
           its interfaces; # starts a comment. --dry-run lists what it would
           release. --min-age SECS leaves records younger than that (made after
           the list, perhaps). Delegates get no GC of their own from this command.
           docs/troubleshooting.md walks a leak through these commands.
";

/// Run the command line; returns the exit code.
pub(crate) fn run(args: &[OsString], out: &mut String) -> u8 {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match args.first().map(String::as_str) {
        Some("--version" | "-V" | "version") => {
            let _ = writeln!(
                out,
                "meta-cni {} (CNI {})",
                env!("CARGO_PKG_VERSION"),
                Version::all_strings().join(", ")
            );
            0
        }
        Some("--help" | "-h" | "help") => {
            out.push_str(&crate::plugin::about());
            out.push('\n');
            out.push_str(USAGE);
            0
        }
        Some("validate") => validate_cmd(&args[1..], out),
        _ => {
            out.push_str(USAGE);
            2
        }
    }
}

/// What `validate` checks a config against.
struct Node {
    cni_path: String,
    /// The runtime's own deadline for one operation, if given.
    runtime_deadline: Option<Duration>,
}

fn validate_cmd(args: &[String], out: &mut String) -> u8 {
    let mut cni_path = std::env::var("CNI_PATH").ok().filter(|p| !p.is_empty());
    let mut runtime_deadline = None;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        if flag == "--runtime-deadline" {
            let Some(v) = inline.or_else(|| it.next().cloned()) else {
                out.push_str("validate: --runtime-deadline needs a value (seconds)\n");
                return 2;
            };
            match v.parse::<f64>() {
                Ok(secs) if secs.is_finite() && secs > 0.0 => {
                    runtime_deadline = Some(Duration::from_secs_f64(secs.min(1e9)));
                }
                _ => {
                    let _ = writeln!(
                        out,
                        "validate: --runtime-deadline {v:?} is not a positive number of seconds"
                    );
                    return 2;
                }
            }
            continue;
        }
        match a.as_str() {
            "--cni-path" => match it.next() {
                Some(p) => cni_path = Some(p.clone()),
                None => {
                    out.push_str("validate: --cni-path needs a value\n");
                    return 2;
                }
            },
            s if s.starts_with("--cni-path=") => {
                cni_path = Some(s["--cni-path=".len()..].to_string())
            }
            s if s.starts_with('-') => {
                let _ = writeln!(out, "validate: unknown option {s}\n{USAGE}");
                return 2;
            }
            f => files.push(f.to_string()),
        }
    }
    if files.is_empty() {
        out.push_str(USAGE);
        return 2;
    }
    let node = Node {
        cni_path: cni_path.unwrap_or_else(|| "/opt/cni/bin".to_string()),
        runtime_deadline,
    };
    let mut problems = 0;
    for f in &files {
        problems += validate_file(f, &node, out);
    }
    let _ = writeln!(
        out,
        "{}",
        match problems {
            0 => "no problems found".to_string(),
            1 => "1 problem found".to_string(),
            n => format!("{n} problems found"),
        }
    );
    u8::from(problems > 0)
}

/// Validate one file; returns the number of problems.
fn validate_file(path: &str, node: &Node, out: &mut String) -> usize {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            let _ = writeln!(out, "{path}: PROBLEM: cannot read: {e}");
            return 1;
        }
    };
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            let _ = writeln!(out, "{path}: PROBLEM: not valid JSON: {e}");
            return 1;
        }
    };
    // A .conflist: check each plugin that is a meta config, with the name and
    // cniVersion libcni would give it.
    if let Some(plugins) = value.get("plugins").and_then(Value::as_array) {
        let mut problems = 0;
        let mut metas = 0;
        for (i, p) in plugins.iter().enumerate() {
            let Some(obj) = p.as_object() else { continue };
            if !obj.contains_key("delegates") && !obj.contains_key("pipelines") {
                let _ = writeln!(
                    out,
                    "{path}: plugins[{i}] ({}) is not a meta-cni config: not checked",
                    obj.get("type").and_then(Value::as_str).unwrap_or("?")
                );
                continue;
            }
            metas += 1;
            let mut obj = obj.clone();
            for k in ["name", "cniVersion"] {
                if let Some(v) = value.get(k) {
                    obj.insert(k.into(), v.clone());
                }
            }
            let label = format!("{path} plugins[{i}]");
            problems += validate_config(
                &label,
                &Value::Object(obj).to_string().into_bytes(),
                node,
                out,
            );
        }
        if metas == 0 {
            let _ = writeln!(
                out,
                "{path}: PROBLEM: no plugin in this list has delegates or pipelines"
            );
            problems += 1;
        }
        return problems;
    }
    validate_config(path, &bytes, node, out)
}

fn validate_config(label: &str, bytes: &[u8], node: &Node, out: &mut String) -> usize {
    let conf = match config::load_checked(bytes) {
        Ok(c) => c,
        Err(r) => {
            let _ = writeln!(out, "{label}: invalid config (CNI error code {}):", r.code);
            for p in &r.problems {
                let _ = writeln!(out, "  PROBLEM: {p}");
            }
            for w in &r.warnings {
                let _ = writeln!(out, "  warning: {w}");
            }
            return r.problems.len();
        }
    };
    let shape = if conf.multi {
        format!("{} pipeline(s)", conf.pipelines.len())
    } else {
        format!("delegates, resultMode {}", conf.pipelines[0].mode)
    };
    let _ = writeln!(
        out,
        "{label}: network {:?}, cniVersion {}, {shape}",
        conf.name, conf.version
    );
    let mut report = Report { out, problems: 0 };
    for w in conf
        .warnings
        .iter()
        .cloned()
        .chain(capability_warnings(&conf))
        .chain(name_collision_warnings(&conf))
        .chain(deadline_warnings(&conf, node.runtime_deadline))
        .chain(parallel_warnings(&conf))
    {
        report.line(false, format!("warning: {w}"));
    }
    check_paths(&conf, &mut report);
    // The delegates as ADD would plan them, for a request with CNI_PATH
    // as given: overrides, templates and lookup all go the same way.
    let req = Request {
        command: Command::Add,
        container_id: "validate".into(),
        netns: Some("/var/run/netns/validate".into()),
        ifname: "eth0".into(),
        args: None,
        path: node.cni_path.clone(),
    };
    let quiet = Logger::stderr(LogLevel::Error);
    let planner = Planner::new(&conf, &req, &quiet);
    let mut versions = BTreeMap::new();
    for spec in &conf.pipelines {
        for sample in planner.sample(spec) {
            check_delegate(&mut report, spec, &sample, &mut versions);
        }
    }
    report.problems
}

/// The lines of one config's report, counting problems.
struct Report<'o> {
    out: &'o mut String,
    problems: usize,
}

impl Report<'_> {
    fn line(&mut self, problem: bool, line: String) {
        self.problems += usize::from(problem);
        self.out.push_str("  ");
        self.out.push_str(if problem { "PROBLEM: " } else { "" });
        self.out.push_str(&line);
        self.out.push('\n');
    }
}

/// The paths the config names, checked as meta-cni would trust them (see
/// [`crate::trust`]): the state directory (a problem: ADD fails, DEL and
/// CHECK replay nothing from it), its network directory and the state files
/// in it; the log and metrics files and their directories (warnings:
/// meta-cni goes on without them).
fn check_paths(conf: &MetaConfig, report: &mut Report<'_>) {
    if conf.attachment_state {
        for (untrusted, why) in state_dir_problems(&conf.state_dir, &conf.name) {
            if untrusted {
                report.line(true, format!("stateDir: {why} (docs/security.md)"));
            } else {
                report.line(false, format!("warning: stateDir: {why}"));
            }
        }
    }
    if let Some(path) = &conf.log_file {
        for why in file_problems(path, &[]) {
            report.line(
                false,
                format!(
                    "warning: logFile: {why}: meta-cni logs to stderr instead (docs/security.md)"
                ),
            );
        }
    }
    if let Some(path) = &conf.metrics_file {
        for why in file_problems(path, &[".lock", ".pending"]) {
            report.line(
                false,
                format!(
                    "warning: metricsFile: {why}: meta-cni keeps no metrics (docs/security.md)"
                ),
            );
        }
    }
}

/// Why `state_dir` (the part of it that exists), the network's directory
/// in it and the state files there would not be trusted, with what
/// meta-cni does then (`true`), or could not be checked (`false`: run as
/// another user than root, say). Missing directories are fine: meta-cni
/// makes them, 0700.
fn state_dir_problems(state_dir: &Path, network: &str) -> Vec<(bool, String)> {
    let says = |e: trust::Error, then: &str| {
        if e.untrusted() {
            (true, format!("{e}: {then}"))
        } else {
            (
                false,
                format!("cannot check it (run validate as root): {e}"),
            )
        }
    };
    let refused = "ADD fails (code 7); DEL, CHECK and GC replay nothing from it";
    match Dir::open(state_dir, false, Last::Shared) {
        Ok(Some(_)) => {}
        Ok(None) => return Vec::new(),
        Err(e) => return vec![says(e, refused)],
    }
    let dir = match Dir::open(&state_dir.join(network), false, Last::Private) {
        Ok(Some(d)) => d,
        Ok(None) => return Vec::new(),
        Err(e) => return vec![says(e, refused)],
    };
    let mut names: Vec<OsString> = match std::fs::read_dir(dir.path()) {
        Ok(entries) => entries.flatten().map(|e| e.file_name()).collect(),
        Err(e) => return vec![(false, format!("cannot list {}: {e}", dir.path().display()))],
    };
    names.sort();
    names
        .iter()
        .filter_map(|n| Some((n, state_file(n)?)))
        .filter_map(|(n, then)| dir.check_entry(n, false).err().map(|e| says(e, then)))
        .collect()
}

/// What meta-cni does when the file `name` of a network's directory is
/// not trusted; `None` for a file it does not open.
fn state_file(name: &OsStr) -> Option<&'static str> {
    let n = name.to_string_lossy();
    match n.strip_prefix('.') {
        Some(rest) if rest.ends_with(".lock") => {
            Some("ADD of that attachment fails (code 7), its DEL uses the config without state")
        }
        Some(rest) if rest.starts_with("spare.") || rest.starts_with("lockspare.") => {
            Some("not reused (removed when next taken)")
        }
        Some(_) => None,
        None if n.ends_with(".json") => {
            Some("never replayed: DEL, CHECK and GC use the config, and leave it in place")
        }
        None => None,
    }
}

/// Why the file at `path` (others may read it, never write it) and the
/// private files named `path` + each of `private` (a lock file: 0600)
/// would not be trusted: its directory, then each file that exists.
fn file_problems(path: &Path, private: &[&str]) -> Vec<String> {
    let (dir, name) = match trust::parent_of(path) {
        Ok(d) => d,
        Err(e) if e.untrusted() => return vec![e.to_string()],
        Err(e) => return vec![format!("cannot use it: {e}")],
    };
    let mut names = vec![(name.to_os_string(), true)];
    for s in private {
        let mut n = name.to_os_string();
        n.push(s);
        names.push((n, false));
    }
    names
        .iter()
        .filter_map(|(n, shared)| dir.check_entry(n, *shared).err())
        .map(|e| e.to_string())
        .collect()
}

/// Each plugin binary's `supportedVersions` (or why there are none).
type Versions = BTreeMap<String, Result<Vec<String>, String>>;

/// One delegate: its config renders, its binary is where ADD would look
/// (executable), and it speaks the version it will be called with.
fn check_delegate(
    report: &mut Report<'_>,
    spec: &PipelineSpec,
    sample: &Sample<'_>,
    versions: &mut Versions,
) {
    let d = sample.spec;
    let ifname = match &spec.target {
        Target::Request => None,
        Target::Static(n) => Some(n.clone()),
        Target::Template(pre) => Some(format!("{pre}N")),
    };
    let label = Label {
        pipeline: &spec.name,
        delegate: &d.name,
    };
    let who = label.describe(ifname.as_deref(), &d.plugin);
    if let Some(e) = &sample.conf {
        let why = e.msg.split_once(": ").map_or(e.msg.as_str(), |(_, w)| w);
        report.line(true, format!("{who}: {why}"));
    }
    let env = match &sample.env {
        Ok(env) => env,
        Err(e) => return report.line(true, format!("{who}: {}", e.msg)),
    };
    let dirs = env.get("CNI_PATH").unwrap_or("");
    let found = match invoke::find(&d.plugin, dirs) {
        Ok(f) => f,
        Err(f) => return report.line(true, format!("{who}: {f}")),
    };
    if !std::fs::metadata(&found).is_ok_and(|m| m.permissions().mode() & 0o111 != 0) {
        return report.line(
            true,
            format!("{who}: {} is not executable", found.display()),
        );
    }
    let supported = versions
        .entry(found.display().to_string())
        .or_insert_with(|| plugin_versions(&d.plugin, env, d.version));
    let at = found.display();
    match supported {
        Err(e) => report.line(true, format!("{who}: {at} does not answer VERSION: {e}")),
        Ok(list) if list.iter().any(|v| v == d.version.as_str()) => {
            report.line(false, format!("{who}: ok ({at}, cniVersion {})", d.version));
        }
        Ok(list) => {
            let best = list.iter().filter_map(|v| v.parse::<Version>().ok()).max();
            let line = match best {
                // The call would still work, but only after the delegate
                // refused it once, on every call: a problem.
                Some(b) => format!(
                    "{who}: {at} does not speak cniVersion {} (it speaks {}): every call would be refused once before meta-cni falls back to {b}; set conf.cniVersion to {b}",
                    d.version,
                    list.join(", ")
                ),
                None => format!(
                    "{who}: {at} speaks [{}], none of which meta-cni speaks",
                    list.join(", ")
                ),
            };
            report.line(true, line);
        }
    }
}

/// Capabilities delegates declare that the meta config does not: the
/// runtime only passes `runtimeConfig` keys the config it loaded declares.
fn capability_warnings(conf: &MetaConfig) -> Vec<String> {
    let top: BTreeSet<String> = conf
        .capabilities
        .iter()
        .filter(|(_, v)| v.as_bool() == Some(true))
        .map(|(k, _)| k.clone())
        .collect();
    let mut missing = BTreeSet::new();
    for d in conf.pipelines.iter().flat_map(|p| &p.delegates) {
        if let Some(caps) = d.conf.get("capabilities").and_then(Value::as_object) {
            for (k, v) in caps {
                if v.as_bool() == Some(true) && !top.contains(k) {
                    missing.insert(k.clone());
                }
            }
        }
    }
    let mut out = Vec::new();
    if !missing.is_empty() {
        out.push(format!(
            "delegates declare capabilities {} that the meta config does not: add them to its top-level \"capabilities\" or the runtime will not pass them",
            missing.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if conf
        .pipelines
        .iter()
        .any(|p| matches!(p.target, Target::Template(_)))
        && !top.contains("io.kubernetes.cri.pod-annotations")
    {
        out.push("template pipelines need the capability io.kubernetes.cri.pod-annotations at the top level, or no GRES annotation reaches meta-cni".to_string());
    }
    out
}

/// Plugins that name host state after (network name, container ID), so two
/// of them with one network name in one attachment share (and break) it.
const KEYED_BY_NETWORK_NAME: &[(&str, &str)] = &[
    ("bandwidth", "its ifb device"),
    ("portmap", "its iptables chains"),
    ("firewall", "its iptables chains"),
];

/// Delegates that would collide on host state in one attachment: a keyed
/// plugin in a template pipeline whose network name is the same in every
/// instance, or two of one keyed plugin with one network name.
fn name_collision_warnings(conf: &MetaConfig) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<(&str, &str), String> = BTreeMap::new();
    for p in &conf.pipelines {
        for d in &p.delegates {
            let Some(what) = KEYED_BY_NETWORK_NAME
                .iter()
                .find(|(plugin, _)| *plugin == d.plugin)
                .map(|(_, what)| *what)
            else {
                continue;
            };
            let net = d
                .conf
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(&d.name);
            let fixed = !net.contains("{{");
            let label = Label {
                pipeline: &p.name,
                delegate: &d.name,
            }
            .to_string();
            if fixed && matches!(p.target, Target::Template(_)) {
                out.push(format!(
                    "{label} ({}) has the network name {net:?} in every instance of the template pipeline, and {} names {what} after the network name and container: a second instance collides with the first. Make the name differ per instance, e.g. \"name\": \"{net}-{{{{.Gres.Index}}}}\"",
                    d.plugin, d.plugin
                ));
            }
            if fixed {
                match seen.entry((d.plugin.as_str(), net)) {
                    std::collections::btree_map::Entry::Occupied(first) => out.push(format!(
                        "{} and {label} are both {} with the network name {net:?}; {} names {what} after the network name and container, so they collide. Give them different names",
                        first.get(), d.plugin, d.plugin
                    )),
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(label);
                    }
                }
            }
        }
    }
    out
}

/// With `parallelPipelines`, host state that two pipelines (or two
/// instances of a template pipeline) would change at the same time: one
/// bridge, or one host-local range in one `dataDir`. A value with a
/// template in it is taken to differ per instance.
fn parallel_warnings(conf: &MetaConfig) -> Vec<String> {
    if !conf.parallel_pipelines || conf.pipelines.len() + templates(conf) < 2 {
        return Vec::new();
    }
    let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &conf.pipelines {
        let template = matches!(p.target, Target::Template(_));
        for d in &p.delegates {
            let who = Label {
                pipeline: &p.name,
                delegate: &d.name,
            }
            .to_string();
            for key in shared_state(&d.conf) {
                let per_instance = key.contains("{{");
                let list = users.entry(key).or_default();
                list.push(who.clone());
                if template && !per_instance {
                    list.push(format!("{who} (another instance)"));
                }
            }
        }
    }
    users
        .into_iter()
        .filter(|(key, who)| who.len() > 1 && !key.contains("{{"))
        .map(|(key, who)| {
            format!(
                "parallelPipelines: {} run at once and all use {key}: they change it at the same time; give each its own, or run the pipelines in order",
                who.join(", ")
            )
        })
        .collect()
}

fn templates(conf: &MetaConfig) -> usize {
    conf.pipelines
        .iter()
        .filter(|p| matches!(p.target, Target::Template(_)))
        .count()
}

/// The host state a delegate's conf names: its bridge, its host-local
/// range and `dataDir`.
fn shared_state(conf: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    if text(conf.get("type")).as_deref() == Some("bridge") {
        let bridge = text(conf.get("bridge")).unwrap_or_else(|| "cni0".into());
        out.push(format!("bridge {bridge:?}"));
    }
    let ipam = conf.get("ipam").and_then(Value::as_object);
    if let Some(ipam) = ipam.filter(|i| text(i.get("type")).as_deref() == Some("host-local")) {
        let dir = text(ipam.get("dataDir")).unwrap_or_else(|| "/var/lib/cni/networks".into());
        let range = ipam
            .get("ranges")
            .or_else(|| ipam.get("subnet"))
            .map(Value::to_string)
            .unwrap_or_default();
        out.push(format!("host-local range {range} in {dir:?}"));
    }
    out
}

/// `timeoutSeconds` against the runtime's deadline: a runtime whose
/// deadline passes first kills meta-cni, so its rollback never runs (the
/// runtime's DEL then ends what was in flight and undoes the rest).
fn deadline_warnings(conf: &MetaConfig, runtime: Option<Duration>) -> Vec<String> {
    let secs = |d: Duration| format!("{}s", d.as_secs_f64());
    match (conf.timeout, runtime) {
        (None, Some(r)) => vec![format!(
            "timeoutSeconds is not set: an operation has no deadline of its own, and the runtime's {} kills meta-cni in the middle of it; set it below {}",
            secs(r), secs(r)
        )],
        (None, None) => vec![
            "timeoutSeconds is not set: an operation has no deadline of its own, so a hanging delegate is stopped only by the runtime's deadline, which kills meta-cni before it can roll back; set it below the runtime's (CraneSched: 5s; --runtime-deadline checks it)".to_string(),
        ],
        (Some(t), Some(r)) if t >= r => vec![format!(
            "timeoutSeconds ({}) is not below the runtime's deadline ({}): the runtime kills meta-cni before meta-cni gives up and rolls back; set it below {}",
            secs(t), secs(r), secs(r)
        )],
        (Some(t), Some(r)) if t * 2 > r => vec![format!(
            "timeoutSeconds ({}) leaves less than itself of the runtime's deadline ({}) for a rollback, which gets a fresh timeoutSeconds: a slow rollback is cut by the runtime's kill and finished by its DEL",
            secs(t), secs(r)
        )],
        _ => Vec::new(),
    }
}

/// The plugin's `supportedVersions`, asked as ADD's delegate would be run
/// (its environment, its lookup path).
fn plugin_versions(plugin: &str, env: &EnvDelta, version: Version) -> Result<Vec<String>, String> {
    let inherited = ChildEnv::inherited(&std::env::vars_os().collect::<Vec<_>>());
    let stdin = format!("{{\"cniVersion\":\"{version}\"}}");
    let call = Call {
        plugin,
        cni_path: env.get("CNI_PATH").unwrap_or(""),
        env: env.environment(&inherited, "VERSION"),
        stdin: stdin.as_bytes(),
        limit: Some(Duration::from_secs(5)),
    };
    let out = ProcessInvoker.invoke(&call).map_err(|f| f.to_string())?;
    supported_versions(&out.stdout)
}
