//! A delegate still busy when Craned's 5 s CRI deadline passes.
//!
//! containerd's CRI plugin runs meta-cni under the RunPodSandbox request's
//! context. When the deadline passes, Go's `exec.CommandContext` SIGKILLs
//! meta-cni (only meta-cni: not its process group, so the delegate it
//! started keeps running) and containerd at once runs DEL with a fresh
//! context, then removes the network namespace. The delegate, orphaned,
//! finishes its ADD afterwards: unless DEL first ends what the killed
//! meta-cni left in flight, that ADD leaves its work on the host with no
//! record and no pod to undo it.
//!
//! The delayed delegate is a wrapper in the CNI bin dir, in the plugin's
//! place, that sleeps 6 s on ADD and then execs the real plugin (DEL goes
//! straight through). meta-cni's own `timeoutSeconds` (20) is larger than
//! the CRI deadline, so it is containerd's kill that happens.

use crate::conf::Pod;
use crate::gate;
use crate::node::{Delay, Node, Opts, CRI_DEADLINE_MS};
use std::time::{Duration, Instant};

/// How late the wrapped delegate's ADD is.
const DELAY_SECS: u32 = 6;
/// How long after RunPodSandbox failed everything must be gone by:
/// the orphan (if it lives) is done about `DELAY_SECS` after the request
/// started, well within this.
const WAIT: Duration = Duration::from_secs(10);

fn delegate_outlives_cri_deadline(test: &str, plugin: &'static str) {
    if !gate::ready(test) {
        return;
    }
    let node = Node::new(Opts {
        timeout_seconds: 20,
        delay: Some(Delay {
            plugin,
            secs: DELAY_SECS,
        }),
    });
    let pod = Pod {
        job: 1000 * node.n + 1,
        node_name: "cn01".to_string(),
        gres: vec![(0, node.masters[0].clone())],
        ports: vec![node.port()],
    };
    let run = node.run_pod(&pod);
    let took = run.took;
    assert!(
        !run.ok() && run.stderr.contains("code=DeadlineExceeded"),
        "RunPodSandbox should fail at its {CRI_DEADLINE_MS} ms deadline ({plugin} is \
         {DELAY_SECS} s late): {}\n{}",
        run.describe(),
        node.diag()
    );
    assert!(
        took < Duration::from_millis(CRI_DEADLINE_MS + 2000),
        "RunPodSandbox took {took:?}, far past its deadline: {}",
        run.describe()
    );

    // Wait for every process this node's CNI bin dir started (meta-cni,
    // the wrapper, its `sleep`, the real plugin) to be gone, then a little
    // more for containerd to finish its teardown.
    let failed_at = Instant::now();
    while !node.processes().is_empty() && failed_at.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    // The scenario is containerd's kill, not meta-cni giving up by itself:
    // containerd logs the failed RunPodSandbox (after its teardown) with
    // meta-cni's ADD ended by a signal.
    let log = std::fs::read_to_string(node.ctd_log()).unwrap_or_default();
    assert!(
        log.lines().any(|l| l.contains("RunPodSandbox for")
            && l.contains(&pod.name())
            && l.contains("failed (add)")
            && l.contains("signal: killed")),
        "containerd's log does not show meta-cni killed during ADD\n{}",
        node.diag()
    );
    let left = node.leftovers();
    assert!(
        left.is_empty(),
        "RunPodSandbox failed at Craned's {CRI_DEADLINE_MS} ms deadline as it should (after \
         {took:?}); containerd SIGKILLed meta-cni while {plugin} was in its ADD and ran DEL at \
         once. {:?} later this was still on the host, left by the {plugin} ADD that the killed \
         meta-cni had started and containerd's DEL did not stop:\n  {}\n{}",
        failed_at.elapsed(),
        left.join("\n  "),
        node.diag()
    );
}

#[test]
fn portmap_in_static_pipeline_past_cri_deadline_leaves_nothing() {
    delegate_outlives_cri_deadline(
        "portmap_in_static_pipeline_past_cri_deadline_leaves_nothing",
        "portmap",
    );
}

#[test]
fn macvlan_in_gres_pipeline_past_cri_deadline_leaves_nothing() {
    delegate_outlives_cri_deadline(
        "macvlan_in_gres_pipeline_past_cri_deadline_leaves_nothing",
        "macvlan",
    );
}
