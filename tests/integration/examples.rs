//! Every shipped example loads and runs ADD/CHECK/DEL, with fakes standing in
//! for the plugins they name.

use crate::harness::*;
use crate::pipelines::{example, GRES};
use serde_json::json;

const PLUGINS: [&str; 7] = [
    "calico",
    "portmap",
    "bandwidth",
    "bridge",
    "macvlan",
    "sriov",
    "rdma",
];

#[test]
fn every_example_runs_add_check_del() {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("examples")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    names.sort();
    assert!(names.len() >= 4, "{names:?}");
    for name in names {
        let s = Setup::new(&PLUGINS);
        let mut conf = example(&name);
        let template = conf["pipelines"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p.get("ifNamePrefix").is_some()))
            .and_then(|p| p["name"].as_str())
            .map(str::to_string);
        if let Some(t) = &template {
            conf["runtimeConfig"] = json!({"io.kubernetes.cri.pod-annotations": {
                format!("{GRES}/{t}/0"): "0000:3b:00.2", format!("{GRES}/{t}/1"): "0000:3b:00.3"}});
        }
        let out = s.run("ADD", &conf).ok();
        assert_eq!(out["cniVersion"], conf["cniVersion"], "{name}");
        let added = s.calls();
        assert!(!added.is_empty(), "{name}");
        if template.is_some() {
            let sriov: Vec<&str> = added
                .iter()
                .filter(|c| c.plugin == "sriov")
                .filter_map(|c| c.stdin["deviceID"].as_str())
                .collect();
            assert_eq!(sriov, ["0000:3b:00.2", "0000:3b:00.3"], "{name}");
        }
        conf["prevResult"] = out;
        s.clear_calls();
        s.run("CHECK", &conf).ok();
        assert_eq!(
            s.calls().len(),
            added.len(),
            "{name}: CHECK reaches every delegate"
        );
        s.clear_calls();
        s.run("DEL", &conf).ok();
        let mut reversed: Vec<String> = added.iter().map(|c| c.plugin.clone()).collect();
        reversed.reverse();
        let deleted: Vec<String> = s.calls().iter().map(|c| c.plugin.clone()).collect();
        assert_eq!(deleted, reversed, "{name}: DEL in reverse");
    }
}
