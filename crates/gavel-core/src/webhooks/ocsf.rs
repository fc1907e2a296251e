//! The OCSF 1.8.0 mapping of webhook payloads: [`payload`] for a log event (or a purged one),
//! [`checkpoint_payload`] for a signed checkpoint.
//!
//! Every payload has `activity_id, category_uid, class_uid,
//! metadata{product{name,vendor_name,version}, version, profiles?}, severity_id, time` (ms),
//! `type_uid = class_uid*100 + activity_id`, and `unmapped` with the class's extra fields plus
//! `unmapped.gavel{seq, leaf_hash, kind, event}` (the log event verbatim). Invariant: each payload
//! validates, exactly as delivered, against its class's OCSF JSON Schema with the profiles it
//! declares (API Activity declares `security_control`, whose attributes `action`, `disposition`
//! and `policy` it uses): no attribute outside the class, its profiles and `unmapped`, and no null
//! outside `unmapped`. gavel-server `tests/ocsf.rs` checks it for every kind in
//! [`EVENT_KINDS`](super::EVENT_KINDS) that webhooks deliver, and for the payload of a purged
//! event. The mapping is pure: a function of the event (or checkpoint) alone.
//!
//! | gavel event | OCSF class | activity | notes |
//! |---|---|---|---|
//! | `decision` | API Activity 6003 (category 6), profile `security_control` | 99 Other | `unmapped{decision_id, decision, enforced, would_have, arguments_sha256}`; `action_id` 1 allowed / 2 denied or held; `disposition_id` 1 Allowed / 2 Blocked / 14 Delayed (held for approval); `policy{uid,name,version}` (first deciding policy); `actor.app_name/app_uid` = agent, `actor.user` = on-behalf-of; `api.operation` = tool; severity 1 allow / 2 held / 3 deny |
//! | `policy.*` | Entity Management 3004 (category 3) | 1 Create (proposed), 10 Activate, 11 Deactivate, 3 Update (mode changed), 99 Other | `entity{uid,name,type:"policy_set",version}` |
//! | `tools.categories_*` | Entity Management 3004 | 1 Create (proposed), 3 Update (applied), 99 Other (rejected) | `entity{uid: change id, name: source, type: "tool_category_change"}` |
//! | `finding.*`, `outcome.recorded` with `bypass: true` | Detection Finding 2004 (category 2) | 1 Create | `finding_info{uid,title,desc,types}`, severity 4 High |
//! | `detection.raised` | Detection Finding 2004 | 1 Create | `finding_info{uid: detection id, title: summary, types: ["gavel.<detector>"]}`, `severity_id` 2 low / 3 medium / 4 high / 5 critical, `status_id` 1 New; detector, agent, tool, source seqs in `unmapped` |
//! | `incident.*` | Incident Finding 2005 (category 2) | 1 Create (`opened`), 3 Close (`resolved`), 2 Update (the rest) | `finding_info_list` (the detection or the incident), `status_id` 1 New / 2 In Progress / 4 Resolved, `assignee{name,uid}` = owner, or before assignment `assignee_group{name: "gavel incident responders"}` (OCSF requires one of them), `desc` = writeup or note |
//! | anything else | Entity Management 3004 | 1 Create (`*.created`, `*.registered`, `*.installed`), 10 Activate (`*.reactivated`, `*.released`), 11 Deactivate, 12 Suspend, 3 Update, else 99 Other | `unmapped{kind, data}` |
//! | (payload purged past retention) | Entity Management 3004 | 99 Other | `entity{uid: seq, type: "log_event"}`, `unmapped{purged: true, gavel{seq, leaf_hash, kind: null, event: null}}` |

use super::kinds::CHECKPOINT_KIND;
use gavel_events::{
    kind, read, Decision, DetectionRaised, FindingBypass, FindingStep, IncidentEvent, OutcomeRecorded,
    PolicyApplied, PolicyProposed, PolicyRejected, Verdict,
};
use gavel_ledger::clock::parse_time;
use gavel_ledger::event::Event;
use serde_json::{json, Value};

fn ocsf_time_ms(time: &str) -> i64 {
    parse_time(time).map_or(0, |t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

fn entity_activity(kind: &str) -> (u32, &'static str) {
    let action = kind.rsplit('.').next().unwrap_or(kind);
    match action {
        "created" | "registered" | "installed" | "proposed" => (1, "Create"),
        "activated" | "reactivated" | "released" => (10, "Activate"),
        "deactivated" => (11, "Deactivate"),
        "suspended" => (12, "Suspend"),
        "categories_proposed" => (1, "Create"),
        "role_changed" | "limits_changed" | "mode_changed" | "engaged" | "updated" | "decided"
        | "categories_applied" => (3, "Update"),
        _ => (99, "Other"),
    }
}

/// The OCSF-shaped payload of one log event (see the module doc for the mapping).
pub fn payload(seq: u64, leaf_hash: &str, event: Option<&Event>) -> Value {
    let Some(e) = event else {
        // Payload purged past retention: the chain still vouches for the leaf hash.
        return json!({
            "activity_id": 99, "category_uid": 3, "class_uid": 3004, "type_uid": 300_499, "severity_id": 1,
            "time": 0, "metadata": metadata(&[]),
            // Entity Management requires an entity: the log event whose payload is gone.
            "entity": {"uid": seq.to_string(), "type": "log_event"},
            "unmapped": {"purged": true,
                         "gavel": {"seq": seq, "leaf_hash": leaf_hash, "kind": null, "event": null}},
        });
    };
    let d = &e.data;
    let time = ocsf_time_ms(&e.time);
    let outcome = (e.kind == kind::OUTCOME_RECORDED).then(|| read::<OutcomeRecorded>(d));
    let bypass = outcome.as_ref().is_some_and(|o| o.bypass);
    let mut p = if e.kind == kind::DECISION {
        decision_payload(&read(d))
    } else if e.kind == kind::DETECTION_RAISED {
        detection_payload(&read(d))
    } else if let Some(incident) = IncidentEvent::read(&e.kind, d) {
        incident_payload(&e.kind, &incident, d)
    } else if e.kind.starts_with("finding.") || bypass {
        // Which finding, and what it says (OCSF's `desc` is a string; an outcome's findings are
        // a list of sentences).
        let (uid, desc) = match (e.kind.as_str(), outcome) {
            (_, Some(o)) => {
                (o.finding_id.unwrap_or(o.decision_id), o.detail.unwrap_or_else(|| o.findings.join("; ")))
            }
            (kind::FINDING_BYPASS, None) => {
                let f: FindingBypass = read(d);
                (f.finding_id.unwrap_or(f.decision_id), f.detail)
            }
            _ => {
                let f: FindingStep = read(d);
                let uid = Some(f.finding_id).filter(|id| !id.is_empty());
                (
                    uid.or_else(|| f.decision_id.as_str().map(str::to_string)).unwrap_or_default(),
                    String::new(),
                )
            }
        };
        json!({
            "class_uid": 2004, "class_name": "Detection Finding", "category_uid": 2, "category_name": "Findings",
            "activity_id": 1, "activity_name": "Create", "severity_id": 4,
            "finding_info": {"uid": if uid.is_empty() { format!("seq-{seq}") } else { uid }, "title": e.kind,
                             "desc": desc,
                             "types": ["gavel.bypass"]},
            "status_id": 1,
            "unmapped": d,
        })
    } else {
        let (activity_id, activity_name) = entity_activity(&e.kind);
        let entity_type = e.kind.split('.').next().unwrap_or("entity");
        let uid = ["set_id", "id", "agent_id", "user_id", "scope", "approval_id", "decision_id", "name"]
            .iter()
            .find_map(|k| d[*k].as_str())
            .unwrap_or_default();
        let mut entity = json!({"uid": uid, "type": entity_type});
        if let Some((set_id, version)) = policy_set_version(&e.kind, d) {
            entity = json!({"uid": set_id, "name": set_id, "type": "policy_set",
                            "version": version.map(|v| v.to_string())});
        }
        if e.kind.starts_with("tools.categories_") {
            // The change is the entity; its source (an upstream's configuration, or an admin)
            // names it for a reader.
            let change_id = d["change_id"].as_str().unwrap_or_default();
            entity = json!({"uid": change_id, "name": d["source"].as_str().unwrap_or(change_id),
                            "type": "tool_category_change"});
        }
        json!({
            "class_uid": 3004, "class_name": "Entity Management", "category_uid": 3,
            "category_name": "Identity & Access Management",
            "activity_id": activity_id, "activity_name": activity_name, "severity_id": 1,
            "entity": entity,
            "unmapped": {"kind": e.kind, "data": d},
        })
    };
    let class_uid = p["class_uid"].as_u64().unwrap_or(0);
    let activity_id = p["activity_id"].as_u64().unwrap_or(0);
    let Some(o) = p.as_object_mut() else { return p };
    o.insert("type_uid".into(), json!(class_uid * 100 + activity_id));
    o.insert("time".into(), json!(time));
    // `action`, `disposition` and `policy` of API Activity are attributes of the Security
    // Control profile: a payload using them must declare it, or validating receivers reject it.
    let profiles: &[&str] = if class_uid == 6003 { &["security_control"] } else { &[] };
    o.insert("metadata".into(), metadata(profiles));
    // Finding classes have no actor attribute in OCSF.
    if !o.contains_key("actor") && !(2000..3000).contains(&class_uid) {
        o.insert("actor".into(), json!({"user": {"uid": e.actor.id, "type": e.actor.kind.as_str()}}));
    }
    // OCSF attributes are typed and never nullable: an absent value is left out, at any depth.
    // `unmapped` is exempt: it carries the log event verbatim (its nulls are part of what the
    // leaf hash covers).
    let mut unmapped = o.remove("unmapped").unwrap_or_else(|| json!({}));
    for v in o.values_mut() {
        drop_nulls(v);
    }
    o.retain(|_, v| !v.is_null());
    if !unmapped.is_object() {
        unmapped = json!({ "value": unmapped });
    }
    unmapped["gavel"] = json!({"seq": seq, "leaf_hash": leaf_hash, "kind": e.kind, "event": e});
    o.insert("unmapped".into(), unmapped);
    p
}

/// API Activity 6003 for a `decision`.
fn decision_payload(d: &Decision) -> Value {
    let (action_id, action, disposition_id, disposition, severity_id) = match d.decision {
        Verdict::Allow => (1, "Allowed", 1, "Allowed", 1),
        Verdict::RequireApproval => (2, "Denied", 14, "Delayed", 2),
        Verdict::Deny => (2, "Denied", 2, "Blocked", 3),
    };
    let policy = d.policies.first().map(|p| {
        json!({"uid": format!("{}/{}", p.set_id, p.policy_id), "name": p.policy_id, "version": p.version.to_string()})
    });
    let mut actor = json!({"app_name": d.agent_name, "app_uid": d.agent_id});
    if let Some(user) = &d.on_behalf_of {
        actor["user"] = json!({"name": user});
    }
    // OCSF wants `type` to be a string: left out for tools without a category.
    let resources = d.resource.as_ref().map(|r| {
        let mut res = json!({"name": r});
        if let Some(category) = &d.tool_category {
            res["type"] = json!(category);
        }
        json!([res])
    });
    json!({
        "class_uid": 6003, "class_name": "API Activity", "category_uid": 6, "category_name": "Application Activity",
        "activity_id": 99, "activity_name": "Other", "severity_id": severity_id,
        "action_id": action_id, "action": action, "disposition_id": disposition_id, "disposition": disposition,
        "status_id": 1, "status": "Success",
        "actor": actor,
        "api": {"operation": d.tool, "service": {"name": "gavel"}},
        "src_endpoint": {"name": d.agent_name, "uid": d.agent_id},
        "resources": resources,
        "policy": policy,
        "message": d.reasons.join("; "),
        "unmapped": {"decision_id": d.decision_id, "decision": d.decision, "enforced": d.enforced,
                     "would_have": d.would_have, "arguments_sha256": d.arguments_sha256},
    })
}

/// Detection Finding 2004 for a `detection.raised`.
fn detection_payload(d: &DetectionRaised) -> Value {
    let severity = crate::incidents::Severity::parse(&d.severity).ok();
    let detector = if d.detector.is_empty() { "detection" } else { d.detector.as_str() };
    json!({
        "class_uid": 2004, "class_name": "Detection Finding", "category_uid": 2, "category_name": "Findings",
        "activity_id": 1, "activity_name": "Create",
        "severity_id": severity.map_or(1, |s| s.ocsf_id()), "severity": d.severity,
        "status_id": 1, "status": "New",
        "finding_info": {"uid": d.detection_id, "title": d.summary, "desc": d.summary,
                         "types": [format!("gavel.{detector}")]},
        "message": d.summary,
        "unmapped": {"detector": d.detector, "agent": d.agent, "agent_name": d.agent_name,
                     "tool": d.tool, "source_seq": d.source_seq, "source_seqs": d.source_seqs,
                     "decision_id": d.decision_id, "details": d.details, "opens_incident": d.incident},
    })
}

/// Incident Finding 2005 for an `incident.*` event (`data` is the event's, verbatim in `unmapped`).
fn incident_payload(event_kind: &str, incident: &IncidentEvent, data: &Value) -> Value {
    let severity = crate::incidents::Severity::parse(incident.severity()).ok();
    let (activity_id, activity_name) = match incident {
        IncidentEvent::Opened(_) => (1, "Create"),
        IncidentEvent::Resolved(_) => (3, "Close"),
        _ => (2, "Update"),
    };
    let (status_id, status) = match (incident, incident.status()) {
        (IncidentEvent::Opened(_), _) | (_, Some("open")) => (1, "New"),
        (IncidentEvent::Resolved(_), _) | (_, Some("resolved")) => (4, "Resolved"),
        _ => (2, "In Progress"),
    };
    let (detection_id, detector) = incident.detection();
    let title = incident.title().or(incident.summary()).unwrap_or(event_kind);
    let mut finding = json!({"uid": detection_id.unwrap_or(incident.incident_id()), "title": title});
    if let Some(detector) = detector {
        finding["types"] = json!([format!("gavel.{detector}")]);
    }
    let mut p = json!({
        "class_uid": 2005, "class_name": "Incident Finding", "category_uid": 2, "category_name": "Findings",
        "activity_id": activity_id, "activity_name": activity_name,
        "severity_id": severity.map_or(1, |s| s.ocsf_id()), "severity": incident.severity(),
        "status_id": status_id, "status": status,
        "finding_info_list": [finding],
        "desc": incident.text(),
        "message": event_kind,
        "unmapped": {"incident_id": incident.incident_id(), "kind": event_kind, "data": data},
    });
    // OCSF needs an assignee: the owner once assigned, until then the responders' queue.
    match incident.owner() {
        (Some(owner), owner_id) => p["assignee"] = json!({"name": owner, "uid": owner_id}),
        (None, _) => p["assignee_group"] = json!({"name": "gavel incident responders", "uid": "unassigned"}),
    }
    p
}

/// The policy set and version a `policy.*` event is about.
fn policy_set_version(event_kind: &str, d: &Value) -> Option<(String, Option<u64>)> {
    Some(match event_kind {
        kind::POLICY_PROPOSED => {
            let p: PolicyProposed = read(d);
            (p.set_id, p.version)
        }
        kind::POLICY_ACTIVATED | kind::POLICY_DEACTIVATED | kind::POLICY_MODE_CHANGED => {
            let p: PolicyApplied = read(d);
            (p.set_id, p.version)
        }
        kind::POLICY_REJECTED => (read::<PolicyRejected>(d).set_id, None),
        k if k.starts_with("policy.") => {
            let p: PolicyApplied = read(d);
            (p.set_id, p.version)
        }
        _ => return None,
    })
}

/// A signed checkpoint as delivered: what [`checkpoint_payload`] maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The C2SP signed note, verbatim.
    pub note: String,
    pub origin: String,
    pub tree_size: u64,
    /// The RFC 6962 root at `tree_size`.
    pub root: gavel_ledger::Hash,
    /// The signer's key name (the origin) and its 4-byte C2SP key id.
    pub key_name: String,
    pub key_id: [u8; 4],
    /// When it was signed (log time form).
    pub signed_at: String,
}

/// The OCSF payload of a `checkpoint.signed` delivery: Entity Management 3004, activity 1 Create,
/// the entity being the checkpoint (`uid` `<origin>/<tree size>`, `name` the origin, `type`
/// `log_checkpoint`, `version` the tree size), the note verbatim in `raw_data` and, for machines,
/// `unmapped.gavel{kind, checkpoint{origin, tree_size, root_hash (hex), key_name, key_id (hex),
/// note, signed_at}}`. There is no seq or leaf hash: it is not a log event.
pub fn checkpoint_payload(c: &SignedCheckpoint) -> Value {
    let root_hash = hex::encode(c.root);
    json!({
        "class_uid": 3004, "class_name": "Entity Management", "category_uid": 3,
        "category_name": "Identity & Access Management",
        "activity_id": 1, "activity_name": "Create", "type_uid": 300_401, "severity_id": 1,
        "time": ocsf_time_ms(&c.signed_at), "metadata": metadata(&[]),
        "actor": {"user": {"uid": "checkpoints", "type": "system"}},
        "entity": {"uid": format!("{}/{}", c.origin, c.tree_size), "name": c.origin, "type": "log_checkpoint",
                   "version": c.tree_size.to_string()},
        "message": format!("signed checkpoint of {} at tree size {} (root {root_hash})", c.origin, c.tree_size),
        "raw_data": c.note,
        "unmapped": {"gavel": {"kind": CHECKPOINT_KIND, "checkpoint": {
            "origin": c.origin, "tree_size": c.tree_size, "root_hash": root_hash, "key_name": c.key_name,
            "key_id": hex::encode(c.key_id), "note": c.note, "signed_at": c.signed_at}}},
    })
}

/// Removes null members of objects, recursively (array elements that are null stay: none of the
/// mapped arrays can hold one).
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.retain(|_, x| !x.is_null());
            o.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn metadata(profiles: &[&str]) -> Value {
    let mut m = json!({"product": {"name": "gavel", "vendor_name": "gavel", "version": env!("CARGO_PKG_VERSION")},
                       "version": "1.8.0"});
    if !profiles.is_empty() {
        m["profiles"] = json!(profiles);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use gavel_ledger::event::Actor;

    #[test]
    fn ocsf_mapping() {
        let event = |kind: &str, data: Value| Event {
            seq: 7,
            time: "2026-11-02T09:00:00.000000Z".into(),
            kind: kind.into(),
            actor: Actor::agent("agt_1"),
            data,
            prev: "00".repeat(32),
        };
        let d = payload(
            7,
            "ab",
            Some(&event(
                "decision",
                json!({
            "decision": "deny", "tool": "wipe_disk", "agent_id": "agt_1", "agent_name": "bot",
            "policies": [{"set_id": "team", "policy_id": "no_wipe", "version": 2}], "reasons": ["forbidden"]}),
            )),
        );
        assert_eq!(
            (d["class_uid"].clone(), d["category_uid"].clone(), d["activity_id"].clone()),
            (json!(6003), json!(6), json!(99))
        );
        assert_eq!(d["type_uid"], 600_399);
        assert_eq!((d["action_id"].clone(), d["disposition_id"].clone()), (json!(2), json!(2)));
        assert_eq!(d["policy"], json!({"uid": "team/no_wipe", "name": "no_wipe", "version": "2"}));
        assert_eq!(d["api"]["operation"], "wipe_disk");
        assert_eq!(d["time"], 1_793_610_000_000i64);
        assert_eq!(d["metadata"]["version"], "1.8.0");
        assert_eq!(d["unmapped"]["gavel"]["seq"], 7);
        assert_eq!(d["unmapped"]["gavel"]["event"]["kind"], "decision");
        assert_eq!(d["unmapped"]["decision"], "deny");
        assert_eq!(d["metadata"]["profiles"], json!(["security_control"]));
        assert!(d.get("gavel").is_none(), "OCSF admits no unknown top-level attribute");
        let a = payload(7, "ab", Some(&event("decision", json!({"decision": "allow"}))));
        assert_eq!((a["action_id"].clone(), a["disposition_id"].clone()), (json!(1), json!(1)));
        let p = payload(8, "cd", Some(&event("policy.activated", json!({"set_id": "team", "version": 3}))));
        assert_eq!(
            (p["class_uid"].clone(), p["activity_id"].clone(), p["type_uid"].clone()),
            (json!(3004), json!(10), json!(300_410))
        );
        assert_eq!(p["entity"]["type"], "policy_set");
        // A mode change has no version: OCSF's `entity.version` is a string, never null, so it is
        // left out of the mapping while the event in `unmapped` stays verbatim.
        let m = payload(
            8,
            "cd",
            Some(&event(
                "policy.proposed",
                json!({"set_id": "team", "action": "set_mode", "version": null, "mode": "enforce"}),
            )),
        );
        assert!(m["entity"].get("version").is_none(), "{m}");
        assert!(m["unmapped"]["gavel"]["event"]["data"].get("version").is_some_and(Value::is_null));
        let f =
            payload(9, "ef", Some(&event("finding.bypass", json!({"decision_id": "dec_1", "detail": "x"}))));
        assert_eq!((f["class_uid"].clone(), f["type_uid"].clone()), (json!(2004), json!(200_401)));
        let b = payload(
            9,
            "ef",
            Some(&event(
                "outcome.recorded",
                json!({"decision_id": "dec_1", "bypass": true, "findings": ["denied", "args differ"]}),
            )),
        );
        assert_eq!(b["class_uid"], 2004);
        assert_eq!(b["finding_info"]["desc"], "denied; args differ", "OCSF desc is a string");
        let gone = payload(14, "05", None);
        assert_eq!((gone["class_uid"].clone(), gone["entity"]["uid"].clone()), (json!(3004), json!("14")));
        assert_eq!(gone["unmapped"]["gavel"]["seq"], 14);
        // A tool category change is its own entity, named by its source.
        let c = payload(
            10,
            "01",
            Some(&event(
                "tools.categories_applied",
                json!({"change_id": "tcc_1", "source": "upstream:files"}),
            )),
        );
        assert_eq!((c["activity_id"].clone(), c["type_uid"].clone()), (json!(3), json!(300_403)));
        assert_eq!(
            c["entity"],
            json!({"uid": "tcc_1", "name": "upstream:files", "type": "tool_category_change"})
        );
        let r = payload(10, "01", Some(&event("tools.categories_rejected", json!({"change_id": "tcc_1"}))));
        assert_eq!((r["activity_id"].clone(), r["entity"]["name"].clone()), (json!(99), json!("tcc_1")));
        let o = payload(10, "01", Some(&event("user.created", json!({"id": "usr_1"}))));
        assert_eq!((o["class_uid"].clone(), o["activity_id"].clone()), (json!(3004), json!(1)));
        assert_eq!(o["unmapped"]["kind"], "user.created");
        let det = payload(
            11,
            "02",
            Some(&event(
                "detection.raised",
                json!({"detection_id": "det_1", "detector": "deny_spike", "severity": "high", "summary": "spike"}),
            )),
        );
        assert_eq!((det["class_uid"].clone(), det["type_uid"].clone()), (json!(2004), json!(200_401)));
        assert_eq!(
            (det["severity_id"].clone(), det["finding_info"]["uid"].clone()),
            (json!(4), json!("det_1"))
        );
        assert!(det.get("actor").is_none(), "finding classes have no actor");
        let opened = payload(
            12,
            "03",
            Some(&event(
                "incident.opened",
                json!({"incident_id": "inc_1", "title": "t", "severity": "critical"}),
            )),
        );
        assert_eq!((opened["class_uid"].clone(), opened["type_uid"].clone()), (json!(2005), json!(200_501)));
        assert_eq!((opened["severity_id"].clone(), opened["status_id"].clone()), (json!(5), json!(1)));
        assert!(opened.get("assignee").is_none() && opened["assignee_group"].is_object());
        let resolved = payload(
            13,
            "04",
            Some(&event(
                "incident.resolved",
                json!({"incident_id": "inc_1", "status": "resolved", "owner": "carol", "owner_id": "usr_1",
                       "writeup": "w", "severity": "high"}),
            )),
        );
        assert_eq!((resolved["activity_id"].clone(), resolved["status_id"].clone()), (json!(3), json!(4)));
        assert_eq!(resolved["assignee"], json!({"name": "carol", "uid": "usr_1"}));
        assert_eq!(resolved["desc"], "w");
        for v in [d, a, p, f, b, o, det, opened, resolved] {
            for k in [
                "activity_id",
                "category_uid",
                "class_uid",
                "metadata",
                "severity_id",
                "time",
                "type_uid",
                "unmapped",
            ] {
                assert!(v.get(k).is_some(), "{k} missing in {v}");
            }
        }
    }
}
