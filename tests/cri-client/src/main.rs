//! `cri-client`: a small CRI v1 client over a unix socket, for tests that
//! drive containerd's CRI plugin the way a kubelet or CraneSched's Craned
//! does.
//!
//! ```text
//! cri-client --socket SOCK [--timeout-ms MS] COMMAND [ARGS]
//!   version                  runtime name and version (JSON)
//!   status                   runtime conditions (JSON), e.g. NetworkReady
//!   run-pod SPEC.json        RunPodSandbox; prints the pod sandbox id
//!   stop-pod ID              StopPodSandbox
//!   remove-pod ID            RemovePodSandbox
//!   pod-status ID            PodSandboxStatus, verbose (JSON: state, ips, netns, info)
//!   list-pods                ListPodSandbox (JSON array)
//! ```
//!
//! `--timeout-ms` (default 5000, Craned's deadline) is a real gRPC deadline:
//! it travels as the `grpc-timeout` header, so the runtime's request context
//! ends when it passes (that is what makes containerd kill a CNI plugin still
//! running), and the client gives up at the same time. Connecting has its own
//! limit of the same length.
//!
//! Exit status: 0 on success; 2 when the call failed, with
//! `grpc error: code=<Code> message=<message>` on stderr (a deadline that
//! passed is `code=DeadlineExceeded`, as a Go client reports it, whichever
//! side noticed first); 1 for usage, spec or connection errors.

use k8s_cri::v1 as cri;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint, Uri};

const USAGE: &str = "usage: cri-client --socket SOCK [--timeout-ms MS] \
(version | status | run-pod SPEC.json | stop-pod ID | remove-pod ID | pod-status ID | list-pods)";

/// A failure and the exit code it maps to.
enum Fail {
    /// Usage, spec file, connection: exit 1.
    Local(String),
    /// The runtime answered with an error status (or the deadline passed):
    /// exit 2.
    Grpc(tonic::Status),
}

impl From<tonic::Status> for Fail {
    fn from(s: tonic::Status) -> Fail {
        Fail::Grpc(s)
    }
}

struct Args {
    socket: String,
    timeout: Duration,
    command: String,
    operand: Option<String>,
}

fn parse_args() -> Result<Args, Fail> {
    let mut socket = None;
    let mut timeout = Duration::from_millis(5000);
    let mut rest = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--socket" => socket = it.next(),
            "--timeout-ms" => {
                let v = it.next().unwrap_or_default();
                let ms: u64 = v
                    .parse()
                    .map_err(|_| Fail::Local(format!("--timeout-ms: not a number: {v:?}")))?;
                timeout = Duration::from_millis(ms);
            }
            "-h" | "--help" => return Err(Fail::Local(USAGE.to_string())),
            _ => rest.push(a),
        }
    }
    let socket = socket.ok_or_else(|| Fail::Local(format!("--socket is required\n{USAGE}")))?;
    let mut rest = rest.into_iter();
    let command = rest.next().ok_or_else(|| Fail::Local(USAGE.to_string()))?;
    let operand = rest.next();
    if let Some(extra) = rest.next() {
        return Err(Fail::Local(format!(
            "unexpected argument {extra:?}\n{USAGE}"
        )));
    }
    Ok(Args {
        socket,
        timeout,
        command,
        operand,
    })
}

/// The pod a test asks for: the parts of `PodSandboxConfig` a runtime
/// client sets, with defaults for everything left out.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct PodSpec {
    name: String,
    namespace: String,
    uid: String,
    attempt: u32,
    hostname: String,
    log_directory: String,
    labels: HashMap<String, String>,
    annotations: HashMap<String, String>,
    port_mappings: Vec<PortSpec>,
    dns: Option<DnsSpec>,
    /// `LinuxPodSandboxConfig.cgroup_parent`.
    cgroup_parent: String,
    /// `LinuxPodSandboxConfig.sysctls`.
    sysctls: HashMap<String, String>,
    /// The sandbox's network namespace: `pod` (default, CNI runs) or `node`.
    network: Option<String>,
    runtime_handler: String,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct PortSpec {
    /// `tcp` (default), `udp` or `sctp`.
    protocol: Option<String>,
    container_port: i32,
    host_port: i32,
    host_ip: String,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct DnsSpec {
    servers: Vec<String>,
    searches: Vec<String>,
    options: Vec<String>,
}

fn sandbox_config(spec: PodSpec) -> Result<cri::PodSandboxConfig, Fail> {
    let mut ports = Vec::new();
    for p in spec.port_mappings {
        let protocol = match p.protocol.as_deref().unwrap_or("tcp") {
            "tcp" | "TCP" => cri::Protocol::Tcp,
            "udp" | "UDP" => cri::Protocol::Udp,
            "sctp" | "SCTP" => cri::Protocol::Sctp,
            other => return Err(Fail::Local(format!("unknown protocol {other:?}"))),
        };
        ports.push(cri::PortMapping {
            protocol: protocol as i32,
            container_port: p.container_port,
            host_port: p.host_port,
            host_ip: p.host_ip,
        });
    }
    let network = match spec.network.as_deref().unwrap_or("pod") {
        "pod" => cri::NamespaceMode::Pod,
        "node" => cri::NamespaceMode::Node,
        other => return Err(Fail::Local(format!("unknown network mode {other:?}"))),
    };
    Ok(cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: spec.name,
            uid: spec.uid,
            namespace: spec.namespace,
            attempt: spec.attempt,
        }),
        hostname: spec.hostname,
        log_directory: spec.log_directory,
        dns_config: spec.dns.map(|d| cri::DnsConfig {
            servers: d.servers,
            searches: d.searches,
            options: d.options,
        }),
        port_mappings: ports,
        labels: spec.labels,
        annotations: spec.annotations,
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: spec.cgroup_parent,
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: network as i32,
                    pid: cri::NamespaceMode::Pod as i32,
                    ipc: cri::NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            sysctls: spec.sysctls,
            ..Default::default()
        }),
        ..Default::default()
    })
}

async fn connect(socket: &str, limit: Duration) -> Result<Channel, Fail> {
    let path = socket.to_string();
    // The URI is required by the API but unused: every connection goes to
    // the unix socket.
    Endpoint::from_static("http://[::]:50051")
        .connect_timeout(limit)
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
        .map_err(|e| Fail::Local(format!("cannot connect to {socket}: {e}")))
}

/// A request carrying the deadline as `grpc-timeout`.
fn req<T>(msg: T, timeout: Duration) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.set_timeout(timeout);
    r
}

fn operand(args: &Args, what: &str) -> Result<String, Fail> {
    args.operand
        .clone()
        .ok_or_else(|| Fail::Local(format!("{} needs {what}\n{USAGE}", args.command)))
}

fn state_name(s: i32) -> &'static str {
    match cri::PodSandboxState::try_from(s) {
        Ok(cri::PodSandboxState::SandboxReady) => "ready",
        Ok(cri::PodSandboxState::SandboxNotready) => "notready",
        Err(_) => "unknown",
    }
}

/// The verbose `info` map with each value parsed as JSON where it is JSON,
/// and the sandbox's network namespace path pulled out of containerd's
/// runtime spec (`info.info.runtimeSpec.linux.namespaces[type=network]`).
fn info_and_netns(info: HashMap<String, String>) -> (Value, Option<String>) {
    let mut out = Map::new();
    for (k, v) in info {
        let parsed = serde_json::from_str::<Value>(&v).unwrap_or(Value::String(v));
        out.insert(k, parsed);
    }
    let netns = out
        .get("info")
        .and_then(|i| i.pointer("/runtimeSpec/linux/namespaces"))
        .and_then(Value::as_array)
        .and_then(|nss| {
            nss.iter()
                .find(|n| n["type"] == "network")
                .and_then(|n| n["path"].as_str())
                .map(str::to_string)
        });
    (Value::Object(out), netns)
}

async fn run(args: &Args) -> Result<(), Fail> {
    let channel = connect(&args.socket, args.timeout).await?;
    let mut c = RuntimeServiceClient::new(channel);
    let t = args.timeout;
    match args.command.as_str() {
        "version" => {
            let v = c
                .version(req(
                    cri::VersionRequest {
                        version: "v1".to_string(),
                    },
                    t,
                ))
                .await?
                .into_inner();
            println!(
                "{}",
                json!({"version": v.version, "runtime_name": v.runtime_name,
                       "runtime_version": v.runtime_version,
                       "runtime_api_version": v.runtime_api_version})
            );
        }
        "status" => {
            let s = c
                .status(req(cri::StatusRequest { verbose: false }, t))
                .await?
                .into_inner();
            let conds: Vec<Value> = s
                .status
                .map(|s| s.conditions)
                .unwrap_or_default()
                .into_iter()
                .map(|c| {
                    json!({"type": c.r#type, "status": c.status,
                           "reason": c.reason, "message": c.message})
                })
                .collect();
            println!("{}", json!({ "conditions": conds }));
        }
        "run-pod" => {
            let path = operand(args, "a spec file")?;
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Fail::Local(format!("cannot read {path}: {e}")))?;
            let spec: PodSpec = serde_json::from_str(&text)
                .map_err(|e| Fail::Local(format!("bad pod spec {path}: {e}")))?;
            let runtime_handler = spec.runtime_handler.clone();
            let config = sandbox_config(spec)?;
            let r = c
                .run_pod_sandbox(req(
                    cri::RunPodSandboxRequest {
                        config: Some(config),
                        runtime_handler,
                    },
                    t,
                ))
                .await?
                .into_inner();
            println!("{}", r.pod_sandbox_id);
        }
        "stop-pod" => {
            let id = operand(args, "a pod sandbox id")?;
            c.stop_pod_sandbox(req(cri::StopPodSandboxRequest { pod_sandbox_id: id }, t))
                .await?;
        }
        "remove-pod" => {
            let id = operand(args, "a pod sandbox id")?;
            c.remove_pod_sandbox(req(cri::RemovePodSandboxRequest { pod_sandbox_id: id }, t))
                .await?;
        }
        "pod-status" => {
            let id = operand(args, "a pod sandbox id")?;
            let r = c
                .pod_sandbox_status(req(
                    cri::PodSandboxStatusRequest {
                        pod_sandbox_id: id,
                        verbose: true,
                    },
                    t,
                ))
                .await?
                .into_inner();
            let s = r.status.unwrap_or_default();
            let md = s.metadata.unwrap_or_default();
            let (ip, additional) = s
                .network
                .map(|n| {
                    (
                        n.ip,
                        n.additional_ips
                            .into_iter()
                            .map(|i| i.ip)
                            .collect::<Vec<_>>(),
                    )
                })
                .unwrap_or_default();
            let (info, netns) = info_and_netns(r.info);
            println!(
                "{}",
                json!({
                    "id": s.id, "name": md.name, "namespace": md.namespace, "uid": md.uid,
                    "state": state_name(s.state), "ip": ip, "additional_ips": additional,
                    "annotations": s.annotations, "netns": netns, "info": info
                })
            );
        }
        "list-pods" => {
            let r = c
                .list_pod_sandbox(req(cri::ListPodSandboxRequest { filter: None }, t))
                .await?
                .into_inner();
            let pods: Vec<Value> = r
                .items
                .into_iter()
                .map(|p| {
                    let md = p.metadata.unwrap_or_default();
                    json!({"id": p.id, "name": md.name, "namespace": md.namespace,
                           "uid": md.uid, "state": state_name(p.state)})
                })
                .collect();
            println!("{}", Value::Array(pods));
        }
        other => return Err(Fail::Local(format!("unknown command {other:?}\n{USAGE}"))),
    }
    Ok(())
}

fn main() -> ExitCode {
    let result = parse_args().and_then(|args| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Fail::Local(format!("tokio runtime: {e}")))?;
        rt.block_on(run(&args))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Local(msg)) => {
            eprintln!("cri-client: {msg}");
            ExitCode::from(1)
        }
        Err(Fail::Grpc(s)) => {
            // The deadline usually passes on this side first: tonic then
            // reports `Cancelled: Timeout expired`, where a Go client (Craned)
            // sees DeadlineExceeded. Say what happened.
            let (code, message) =
                if s.code() == tonic::Code::Cancelled && s.message() == "Timeout expired" {
                    (
                        tonic::Code::DeadlineExceeded,
                        "deadline exceeded (the client's grpc-timeout passed)".to_string(),
                    )
                } else {
                    (s.code(), s.message().to_string())
                };
            eprintln!("cri-client: grpc error: code={code:?} message={message}");
            ExitCode::from(2)
        }
    }
}
