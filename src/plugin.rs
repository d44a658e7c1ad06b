//! One plugin invocation end to end: read stdin, check the environment, load
//! the config, dispatch the command, print exactly one JSON document.

use crate::config::{self, MetaConfig};
use crate::engine::Engine;
use crate::error::{code, CniError};
use crate::invoke::Invoker;
use crate::log::{LogLevel, Logger};
use crate::metrics::Invocation;
use crate::protocol::{parse_request, Command, Env, Request};
use crate::version::Version;
use std::io::{Read, Write};
use std::path::Path;

/// Largest config accepted on stdin.
pub const STDIN_CAP: u64 = 16 * 1024 * 1024;

/// What `meta-cni` prints when run by a person (no `CNI_COMMAND`).
pub fn about() -> String {
    format!(
        "meta-cni {}: a CNI meta-plugin that runs delegate plugins in pipelines\n\
         CNI protocol versions: {}\n\
         Run by a container runtime with CNI_COMMAND set; `meta-cni --help` for the tools.\n",
        env!("CARGO_PKG_VERSION"),
        Version::all_strings().join(", ")
    )
}

/// Run one invocation; returns the exit code (0 success, 1 CNI error).
pub fn run(env: &Env, stdin: &mut dyn Read, stdout: &mut dyn Write, invoker: &dyn Invoker) -> u8 {
    run_with(env, stdin, stdout, invoker, &Invocation::new())
}

/// [`run`], reporting what the invocation did into `metrics` (switched on
/// here when the config names a `metricsFile`; `meta-cni release` switches
/// it on to tell what the delegates did).
pub(crate) fn run_with(
    env: &Env,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    invoker: &dyn Invoker,
    metrics: &Invocation,
) -> u8 {
    if env.get("CNI_COMMAND").is_none() {
        let _ = std::io::stderr().write_all(about().as_bytes());
        return 0;
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        dispatch(env, stdin, invoker, metrics)
    }));
    let (version, result) = match outcome {
        Ok(v) => v,
        Err(_) => (
            Version::DEFAULT.as_str().to_string(),
            Err(CniError::new(
                code::INTERNAL,
                "meta-cni hit an internal error (a bug: please report it with the log)",
            )),
        ),
    };
    let (doc, code) = match result {
        Ok(Some(doc)) => (doc, 0),
        Ok(None) => return 0,
        Err(e) => (e.to_json(&version), 1),
    };
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    if stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return 1;
    }
    code
}

/// The version to answer in before the config is understood.
fn sniff_version(config: Option<&serde_json::Value>) -> String {
    config
        .and_then(|v| v.get("cniVersion")?.as_str())
        .filter(|v| Version::parse(v).is_some())
        .unwrap_or(Version::DEFAULT.as_str())
        .to_string()
}

type Reply = (String, Result<Option<serde_json::Value>, CniError>);

fn dispatch(env: &Env, stdin: &mut dyn Read, invoker: &dyn Invoker, metrics: &Invocation) -> Reply {
    let mut input = Vec::new();
    if let Err(e) = stdin.take(STDIN_CAP + 1).read_to_end(&mut input) {
        return (
            Version::DEFAULT.to_string(),
            Err(CniError::io(format!("cannot read stdin: {e}"))),
        );
    }
    if input.len() as u64 > STDIN_CAP {
        return (
            Version::DEFAULT.to_string(),
            Err(CniError::decode(format!(
                "config on stdin is larger than {} MiB",
                STDIN_CAP >> 20
            ))),
        );
    }
    // Parsed once: for the version of early error replies, and for loading.
    let parsed = config::parse_json(&input);
    let version = sniff_version(parsed.as_ref().ok());
    let req = match parse_request(env) {
        Ok(r) => r,
        Err(e) => {
            refused(parsed.as_ref().ok(), env, &e, metrics);
            return (version, Err(e));
        }
    };
    if req.command == Command::Version {
        return (version.clone(), Ok(Some(version_reply(&version))));
    }
    let conf = match parsed
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|v| load_config(v, req.command))
    {
        Ok(c) => c,
        Err(e) => {
            refused(parsed.as_ref().ok(), env, &e, metrics);
            return (version, Err(e));
        }
    };
    let version = conf.version.to_string();
    let log = logger(&conf, &req, names_no_delegates(parsed.as_ref().ok()));
    let metrics_file = metrics_file(&conf);
    if let Some(file) = metrics_file {
        metrics.switch_on();
        metrics.prepare(file, req.command.as_str());
    }
    let started = std::time::Instant::now();
    let out = execute(&conf, &req, env, invoker, &log, metrics);
    if let Some(file) = metrics_file {
        let code = out.as_ref().err().map_or(0, |e| e.code);
        metrics.write(file, req.command.as_str(), code, started.elapsed(), &log);
    }
    let took = || crate::invoke::fmt_duration(started.elapsed());
    match &out {
        Err(e) => log.error(
            "",
            format_args!("{} failed after {}: {e}", req.command, took()),
        ),
        // The whole operation's time, for the runtime-facing commands (not
        // STATUS, which runtimes poll).
        Ok(_)
            if log.enabled(LogLevel::Info)
                && matches!(
                    req.command,
                    Command::Add | Command::Del | Command::Check | Command::Gc
                ) =>
        {
            log.info("", format_args!("{} done in {}", req.command, took()));
        }
        Ok(_) => {}
    }
    (version, out)
}

/// The metrics file of a config that loaded.
fn metrics_file(conf: &MetaConfig) -> Option<&Path> {
    conf.metrics_file.as_deref()
}

/// A request refused before its config could be used is logged (see
/// [`log_refusal`]), and counted with its error code when the JSON names a
/// usable `metricsFile`.
fn refused(parsed: Option<&serde_json::Value>, env: &Env, e: &CniError, metrics: &Invocation) {
    log_refusal(parsed, env, e);
    let file = parsed
        .and_then(|v| v.get("metricsFile")?.as_str())
        .filter(|p| !p.contains('\0'))
        .map(Path::new)
        .filter(|p| p.is_absolute());
    let command = env
        .get("CNI_COMMAND")
        .and_then(|c| Command::parse(&c.to_string_lossy()))
        .filter(|c| *c != Command::Version);
    if let (Some(file), Some(command)) = (file, command) {
        metrics.switch_on();
        let log = Logger::stderr(LogLevel::Warn);
        metrics.write(
            file,
            command.as_str(),
            e.code,
            std::time::Duration::ZERO,
            &log,
        );
    }
}

/// A request refused before its config could be used (a bad environment
/// or config) is still logged: to the `logFile` the JSON names, if it
/// names one, else to stderr. Operators who watch the log file see why a
/// runtime's calls fail, not only the runtime. Not for STATUS: runtimes
/// poll it every few seconds, and report its error themselves.
fn log_refusal(parsed: Option<&serde_json::Value>, env: &Env, e: &CniError) {
    let var = |k: &str| {
        env.get(k)
            .map(|v| v.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    if var("CNI_COMMAND") == "STATUS" {
        return;
    }
    let file = parsed
        .and_then(|v| v.get("logFile")?.as_str())
        .filter(|p| !p.is_empty() && !p.contains('\0'))
        .map(Path::new);
    let log = open_logger(
        LogLevel::Error,
        (&var("CNI_COMMAND"), &var("CNI_CONTAINERID")),
        file,
        config::DEFAULT_LOG_MAX_BYTES,
    );
    log.error("", format_args!("refused: {e}"));
}

/// A logger with the request's context, to `file` when given and it
/// opens, else (saying why) to stderr.
fn open_logger(
    level: LogLevel,
    (command, container_id): (&str, &str),
    file: Option<&Path>,
    max_bytes: u64,
) -> Logger {
    let mut log = Logger::stderr(level);
    log.set_context(command, container_id);
    if let Some(path) = file {
        if let Err(why) = log.write_to_file(path, max_bytes) {
            log.warn("", format_args!("{why}; logging to stderr"));
        }
    }
    log
}

/// The config of this request. A DEL must still undo what ADD did when the
/// config was broken since: with the attachment's record it needs no more
/// than where that record is, so a DEL gets a config without pipelines
/// (`broken` set) when only that much can be read.
fn load_config(value: &serde_json::Value, command: Command) -> Result<MetaConfig, CniError> {
    config::load_value(value).or_else(|e| match command {
        Command::Del => config::load_for_cleanup(value)
            .map(|c| MetaConfig {
                broken: Some(e.clone()),
                ..c
            })
            .ok_or(e),
        _ => Err(e),
    })
}

/// `{"cniVersion": <input>, "supportedVersions": [...]}`.
pub fn version_reply(version: &str) -> serde_json::Value {
    serde_json::json!({
        "cniVersion": version,
        "supportedVersions": Version::all_strings(),
    })
}

/// Whether the config names neither `delegates` nor `pipelines`: one that
/// only says where the records are (`meta-cni release` sends such a
/// config), so a DEL of it can only replay the attachment's record.
fn names_no_delegates(parsed: Option<&serde_json::Value>) -> bool {
    parsed.is_some_and(|v| v.get("delegates").is_none() && v.get("pipelines").is_none())
}

fn logger(conf: &MetaConfig, req: &Request, record_only: bool) -> Logger {
    let log = open_logger(
        conf.log_level,
        (req.command.as_str(), &req.container_id),
        conf.log_file.as_deref(),
        conf.log_max_bytes,
    );
    for w in &conf.warnings {
        log.warn("", format_args!("config: {w}"));
    }
    if conf.broken.is_some() && record_only {
        log.info(
            "",
            format_args!("the config names no delegates: DEL replays the attachment's record"),
        );
    } else if let Some(e) = &conf.broken {
        log.warn(
            "",
            format_args!(
                "config does not load ({}); DEL can only use the attachment's record",
                e.msg
            ),
        );
    }
    log
}

fn execute(
    conf: &MetaConfig,
    req: &Request,
    env: &Env,
    invoker: &dyn Invoker,
    log: &Logger,
    metrics: &Invocation,
) -> Result<Option<serde_json::Value>, CniError> {
    let engine = Engine::new(conf, req, env, invoker, log, metrics);
    match req.command {
        Command::Add => engine.add().map(|r| {
            engine.note_losses("", &r, conf.version, "the runtime");
            Some(r.to_json(conf.version))
        }),
        Command::Del => engine.del().map(|()| None),
        Command::Check => engine.check().map(|()| None),
        Command::Status => engine.status().map(|()| None),
        Command::Gc => engine.gc().map(|()| None),
        Command::Version => Ok(Some(version_reply(conf.version.as_str()))),
    }
}
