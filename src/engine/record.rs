//! Between resolved pipelines and attachment state records: what ADD
//! writes, and the pipelines DEL and CHECK replay from a record.

use super::Engine;
use crate::plan::{Delegate, EnvDelta, Label, Pipeline};
use crate::protocol::Request;
use crate::result::CniResult;
use crate::state::{DelegateRecord, InFlight, PipelineRecord, Record, RequestVars, FORMAT};
use std::time::Duration;

pub(super) fn pipeline_record(p: &Pipeline, result: Option<&CniResult>) -> PipelineRecord {
    PipelineRecord {
        name: p.name.clone(),
        if_name: p.ifname.clone(),
        mode: p.mode,
        delegates: p
            .delegates
            .iter()
            .map(|d| DelegateRecord {
                name: d.name.clone(),
                plugin: d.plugin.clone(),
                cni_version: d.version,
                stdin: String::from_utf8_lossy(&d.stdin).into_owned(),
                env: d.env.clone(),
                timeout_ms: d
                    .timeout
                    .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            })
            .collect(),
        result: result.map(|r| r.to_json(CniResult::HUB_VERSION)),
    }
}

impl Engine<'_> {
    pub(super) fn new_record(&self, pipelines: &[Pipeline]) -> Record {
        Record {
            format: FORMAT,
            network: self.conf.name.clone(),
            container_id: self.req.container_id.clone(),
            if_name: self.req.ifname.clone(),
            request: RequestVars {
                netns: self.req.netns.clone(),
                path: Some(self.req.path.clone()).filter(|p| !p.is_empty()),
            },
            pipelines: pipelines.iter().map(|p| pipeline_record(p, None)).collect(),
        }
    }

    /// The pipelines (and their stored results) a record describes, with
    /// request-derived values (netns, CNI_PATH) that were not overridden
    /// taken from this request: DEL may come with no netns, or after the
    /// plugins moved.
    pub(super) fn replay(&self, r: &Record) -> Result<Vec<(Pipeline, Option<CniResult>)>, String> {
        r.pipelines
            .iter()
            .enumerate()
            .map(|(slot, pr)| {
                let delegates = pr
                    .delegates
                    .iter()
                    .map(|dr| {
                        let mut env = dr.env.clone();
                        rebase(
                            &mut env,
                            "CNI_NETNS",
                            r.request.netns.as_deref(),
                            self.req.netns.as_deref(),
                        );
                        rebase(
                            &mut env,
                            "CNI_PATH",
                            r.request.path.as_deref(),
                            non_empty(self.req),
                        );
                        Delegate {
                            name: dr.name.clone(),
                            plugin: dr.plugin.clone(),
                            version: dr.cni_version,
                            stdin: dr.stdin.clone().into_bytes(),
                            env,
                            timeout: dr.timeout_ms.map(Duration::from_millis),
                        }
                    })
                    .collect();
                let result = match &pr.result {
                    Some(v) => Some(
                        CniResult::parse(v, CniResult::HUB_VERSION).map_err(|e| e.to_string())?,
                    ),
                    None => None,
                };
                Ok((
                    Pipeline {
                        name: pr.name.clone(),
                        slot,
                        ifname: pr.if_name.clone(),
                        mode: pr.mode,
                        delegates,
                    },
                    result,
                ))
            })
            .collect()
    }
}

fn non_empty(req: &Request) -> Option<&str> {
    Some(req.path.as_str()).filter(|p| !p.is_empty())
}

/// If `key` still holds what the ADD request gave (`was`), use what this
/// request gives (`now`).
fn rebase(env: &mut EnvDelta, key: &str, was: Option<&str>, now: Option<&str>) {
    if env.get(key) == was {
        env.set(key, now.map(str::to_string));
    }
}

/// How a journal entry's delegate is named in messages: from the record
/// when it has the entry's pipeline and delegate, else by position.
pub(super) fn label(record: Option<&Record>, e: &InFlight) -> String {
    let pipeline = record.and_then(|r| r.pipelines.get(e.pipeline));
    match pipeline.and_then(|p| Some((p, p.delegates.get(e.delegate)?))) {
        Some((p, d)) => {
            let label = Label {
                pipeline: &p.name,
                delegate: &d.name,
            };
            format!("{label} ({})", d.plugin)
        }
        None => format!(
            "pipeline #{} delegate #{} ({})",
            e.pipeline, e.delegate, e.plugin
        ),
    }
}
