//! The CNI 1.1 verbs: STATUS (is every delegate ready?) and GC (release
//! what belongs to attachments the runtime no longer has).

use super::{Deadline, Engine, Scope};
use crate::error::{code, CniError};
use crate::invoke::Failure;
use crate::plan::{Delegate, Pipeline};
use crate::protocol::{Command, Request};
use crate::state::Store;
use crate::version::Version;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashSet};

/// A (containerID, ifname) pair as GC lists it.
type Attachment = (String, String);

/// Which attachment a delegate (plugin, delegate name) used.
type DelegateAttachment = ((String, String), Attachment);

impl Engine<'_> {
    fn require_1_1(&self, command: Command) -> Result<(), CniError> {
        if self.conf.version.has_status_gc() {
            return Ok(());
        }
        Err(CniError::version(format!(
            "config version {} does not allow {command} (needs 1.1.0)",
            self.conf.version
        )))
    }

    /// Whether the plugin's `VERSION` answer lists 1.1.0, or why it could
    /// not be asked.
    fn speaks_1_1(&self, scope: Scope<'_>, p: &Pipeline, d: &Delegate) -> Result<bool, Failure> {
        let theirs = self.versions_of(scope, p, d, Version::V1_1_0)?;
        Ok(theirs.iter().any(|v| v == Version::V1_1_0.as_str()))
    }

    /// `d`'s config at 1.1.0 with `extra` keys added.
    fn at_1_1(d: &Delegate, extra: Option<(&str, Value)>) -> Result<Delegate, CniError> {
        let mut conf: Map<String, Value> = serde_json::from_slice(&d.stdin)
            .map_err(|e| CniError::decode(format!("delegate {:?}: {e}", d.name)))?;
        conf.insert("cniVersion".into(), "1.1.0".into());
        if let Some((k, v)) = extra {
            conf.insert(k.into(), v);
        }
        let mut out = d.clone();
        out.version = Version::V1_1_0;
        out.stdin = serde_json::to_vec(&conf).map_err(|e| CniError::decode(e.to_string()))?;
        Ok(out)
    }

    /// A request for one attachment, as GC acts on it: no netns, no args.
    fn request_for(&self, command: Command, container_id: &str, ifname: &str) -> Request {
        Request {
            command,
            container_id: container_id.to_string(),
            netns: None,
            ifname: ifname.to_string(),
            args: None,
            path: self.req.path.clone(),
        }
    }

    /// STATUS: ask each distinct delegate plugin that speaks 1.1.0; the
    /// first error is returned with its code. A delegate that cannot be
    /// found makes the network unavailable (code 50).
    pub(crate) fn status(&self) -> Result<(), CniError> {
        self.require_1_1(Command::Status)?;
        let scope = Scope::unlocked(self.fresh_deadline());
        let mut seen = HashSet::new();
        for (_, p) in self.planner().configured()? {
            for d in &p.delegates {
                if !seen.insert(d.plugin.clone()) {
                    continue;
                }
                let who = p.label(d).to_string();
                match self.speaks_1_1(scope, &p, d) {
                    Ok(true) => {}
                    Ok(false) => {
                        self.log.debug(
                            &p.label(d).scope(),
                            format_args!("{} predates STATUS: skipped", d.plugin),
                        );
                        continue;
                    }
                    Err(f @ (Failure::NotFound { .. } | Failure::Spawn { .. })) => {
                        let e = f.into_error(&who);
                        return Err(CniError::new(code::PLUGIN_NOT_AVAILABLE, e.msg));
                    }
                    Err(f) => return Err(f.into_error(&who)),
                }
                self.call(scope, &p, &Self::at_1_1(d, None)?, Command::Status, None)?;
            }
        }
        Ok(())
    }

    /// GC: undo (from their records) the attachments of this network that
    /// are not in the runtime's valid list, then forward GC to every
    /// delegate that speaks 1.1.0 with the attachments it knows as valid.
    /// Keeps going on errors and returns them all.
    pub(crate) fn gc(&self) -> Result<(), CniError> {
        self.require_1_1(Command::Gc)?;
        let valid: BTreeSet<Attachment> = self.conf.valid_attachments.iter().cloned().collect();
        let mut errors: Vec<CniError> = Vec::new();
        // One deadline for the whole operation, as for ADD and DEL: what
        // it leaves undone (records are kept) the next GC does.
        let deadline = self.fresh_deadline();
        self.gc_records(&valid, deadline, &mut errors);
        self.gc_forward(&valid, deadline, &mut errors);
        let Some(mut first) = errors.first().cloned() else {
            return Ok(());
        };
        if errors.len() > 1 {
            first.msg = format!(
                "GC: {} errors: {}",
                errors.len(),
                errors
                    .iter()
                    .map(|e| e.msg.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        Err(first)
    }

    /// DEL, from its record, every attachment not in `valid`; records stay
    /// when their DEL fails (the next GC retries) or when another operation
    /// holds them (an ADD in flight).
    fn gc_records(
        &self,
        valid: &BTreeSet<Attachment>,
        deadline: Deadline,
        errors: &mut Vec<CniError>,
    ) {
        let Some(store) = &self.store else { return };
        for path in store.sweep_leftovers() {
            self.log.info(
                "",
                format_args!("GC: removed {}, left by a killed meta-cni", path.display()),
            );
        }
        let (records, unreadable) = store.list();
        for (path, why) in unreadable {
            if why.untrusted {
                self.log.error(
                    "",
                    format_args!("GC: {why}: not replayed, left in place (see docs/security.md)"),
                );
            } else {
                self.log.warn(
                    "",
                    format_args!(
                        "GC: cannot use state file {}: {why}: left alone",
                        path.display()
                    ),
                );
            }
        }
        let stale: Vec<Attachment> = records.into_iter().filter(|a| !valid.contains(a)).collect();
        let total = stale.len();
        for (i, (cid, ifname)) in stale.iter().enumerate() {
            if deadline.expired() {
                errors.push(CniError::new(
                    code::DELEGATE_TIMEOUT,
                    format!(
                        "GC: timeoutSeconds used up with {} stale attachment(s) left (their records are kept for the next GC)",
                        total - i
                    ),
                ));
                break;
            }
            if let Err(e) = self.release(store, cid, ifname, deadline) {
                errors.extend(e);
            }
        }
    }

    /// Undo one stale attachment from its record, under its lock (skipped
    /// when an operation holds it, or when the record cannot be used): what
    /// a killed operation left running first, then every delegate's DEL.
    /// The record goes when all of them succeeded.
    fn release(
        &self,
        store: &Store,
        cid: &str,
        ifname: &str,
        deadline: Deadline,
    ) -> Result<(), Vec<CniError>> {
        let context = || format!("GC of {cid}/{ifname}");
        let lock = match store.lock(cid, ifname, false, None) {
            Ok(Some(l)) => l,
            Ok(None) => {
                self.log.info(
                    "",
                    format_args!("GC: {cid}/{ifname} is busy (an operation is running): skipped"),
                );
                return Ok(());
            }
            Err(e) => {
                let msg = format!("GC: lock {cid}/{ifname}: {e}");
                return Err(vec![match crate::trust::untrusted(&e) {
                    Some(_) => CniError::config(msg),
                    None => CniError::io(msg),
                }]);
            }
        };
        let record = match store.load(cid, ifname) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(why) if why.untrusted => {
                self.log.error(
                    "",
                    format_args!("GC: {why}: not replayed, left in place (see docs/security.md)"),
                );
                return Ok(());
            }
            Err(why) => {
                self.log.warn("", format_args!("GC: {why}: left alone"));
                return Ok(());
            }
        };
        let req = self.request_for(Command::Del, cid, ifname);
        let sub = self.for_request(&req);
        sub.end_in_flight(&lock, Some(&record), deadline)
            .map_err(|e| vec![e.context(context())])?;
        let plan = match sub.replay(&record) {
            Ok(p) => p,
            Err(why) => {
                self.log.warn(
                    "",
                    format_args!("GC: record of {cid}/{ifname} unusable ({why}): left alone"),
                );
                return Ok(());
            }
        };
        self.log.info(
            "",
            format_args!("GC: releasing stale attachment {cid}/{ifname}"),
        );
        let scope = Scope {
            deadline,
            lock: Some(&lock),
        };
        let mut errors = Vec::new();
        for (p, r) in plan.iter().rev() {
            sub.del_delegates(scope, p, &p.delegates, r.as_ref(), &mut |e| {
                errors.push(e.context(context()));
            });
        }
        let done = if errors.is_empty() {
            store.remove(lock)
        } else {
            lock.clear_in_flight()
        };
        if let Err(e) = done {
            errors.push(CniError::io(format!("GC: state of {cid}/{ifname}: {e}")));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The (containerID, ifname) each delegate used for each valid
    /// attachment, keyed by (plugin, delegate name). `None` for delegates of
    /// template pipelines when some valid attachment has no record (its
    /// instances cannot be known, and a partial list would free live ones).
    fn delegate_attachments(
        &self,
        valid: &BTreeSet<Attachment>,
    ) -> (Vec<DelegateAttachment>, bool) {
        let mut out = Vec::new();
        let mut unknown_instances = false;
        for (cid, ifname) in valid {
            let req = self.request_for(Command::Gc, cid, ifname);
            let sub = self.for_request(&req);
            let from_record = self
                .store
                .as_ref()
                .and_then(|store| store.load(cid, ifname).ok()?)
                .and_then(|record| sub.replay(&record).ok());
            let pipelines: Vec<Pipeline> = match from_record {
                Some(plan) => plan.into_iter().map(|(p, _)| p).collect(),
                None => {
                    unknown_instances |= self
                        .conf
                        .pipelines
                        .iter()
                        .any(|s| matches!(s.target, crate::config::Target::Template(_)));
                    sub.planner().pipelines().unwrap_or_default()
                }
            };
            for p in pipelines {
                for d in p.delegates {
                    let att = (
                        d.env.get("CNI_CONTAINERID").unwrap_or(cid).to_string(),
                        d.env.get("CNI_IFNAME").unwrap_or(ifname).to_string(),
                    );
                    out.push(((d.plugin, d.name), att));
                }
            }
        }
        (out, unknown_instances)
    }

    fn gc_forward(
        &self,
        valid: &BTreeSet<Attachment>,
        deadline: Deadline,
        errors: &mut Vec<CniError>,
    ) {
        let (known, unknown_instances) = self.delegate_attachments(valid);
        let scope = Scope::unlocked(deadline);
        let specs = match self.planner().configured() {
            Ok(s) => s,
            Err(e) => {
                errors.push(e);
                return;
            }
        };
        let mut sent: HashSet<(String, Vec<u8>)> = HashSet::new();
        for (template, p) in specs {
            for d in &p.delegates {
                if !sent.insert((d.plugin.clone(), d.stdin.clone())) {
                    continue;
                }
                if template && unknown_instances {
                    self.log.warn(
                        &p.label(d).scope(),
                        format_args!("GC not forwarded: a valid attachment has no record, so its template instances are unknown"),
                    );
                    continue;
                }
                match self.speaks_1_1(scope, &p, d) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(f) => {
                        errors.push(f.into_error(&p.label(d).to_string()));
                        continue;
                    }
                }
                let list: BTreeSet<&Attachment> = known
                    .iter()
                    .filter(|((plugin, name), _)| *plugin == d.plugin && *name == d.name)
                    .map(|(_, a)| a)
                    .collect();
                let list: Vec<Value> = list
                    .into_iter()
                    .map(|(c, i)| serde_json::json!({"containerID": c, "ifname": i}))
                    .collect();
                let call = match Self::at_1_1(
                    d,
                    Some(("cni.dev/valid-attachments", Value::Array(list))),
                ) {
                    Ok(c) => c,
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                };
                if let Err(e) = self.call(scope, &p, &call, Command::Gc, None) {
                    errors.push(e);
                }
            }
        }
    }
}
