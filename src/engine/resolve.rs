//! Turning the config into the concrete pipelines of one request: template
//! expansion from GRES annotations, template rendering, per-delegate
//! environment (the override layers) and the exact stdin bytes.

use super::Engine;
use crate::config::{DelegateSpec, Override, PipelineSpec, ResultMode, RuntimeConfigMode, Target};
use crate::error::CniError;
use crate::invoke::ChildEnv;
use crate::overrides::{apply_to_args, join_cni_args, parse_cni_args, Manip};
use crate::template::{Gres, Vars};
use crate::version::Version;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Annotation keys announcing template instances:
/// `cranesched.internal/meta-cni/gres/<pipeline>/<index>` = `<device>`.
pub const GRES_ANNOTATION_PREFIX: &str = "cranesched.internal/meta-cni/gres/";

/// Environment changes for one delegate, relative to our own environment:
/// `Some` sets a variable, `None` removes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EnvDelta(pub BTreeMap<String, Option<String>>);

impl EnvDelta {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.as_deref())
    }

    /// The child's whole environment: `base` (our own environment without
    /// `CNI_COMMAND`, see [`ChildEnv::inherited`]) with this delta and
    /// `CNI_COMMAND` applied.
    pub fn environment(&self, base: &ChildEnv, command: &str) -> ChildEnv {
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

    fn set(&mut self, key: &str, value: Option<String>) {
        self.0.insert(key.to_string(), value);
    }

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

/// A delegate ready to call.
#[derive(Debug, Clone)]
pub struct Delegate {
    pub name: String,
    pub plugin: String,
    pub version: Version,
    /// Compact JSON sent on stdin, without `prevResult` (spliced per call).
    pub stdin: Vec<u8>,
    pub env: EnvDelta,
    pub timeout: Option<Duration>,
}

/// A pipeline (or template instance) ready to run.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Pipeline or instance name (`roce-0`); empty for the seed shape.
    pub name: String,
    /// Its position among the attachment's pipelines: its slot in the
    /// in-flight journal and its index in the record.
    pub slot: usize,
    pub ifname: String,
    pub mode: ResultMode,
    pub delegates: Vec<Delegate>,
}

impl Pipeline {
    /// `pipeline "x" delegate "y"`, or `delegate "y"` in the seed shape.
    pub fn who(&self, d: &Delegate) -> String {
        if self.name.is_empty() {
            format!("delegate {:?}", d.name)
        } else {
            format!("pipeline {:?} delegate {:?}", self.name, d.name)
        }
    }

    /// `pipeline=x delegate=y` for log lines.
    pub fn scope(&self, d: &Delegate) -> String {
        if self.name.is_empty() {
            format!("delegate={}", d.name)
        } else {
            format!("pipeline={} delegate={}", self.name, d.name)
        }
    }
}

/// One template instance found in the annotations.
struct Instance<'a> {
    index: u32,
    device: &'a str,
}

impl Engine<'_> {
    /// The pipelines this request runs, in order.
    pub fn resolve(&self) -> Result<Vec<Pipeline>, CniError> {
        let args = match self.req.args.as_deref() {
            Some(a) => parse_cni_args(a).map_err(|e| CniError::env(e.to_string()))?,
            None => BTreeMap::new(),
        };
        let mut out = Vec::new();
        for spec in &self.conf.pipelines {
            match &spec.target {
                Target::Request => out.push(self.instance(
                    spec,
                    spec.name.clone(),
                    self.req.ifname.clone(),
                    None,
                    &args,
                )?),
                Target::Static(ifname) => {
                    out.push(self.instance(
                        spec,
                        spec.name.clone(),
                        ifname.clone(),
                        None,
                        &args,
                    )?);
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
                            format!("{}-{index}", spec.name),
                            format!("{prefix}{index}"),
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
    /// GRES values), with whether it is a template: what STATUS and GC talk to.
    pub fn resolve_specs(&self) -> Result<Vec<(bool, Pipeline)>, CniError> {
        let args = BTreeMap::new();
        self.conf
            .pipelines
            .iter()
            .map(|spec| {
                let (template, ifname) = match &spec.target {
                    Target::Request => (false, self.req.ifname.clone()),
                    Target::Static(n) => (false, n.clone()),
                    Target::Template(prefix) => (true, prefix.clone()),
                };
                Ok((
                    template,
                    self.instance(spec, spec.name.clone(), ifname, None, &args)?,
                ))
            })
            .collect()
    }

    /// Template instances of pipeline `name`, in index order.
    fn instances(&self, name: &str) -> Vec<Instance<'_>> {
        let mut found: Vec<Instance<'_>> = Vec::new();
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
                Ok(i) if crate::config::is_canonical_index(idx) => {
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

    fn instance(
        &self,
        spec: &PipelineSpec,
        name: String,
        ifname: String,
        gres: Option<Gres<'_>>,
        args: &BTreeMap<String, String>,
    ) -> Result<Pipeline, CniError> {
        let mut base = EnvDelta::default();
        let r = self.req;
        base.set(
            "CNI_CONTAINERID",
            (!r.container_id.is_empty()).then(|| r.container_id.clone()),
        );
        base.set("CNI_NETNS", r.netns.clone());
        base.set(
            "CNI_IFNAME",
            (!r.ifname.is_empty()).then(|| r.ifname.clone()),
        );
        base.set("CNI_ARGS", r.args.clone());
        base.set("CNI_PATH", (!r.path.is_empty()).then(|| r.path.clone()));
        base.apply(&self.conf.runtime_override)?;
        if spec.target != Target::Request {
            base.set("CNI_IFNAME", Some(ifname.clone()));
        }
        base.apply(&spec.runtime_override)?;

        let vars = Vars { gres, args };
        let delegates = spec
            .delegates
            .iter()
            .map(|d| {
                let mut env = base.clone();
                env.apply(&d.runtime_override)?;
                let stdin = self.stdin_for(d, &vars).map_err(|e| {
                    let who = if name.is_empty() {
                        format!("delegate {:?}", d.name)
                    } else {
                        format!("pipeline {name:?} delegate {:?}", d.name)
                    };
                    e.context(who)
                })?;
                Ok(Delegate {
                    name: d.name.clone(),
                    plugin: d.plugin.clone(),
                    version: d.version,
                    stdin,
                    env,
                    timeout: d.timeout,
                })
            })
            .collect::<Result<_, CniError>>()?;
        Ok(Pipeline {
            name,
            slot: 0,
            ifname,
            mode: spec.mode,
            delegates,
        })
    }

    /// The delegate's config: rendered templates plus its share of
    /// `runtimeConfig`, serialised once.
    fn stdin_for(&self, d: &DelegateSpec, vars: &Vars<'_>) -> Result<Vec<u8>, CniError> {
        let rc = self.runtime_config_for(&d.conf);
        let mut conf;
        let conf_ref = if d.templated || rc.is_some() {
            conf = d.conf.clone();
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
            &conf
        } else {
            &d.conf
        };
        serde_json::to_vec(conf_ref)
            .map_err(|e| CniError::decode(format!("cannot encode config: {e}")))
    }

    /// The `runtimeConfig` a delegate gets, if any: none when its conf has
    /// its own; otherwise the keys its `capabilities` enable (or all of it in
    /// `runtimeConfigMode: all`).
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

/// `stdin` with `"prevResult": prev` added as the last key.
pub fn with_prev_result(stdin: &[u8], prev: Option<&Value>) -> Vec<u8> {
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
