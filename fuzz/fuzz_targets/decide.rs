//! The decide request body, as an agent sends it: parsing and `check_request` never panic, and
//! a request they accept always yields an arguments digest and a `decision` event the log can
//! store (canonical bytes that `Event::from_bytes` and `Event::check_bytes` both accept), so no
//! accepted request can fail after the fact.
#![no_main]

use gavel_core::decide::{arguments_digest, check_request, DecideRequest};
use gavel_core::redact::redact;
use gavel_ledger::event::{Actor, Event, EventDraft, SealableDraft};
use gavel_ledger::jcs;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<DecideRequest>(data) else { return };
    let Ok(arguments) = check_request(&req) else { return };
    let Ok(digest) = arguments_digest(&arguments) else { return };
    assert_eq!(digest.len(), 64);
    let (redacted, redactions) = redact(&arguments);
    let data = json!({
        "decision_id": "dec_fuzz",
        "agent_id": "agt_fuzz",
        "tool": req.tool,
        "resource": req.resource,
        "arguments": redacted,
        "arguments_sha256": digest,
        "redactions": redactions,
        "on_behalf_of": req.on_behalf_of,
        "claimed_environment": req.context.environment,
        "cost_usd": req.context.cost_usd,
        "spent_usd": req.context.cost_usd.unwrap_or(0.0),
    });
    let draft = EventDraft::new("decision", Actor::agent("agt_fuzz"), data.clone())
        .expect("an accepted request is storable");
    let sealable = SealableDraft::new(&draft).expect("sealable");
    let bytes = sealable.seal(7, "2026-01-01T00:00:00.000000Z", &[0; 32]);
    let event = Event::from_bytes(&bytes).expect("the sealed event is canonical");
    Event::check_bytes(&bytes).expect("check_bytes accepts it too");
    assert_eq!(jcs::to_vec(&event.data).expect("jcs"), jcs::to_vec(&data).expect("jcs"));
});
