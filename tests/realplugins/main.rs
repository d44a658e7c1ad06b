//! Real client, real plugins, real namespaces: `meta-cni` as a node runs it.
//!
//! cnitool (built on Debian's libcni, the library containerd and CRI-O use)
//! loads a meta config from a per-test NETCONFPATH and runs the built
//! `meta-cni`, which runs Debian's reference plugins (`bridge` +
//! `host-local` standing in for calico, `portmap`, `bandwidth`, `macvlan`)
//! against network namespaces the tests create. A podman test runs a real
//! container whose network is wired by meta-cni. `docs/testing.md` describes
//! the pieces and the rules; `scripts/install-test-tools.sh` (`make
//! test-tools`) installs them.
//!
//! # Requirements and `META_CNI_REQUIRE_REAL`
//!
//! Every test first checks that it runs as root, that `ip netns add`
//! works, that `cnitool` (`$CNITOOL`, `/usr/local/bin/cnitool` or PATH) and
//! `/usr/lib/cni/{bridge,host-local,portmap,bandwidth}` exist (the podman
//! test also needs `podman`, `runc` and a static `/bin/busybox`). If
//! something is missing the test prints a loud `SKIPPED (reason)` line to
//! stderr and returns, so `cargo test` on a laptop still passes.
//!
//! With **`META_CNI_REQUIRE_REAL=1`** in the environment (CI sets it) a
//! missing piece is a test *failure* instead: in CI these tests must run,
//! never skip silently.
//!
//! # Isolation
//!
//! Each test owns a [`fixture::Fixture`]: unique netns, bridge, 10.x
//! subnet, host port, container ID and temp dirs (NETCONFPATH, CNI_PATH,
//! host-local dataDir, CNI_CACHE_DIR, stateDir), all removed by its drop
//! guard, with the nat rules that mention its container IDs or subnets.
//! Every child process has a deadline (see [`cmd`]). Steps that change the
//! nat table take turns ([`host::net_lock`]): portmap's shared chains are
//! created check-then-create. No test sends a packet anywhere.
//!
//! Run: `cargo test --test realplugins -- --test-threads=2` (as root).

mod attach;
#[path = "../common/cmd.rs"]
mod cmd;
mod conf;
mod fixture;
mod gate;
mod host;
#[path = "../common/subnet.rs"]
mod subnet;

mod differential;
mod leak;
mod parallel;
mod pipelines;
mod podman;
mod seed;
