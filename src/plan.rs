//! From the config to the concrete pipelines of one request: template
//! pipelines expanded from GRES annotations, templates rendered, each
//! delegate's environment (the override layers) and its exact stdin bytes.
//! ADD, DEL, CHECK, STATUS, GC and `meta-cni validate` all plan delegates
//! here, so they cannot disagree about what a delegate is sent or where it
//! is looked up.

use crate::config::{
    is_canonical_index, DelegateSpec, MetaConfig, Override, PipelineSpec, ResultMode,
    RuntimeConfigMode, Target,
};
use crate::error::CniError;
use crate::invoke::ChildEnv;
use crate::log::Logger;
use crate::overrides::{apply_to_args, join_cni_args, parse_cni_args, Manip};
use crate::protocol::Request;
use crate::template::{Gres, Vars};
use crate::version::Version;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Annotation keys announcing template instances:
/// `cranesched.internal/meta-cni/gres/<pipeline>/<index>` = `<device>`.
pub(crate) const GRES_ANNOTATION_PREFIX: &str = "cranesched.internal/meta-cni/gres/";

/// Environment changes for one delegate, relative to meta-cni's own
/// environment: `Some` sets a variable, `None` removes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct EnvDelta(pub(crate) BTreeMap<String, Option<String>>);

impl EnvDelta {
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.as_deref())
    }

    /// The child's whole environment: `base` (meta-cni's own environment
    /// without `CNI_COMMAND`, see [`ChildEnv::inherited`]) with this delta
    /// and `CNI_COMMAND` applied.
    pub(crate) fn environment(&self, base: &ChildEnv, command: &str) -> ChildEnv {
        let mut out = if self.0.is_empty() {
            base.clone()
        } else {
            let mut out =
                ChildEnv::with_capacity(base.len() + self.0.len() + 1, base.bytes() + 256);
            out.extend_from(base, |k| {
                !std::str::from_utf8(k).is_ok_and(|k| self.0.contains_key(k))
            });
            for (k, v) in &self.0 {
                if let Some(v) = v {
                    out.push(k.as_bytes(), v.as_bytes());
                }
            }
            out
        };
        out.push(b"CNI_COMMAND", command.as_bytes());
        out
    }

    pub(crate) fn set(&mut self, key: &str, value: Option<String>) {
        self.0.insert(key.to_string(), value);
    }

    /// Apply one `runtimeOverride` layer.
    fn apply(&mut self, o: &Override) -> Result<(), CniError> {
        for (key, v) in [
            ("CNI_CONTAINERID", &o.container_id),
            ("CNI_NETNS", &o.netns),
            ("CNI_IFNAME", &o.ifname),
            ("CNI_PATH", &o.cni_path),
        ] {
            if let Some(v) = v {
                self.set(key, Some(v.clone()));
            }
        }
        if !o.args.is_empty() {
            let mut args = parse_cni_args(self.get("CNI_ARGS").unwrap_or(""))
                .map_err(|e| CniError::env(e.to_string()))?;
            apply_to_args(&mut args, &o.args);
            self.set("CNI_ARGS", join_cni_args(&args));
        }
        for m in &o.envs {
            match m {
                Manip::Set(k, v) => self.set(k, (!v.is_empty()).then(|| v.clone())),
                Manip::Delete(k) => self.set(k, None),
            }
        }
        Ok(())
    }
}

/// How a delegate is named in messages (`pipeline "roce-0" delegate
/// "sriov"`, or `delegate "calico"` in the seed shape) and in log lines
/// (`pipeline=roce-0 delegate=sriov`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Label<'a> {
    /// Pipeline or instance name; empty in the seed shape.
    pub(crate) pipeline: &'a str,
    pub(crate) delegate: &'a str,
}

impl fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.pipeline.is_empty() {
            write!(f, "pipeline {:?} ", self.pipeline)?;
        }
        write!(f, "delegate {:?}", self.delegate)
    }
}

impl Label<'_> {
    /// The label with the pipeline's interface and the plugin type, as
    /// `meta-cni validate` reports: `pipeline "roce" (roceN) delegate
    /// "sriov" (sriov)`.
    pub(crate) fn describe(&self, ifname: Option<&str>, plugin: &str) -> String {
        let mut s = String::new();
        if !self.pipeline.is_empty() {
            s = format!("pipeline {:?} ", self.pipeline);
            if let Some(i) = ifname {
                s.push_str(&format!("({i}) "));
            }
        }
        s + &format!("delegate {:?} ({plugin})", self.delegate)
    }

    /// `pipeline=x delegate=y` for log lines.
    pub(crate) fn scope(&self) -> String {
        if self.pipeline.is_empty() {
            format!("delegate={}", self.delegate)
        } else {
            format!("pipeline={} delegate={}", self.pipeline, self.delegate)
        }
    }
}

/// A delegate ready to call.
#[derive(Debug, Clone)]
pub(crate) struct Delegate {
    pub(crate) name: String,
    pub(crate) plugin: String,
    pub(crate) version: Version,
    /// Compact JSON sent on stdin, without `prevResult` (spliced per call).
    pub(crate) stdin: Vec<u8>,
    pub(crate) env: EnvDelta,
    pub(crate) timeout: Option<Duration>,
}

impl Delegate {
    /// The `:`-separated directories it is looked up in.
    pub(crate) fn cni_path(&self) -> &str {
        self.env.get("CNI_PATH").unwrap_or("")
    }
}

/// A pipeline (or template instance) ready to run.
#[derive(Debug, Clone)]
pub(crate) struct Pipeline {
    /// Pipeline or instance name (`roce-0`); empty for the seed shape.
    pub(crate) name: String,
    /// Its position among the attachment's pipelines: its slot in the
    /// in-flight journal and its index in the record.
    pub(crate) slot: usize,
    pub(crate) ifname: String,
    pub(crate) mode: ResultMode,
    pub(crate) delegates: Vec<Delegate>,
}

impl Pipeline {
    pub(crate) fn label<'a>(&'a self, d: &'a Delegate) -> Label<'a> {
        Label {
            pipeline: &self.name,
            delegate: &d.name,
        }
    }

    /// The index of `d` among this pipeline's delegates (by identity, else
    /// by name: `d` may be a changed copy, as STATUS and GC send).
    pub(crate) fn position(&self, d: &Delegate) -> usize {
        self.delegates
            .iter()
            .position(|x| std::ptr::eq(x, d))
            .or_else(|| self.delegates.iter().position(|x| x.name == d.name))
            .unwrap_or(0)
    }
}

/// A delegate planned for `meta-cni validate`.
pub(crate) struct Sample<'a> {
    pub(crate) spec: &'a DelegateSpec,
    /// Its environment (`CNI_PATH` says where it is looked up).
    pub(crate) env: Result<EnvDelta, CniError>,
    /// Why its config could not be made, if it could not.
    pub(crate) conf: Option<CniError>,
}

/// One template instance found in the annotations.
struct Instance<'a> {
    index: u32,
    device: &'a str,
}

/// Plans the pipelines of one request.
pub(crate) struct Planner<'a> {
    conf: &'a MetaConfig,
    req: &'a Request,
    log: &'a Logger,
}

impl<'a> Planner<'a> {
    pub(crate) fn new(conf: &'a MetaConfig, req: &'a Request, log: &'a Logger) -> Self {
        Planner { conf, req, log }
    }

    /// The pipelines this request runs, in order, template pipelines
    /// expanded into their instances.
    pub(crate) fn pipelines(&self) -> Result<Vec<Pipeline>, CniError> {
        let args = self.request_args()?;
        let mut out = Vec::new();
        for spec in &self.conf.pipelines {
            match &spec.target {
                Target::Request => {
                    out.push(self.instance(spec, &spec.name, &self.req.ifname, None, &args)?)
                }
                Target::Static(ifname) => {
                    out.push(self.instance(spec, &spec.name, ifname, None, &args)?)
                }
                Target::Template(prefix) => {
                    let instances = self.instances(&spec.name);
                    if instances.is_empty() {
                        self.log.debug(
                            &format!("pipeline={}", spec.name),
                            format_args!("no GRES annotation for this template pipeline: skipped"),
                        );
                    }
                    for inst in instances {
                        let index = inst.index.to_string();
                        let gres = Gres {
                            device: inst.device,
                            index: &index,
                        };
                        out.push(self.instance(
                            spec,
                            &format!("{}-{index}", spec.name),
                            &format!("{prefix}{index}"),
                            Some(gres),
                            &args,
                        )?);
                    }
                }
            }
        }
        for (slot, p) in out.iter_mut().enumerate() {
            p.slot = slot;
        }
        Ok(out)
    }

    /// Every configured pipeline once, template pipelines not expanded (no
    /// GRES values), with whether it is a template: what STATUS and GC
    /// talk to.
    pub(crate) fn configured(&self) -> Result<Vec<(bool, Pipeline)>, CniError> {
        let args = BTreeMap::new();
        self.conf
            .pipelines
            .iter()
            .map(|spec| {
                let (template, ifname) = match &spec.target {
                    Target::Request => (false, self.req.ifname.as_str()),
                    Target::Static(n) => (false, n.as_str()),
                    Target::Template(prefix) => (true, prefix.as_str()),
                };
                Ok((
                    template,
                    self.instance(spec, &spec.name, ifname, None, &args)?,
                ))
            })
            .collect()
    }

    /// Each delegate of `spec` planned for a sample instance (index 0 of a
    /// template pipeline, with a sample device): what `meta-cni validate`
    /// checks. Its environment and its config are planned apart, so that a
    /// template error does not hide where the delegate is looked up.
    pub(crate) fn sample(&self, spec: &'a PipelineSpec) -> Vec<Sample<'a>> {
        let args = BTreeMap::new();
        let (name, ifname, gres) = match &spec.target {
            Target::Request => (spec.name.clone(), self.req.ifname.clone(), None),
            Target::Static(n) => (spec.name.clone(), n.clone(), None),
            Target::Template(prefix) => (
                format!("{}-0", spec.name),
                format!("{prefix}0"),
                Some(Gres {
                    device: "0000:00:00.0",
                    index: "0",
                }),
            ),
        };
        let vars = Vars { gres, args: &args };
        let base = self.base_env(spec, &ifname);
        spec.delegates
            .iter()
            .map(|d| Sample {
                spec: d,
                env: base.clone().and_then(|mut env| {
                    env.apply(&d.runtime_override)?;
                    Ok(env)
                }),
                conf: self.stdin_for(d, &vars).err().map(|e| {
                    e.context(Label {
                        pipeline: &name,
                        delegate: &d.name,
                    })
                }),
            })
            .collect()
    }

    fn request_args(&self) -> Result<BTreeMap<String, String>, CniError> {
        match self.req.args.as_deref() {
            Some(a) => parse_cni_args(a).map_err(|e| CniError::env(e.to_string())),
            None => Ok(BTreeMap::new()),
        }
    }

    /// Template instances of pipeline `name`, in index order.
    fn instances(&self, name: &str) -> Vec<Instance<'a>> {
        let mut found: Vec<Instance<'a>> = Vec::new();
        for (key, device) in self.conf.annotations() {
            let Some(rest) = key
                .strip_prefix(GRES_ANNOTATION_PREFIX)
                .and_then(|r| r.strip_prefix(name))
            else {
                continue;
            };
            let Some(idx) = rest.strip_prefix('/') else {
                continue;
            };
            match idx.parse::<u32>() {
                Ok(i) if is_canonical_index(idx) => {
                    if found.iter().any(|f| f.index == i) {
                        continue;
                    }
                    found.push(Instance { index: i, device });
                }
                _ => self.log.warn(
                    &format!("pipeline={name}"),
                    format_args!(
                        "ignoring annotation {key:?}: {idx:?} is not a non-negative integer index"
                    ),
                ),
            }
        }
        found.sort_by_key(|f| f.index);
        found
    }

    /// The environment every delegate of a pipeline on `ifname` starts
    /// from: the request's variables, then the top-level override, the
    /// pipeline's interface, the pipeline's override.
    fn base_env(&self, spec: &PipelineSpec, ifname: &str) -> Result<EnvDelta, CniError> {
        let mut base = EnvDelta::default();
        let r = self.req;
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        base.set("CNI_CONTAINERID", non_empty(&r.container_id));
        base.set("CNI_NETNS", r.netns.clone());
        base.set("CNI_IFNAME", non_empty(&r.ifname));
        base.set("CNI_ARGS", r.args.clone());
        base.set("CNI_PATH", non_empty(&r.path));
        base.apply(&self.conf.runtime_override)?;
        if spec.target != Target::Request {
            base.set("CNI_IFNAME", Some(ifname.to_string()));
        }
        base.apply(&spec.runtime_override)?;
        Ok(base)
    }

    fn instance(
        &self,
        spec: &PipelineSpec,
        name: &str,
        ifname: &str,
        gres: Option<Gres<'_>>,
        args: &BTreeMap<String, String>,
    ) -> Result<Pipeline, CniError> {
        let base = self.base_env(spec, ifname)?;
        let vars = Vars { gres, args };
        let delegates = spec
            .delegates
            .iter()
            .map(|d| self.delegate(name, &base, d, &vars))
            .collect::<Result<_, CniError>>()?;
        Ok(Pipeline {
            name: name.to_string(),
            slot: 0,
            ifname: ifname.to_string(),
            mode: spec.mode,
            delegates,
        })
    }

    /// One delegate of pipeline `pipeline`: the base environment with its
    /// own override, and its config rendered and serialised once.
    fn delegate(
        &self,
        pipeline: &str,
        base: &EnvDelta,
        d: &DelegateSpec,
        vars: &Vars<'_>,
    ) -> Result<Delegate, CniError> {
        let label = Label {
            pipeline,
            delegate: &d.name,
        };
        let mut env = base.clone();
        env.apply(&d.runtime_override)?;
        let stdin = self.stdin_for(d, vars).map_err(|e| e.context(label))?;
        Ok(Delegate {
            name: d.name.clone(),
            plugin: d.plugin.clone(),
            version: d.version,
            stdin,
            env,
            timeout: d.timeout,
        })
    }

    /// The delegate's config: rendered templates plus its share of
    /// `runtimeConfig`, serialised once.
    fn stdin_for(&self, d: &DelegateSpec, vars: &Vars<'_>) -> Result<Vec<u8>, CniError> {
        let rc = self.runtime_config_for(&d.conf);
        if !d.templated && rc.is_none() {
            return encode(&d.conf);
        }
        let mut conf = d.conf.clone();
        if d.templated {
            let mut v = Value::Object(std::mem::take(&mut conf));
            crate::template::render_value(&mut v, vars)
                .map_err(|e| CniError::config(format!("conf template {e}")))?;
            if let Value::Object(m) = v {
                conf = m;
            }
        }
        if let Some(rc) = rc {
            conf.insert("runtimeConfig".into(), Value::Object(rc));
        }
        encode(&conf)
    }

    /// The `runtimeConfig` a delegate gets, if any: none when its conf has
    /// its own; otherwise the keys its `capabilities` enable (or all of it
    /// in `runtimeConfigMode: all`).
    fn runtime_config_for(&self, conf: &Map<String, Value>) -> Option<Map<String, Value>> {
        let rc = &self.conf.runtime_config;
        if rc.is_empty() || conf.contains_key("runtimeConfig") {
            return None;
        }
        let out: Map<String, Value> = match self.conf.runtime_config_mode {
            RuntimeConfigMode::All => rc.clone(),
            RuntimeConfigMode::Capabilities => {
                let caps = conf.get("capabilities").and_then(Value::as_object)?;
                rc.iter()
                    .filter(|(k, _)| caps.get(*k).and_then(Value::as_bool) == Some(true))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }
        };
        (!out.is_empty()).then_some(out)
    }
}

fn encode(conf: &Map<String, Value>) -> Result<Vec<u8>, CniError> {
    serde_json::to_vec(conf).map_err(|e| CniError::decode(format!("cannot encode config: {e}")))
}

/// `stdin` with `"prevResult": prev` added as the last key.
pub(crate) fn with_prev_result(stdin: &[u8], prev: Option<&Value>) -> Vec<u8> {
    let Some(prev) = prev else {
        return stdin.to_vec();
    };
    let prev = serde_json::to_vec(prev).unwrap_or_else(|_| b"{}".to_vec());
    // `stdin` is our own compact serialisation of an object: it ends in '}'.
    let body = stdin.strip_suffix(b"}").unwrap_or(stdin);
    let mut out = Vec::with_capacity(stdin.len() + prev.len() + 16);
    out.extend_from_slice(body);
    if body != b"{" {
        out.push(b',');
    }
    out.extend_from_slice(b"\"prevResult\":");
    out.extend_from_slice(&prev);
    out.push(b'}');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn prev_result_is_spliced_as_the_last_key() {
        let v = serde_json::json!({"cniVersion": "1.0.0"});
        assert_eq!(
            with_prev_result(b"{}", Some(&v)),
            br#"{"prevResult":{"cniVersion":"1.0.0"}}"#.to_vec()
        );
        assert_eq!(
            with_prev_result(br#"{"a":1}"#, Some(&v)),
            br#"{"a":1,"prevResult":{"cniVersion":"1.0.0"}}"#.to_vec()
        );
        assert_eq!(
            with_prev_result(br#"{"a":1}"#, None),
            br#"{"a":1}"#.to_vec()
        );
    }

    #[test]
    fn labels_name_the_pipeline_only_when_there_is_one() {
        let seed = Label {
            pipeline: "",
            delegate: "calico",
        };
        assert_eq!(seed.to_string(), "delegate \"calico\"");
        assert_eq!(seed.scope(), "delegate=calico");
        let multi = Label {
            pipeline: "roce-0",
            delegate: "sriov",
        };
        assert_eq!(multi.to_string(), "pipeline \"roce-0\" delegate \"sriov\"");
        assert_eq!(multi.scope(), "pipeline=roce-0 delegate=sriov");
    }

    #[test]
    fn env_delta_layers_and_removes() {
        let mut d = EnvDelta::default();
        d.set("CNI_ARGS", Some("K8S_POD_NAME=p;IgnoreUnknown=1".into()));
        d.set("CNI_IFNAME", Some("eth0".into()));
        let o = Override {
            ifname: Some("net1".into()),
            args: vec![
                Manip::Delete("K8S_POD_NAME".into()),
                Manip::Delete("IgnoreUnknown".into()),
            ],
            envs: vec![
                Manip::Set("A".into(), String::new()),
                Manip::Set("NO_PROXY".into(), "svc".into()),
            ],
            ..Override::default()
        };
        d.apply(&o).unwrap();
        assert_eq!(d.get("CNI_IFNAME"), Some("net1"));
        assert_eq!(d.0.get("CNI_ARGS"), Some(&None));
        assert_eq!(d.0.get("A"), Some(&None));
        let base = vec![
            (OsString::from("A"), OsString::from("inherited")),
            (OsString::from("PATH"), OsString::from("/bin")),
            (OsString::from("CNI_COMMAND"), OsString::from("ADD")),
            (OsString::from("CNI_ARGS"), OsString::from("x=y")),
        ];
        let env = d.environment(&ChildEnv::inherited(&base), "DEL");
        let get = |k: &str| env.get(k).map(|v| std::str::from_utf8(v).unwrap());
        assert_eq!(get("A"), None);
        assert_eq!(get("CNI_ARGS"), None);
        assert_eq!(get("PATH"), Some("/bin"));
        assert_eq!(get("NO_PROXY"), Some("svc"));
        assert_eq!(get("CNI_COMMAND"), Some("DEL"));
        assert_eq!(env.iter().filter(|(k, _)| k == b"CNI_COMMAND").count(), 1);
        assert_eq!(env.len(), 4);
        assert_eq!(env.refused(), None);
    }
}
