//! containerd's CRI plugin runs meta-cni, as on a CraneSched node.
//!
//! CraneSched's node daemon (Craned) talks CRI to containerd; containerd's
//! CRI plugin runs CNI through go-cni and libcni. Each test here starts a
//! private containerd (Debian's 1.6) with its own root, state, socket and
//! config, whose CNI conf dir holds a meta-cni `.conflist` in the multi-NIC
//! shape (a `bridge` + `portmap` pipeline on `eth0`, a GRES template
//! pipeline of `macvlan` on `net<index>`), and drives it with `cri-client`
//! (tests/cri-client) exactly as Craned does: RunPodSandbox with a 5 s gRPC
//! deadline, pod namespace `cranesched`, name `job-<jobid>-<node>`, a hashed
//! uid, `cranesched.internal/...` annotations with the GRES devices, a port
//! mapping and DNS; then StopPodSandbox and RemovePodSandbox. The sandbox
//! image is a local pause image (`scripts/build-cri-tools.sh` builds it
//! and the client); no registry is needed.
//!
//! What containerd does that these tests rely on: it passes port mappings
//! and pod annotations only because the conflist declares the
//! `portMappings` and `io.kubernetes.cri.pod-annotations` capabilities; it
//! never calls CHECK or GC; when a CRI request's deadline passes, Go's
//! `exec.CommandContext` SIGKILLs meta-cni (not its process group) and
//! containerd runs DEL at once with a fresh context.
//!
//! # Requirements and `META_CNI_REQUIRE_REAL`
//!
//! Root, `containerd`, `containerd-shim-runc-v2`, `ctr`, `runc`, `ip`,
//! `nsenter`, `iptables-save`/`-restore`, the reference plugins in
//! /usr/lib/cni, and what `sh scripts/build-cri-tools.sh` builds into
//! `target/cri-tools` (`META_CNI_CRI_TOOLS` points elsewhere). Missing
//! pieces print a loud `SKIPPED (reason)` line; with
//! `META_CNI_REQUIRE_REAL=1` they fail the test.
//!
//! # Isolation
//!
//! Each test owns a [`node::Node`] (see there: names, subnets
//! `10.150-199.x.0/24`, ports, cgroup parent, temp dir) whose drop guard
//! gives everything back, also when the test fails. Tests take turns (the
//! node holds a process-wide lock); what each looks for on the host is its
//! own, so other suites running meanwhile do not disturb it.
//! Every child process has a deadline; containerd is stopped by its PID.
//! No test sends a packet.
//!
//! Run: `sh scripts/build-cri-tools.sh && cargo test --test containerd` (as
//! root; about a minute).

#[path = "../common/cmd.rs"]
mod cmd;
mod conf;
mod gate;
mod host;
mod node;
#[path = "../common/subnet.rs"]
mod subnet;
#[path = "../common/tempdir.rs"]
mod tempdir;

mod deadline;
mod lifecycle;
mod parallel;
