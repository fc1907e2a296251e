//! `gavel demo --days N`: fills an empty data directory with N days of simulated activity ending
//! today, through the real domain code (`gavel_core::Gavel`) with a simulated clock.
//!
//! Invariants:
//! * it refuses a data directory that already holds events: simulated activity is never mixed
//!   with real records;
//! * the store is marked `simulated = true` (meta), and exports say so in their manifest;
//! * every day of the window has events (a Type II window has no coverage gaps), and a signed
//!   checkpoint closes each day;
//! * it is deterministic for a given `--seed` and end date.

use anyhow::{bail, Context};
use clap::Args;
use gavel_core::decide::DecideRequest;
use gavel_core::identity::Role;
use gavel_core::DataDir;
use gavel_core::{Gavel, NewAgent, Principal};
use gavel_ledger::clock::{format_time, Clock, ManualClock};
use gavel_policy::Mode;
use serde_json::{json, Value};
use std::process::ExitCode;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

#[derive(Args)]
pub struct DemoArgs {
    /// How many days of activity, ending today.
    #[arg(long, default_value_t = 120)]
    days: u32,
    /// Tool calls per day across the fleet.
    #[arg(long, default_value_t = 40)]
    calls_per_day: u32,
    /// Seed of the simulation (same seed, same activity).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Organisation name in the log origin.
    #[arg(long, default_value = "demo")]
    org: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// A small deterministic generator (xorshift64*): a simulation needs repeatability, not secrecy.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Where the simulated SIEM webhook points (disabled at the end of the simulation).
const SIMULATED_SIEM: &str = "https://siem.example.com/gavel";

/// The team policy the demo proposes and a second admin approves (on top of the soc2 pack).
const TEAM_POLICY: &str = r#"// Team allowlist: research agents may use the web.
@id("allow_research_web")
permit (principal in AgentGroup::"research", action == Action::"call_tool", resource == Tool::"web_search");
"#;

struct Fleet {
    name: &'static str,
    groups: &'static [&'static str],
    environment: &'static str,
    owner: &'static str,
    /// (tool, arguments) this agent typically calls.
    calls: &'static [(&'static str, &'static str)],
}

const FLEET: [Fleet; 5] = [
    Fleet {
        name: "support-bot",
        groups: &["support"],
        environment: "production",
        owner: "carol",
        calls: &[
            ("crm.lookup_customer", r#"{"customer":"C-1042"}"#),
            ("send_email", r#"{"to":"customer@example.com","subject":"Your ticket"}"#),
            ("zendesk.reply_ticket", r#"{"ticket":"Z-88","body":"We are on it"}"#),
            ("search_docs", r#"{"q":"refund policy"}"#),
            ("stripe.create_refund", r#"{"charge":"ch_1","amount":20}"#),
        ],
    },
    Fleet {
        name: "finance-bot",
        groups: &["finance"],
        environment: "production",
        owner: "dana",
        calls: &[
            ("erp.pay_invoice", r#"{"invoice":"INV-301","amount":1200}"#),
            ("sql.query_readonly", r#"{"sql":"select total from invoices"}"#),
            ("transfer_funds", r#"{"to":"ACME","amount":5000}"#),
        ],
    },
    Fleet {
        name: "ops-bot",
        groups: &["ops"],
        environment: "production",
        owner: "erin",
        calls: &[
            ("kubectl", r#"{"args":"get pods -n web"}"#),
            ("read_file", r#"{"path":"/etc/app.yaml"}"#),
            ("s3.delete_object", r#"{"bucket":"logs","key":"2025/old.gz"}"#),
            ("shell.exec", r#"{"cmd":"rm -rf /var/lib/app"}"#),
        ],
    },
    Fleet {
        name: "research-bot",
        groups: &["research"],
        environment: "staging",
        owner: "frank",
        calls: &[
            ("web_search", r#"{"q":"agent governance"}"#),
            ("github.get_issue", r#"{"repo":"acme/app","number":12}"#),
            ("slack.post_message", r#"{"channel":"general","text":"hi"}"#),
        ],
    },
    Fleet {
        name: "intern-bot",
        groups: &[],
        environment: "development",
        owner: "gina",
        calls: &[("list_files", r#"{"dir":"/tmp"}"#), ("sql.execute", r#"{"sql":"update users set x=1"}"#)],
    },
];

struct Demo {
    clock: Arc<ManualClock>,
    gavel: Gavel,
    rng: Rng,
    /// The approver who decides held calls.
    carol: Principal,
    decisions: u64,
    approvals: u64,
    /// Every event below this was read by the detectors.
    detected_to: u64,
    /// What the detectors remember between runs (as the detector task keeps it).
    detector: gavel_core::detectors::Detector,
    /// Held calls nobody answers today.
    unanswered: Vec<String>,
    incidents: u64,
    scans: u64,
}

/// One simulated agent: its credential and what it calls.
struct Member {
    token: String,
    spec: &'static Fleet,
}

impl Demo {
    /// Runs the detectors over everything new, as `gavel serve`'s detector task does.
    fn detect(&mut self) -> anyhow::Result<()> {
        loop {
            let progress = self.gavel.detect(&mut self.detector, self.detected_to, 100_000)?;
            self.detected_to = progress.position;
            if progress.caught_up {
                return Ok(());
            }
        }
    }

    /// The on-call routine: new incidents are assigned and triaged; ones open since yesterday are
    /// resolved with a writeup. `contain`: pull a kill switch on the incident's agent first.
    fn respond(&mut self, admin: &Principal, responder: &Principal, contain: bool) -> anyhow::Result<()> {
        use gavel_core::incidents::{IncidentFilter, IncidentStatus};
        let open = IncidentFilter { status: None, ..Default::default() };
        let yesterday = format_time(Clock::now(self.clock.as_ref()) - Duration::hours(20));
        for incident in self.gavel.incidents(admin, &open)? {
            let id = incident.incident.id.clone();
            if incident.incident.status == IncidentStatus::Resolved {
                continue;
            }
            if incident.incident.owner.is_none() {
                self.incidents += 1;
                self.gavel.assign_incident(admin, &id, "erin")?;
                self.clock.advance(Duration::minutes(5));
                self.gavel.triage_incident(responder, &id, None, Some("looked at the linked decisions"))?;
            }
            if contain && incident.incident.detector.as_deref() == Some("deny_spike") {
                let req: gavel_core::incidents::ContainRequest = serde_json::from_value(json!({
                    "killswitch": {"scope": "agent", "target": "ops-bot",
                                   "reason": "ops-bot is trying destructive commands in production"},
                }))?;
                self.clock.advance(Duration::minutes(7));
                self.gavel.contain_incident(responder, &id, req)?;
                self.gavel.note_incident(
                    responder,
                    &id,
                    "prompt injection through a ticket body suspected",
                )?;
                continue;
            }
            let opened_at = incident.opened_at.as_deref().unwrap_or_default();
            if opened_at < yesterday.as_str() {
                self.clock.advance(Duration::minutes(10));
                self.gavel.resolve_incident(
                    responder,
                    &id,
                    "Reviewed the linked decisions: every call was denied or held by policy, nothing \
                     ran. Root cause and fix recorded in the timeline.",
                )?;
            }
        }
        Ok(())
    }

    /// Moves the simulated clock to `hours` into the working window of `day` (0-based). Day `d`'s
    /// window starts `d` days after `start`; a day's work ends within 19 hours, so every calendar
    /// day of the range has events and the last one ends hours before the real now.
    fn at(&self, start: OffsetDateTime, day: u32, hours: f64) {
        let offset = Duration::days(i64::from(day)) + Duration::seconds_f64(hours * 3600.0);
        self.clock.set(start + offset);
    }

    /// Held calls nobody answered expire; the expiry is recorded when someone tries to decide
    /// them late, which the approver does at the end of the day.
    fn expire_unanswered(&mut self) {
        for approval_id in std::mem::take(&mut self.unanswered) {
            let late = self.gavel.decide_approval(&self.carol, &approval_id, true, None);
            debug_assert!(late.is_err(), "an unanswered hold must have expired by the end of the day");
        }
    }

    /// One tool call through `decide`, then what a real deployment does next: the agent reports
    /// the outcome, and held calls are approved, denied or left to expire.
    fn call(&mut self, agent: &Principal, tool: &str, args: &str) -> anyhow::Result<()> {
        let arguments: Value = serde_json::from_str(args).context("demo arguments")?;
        let req: DecideRequest = serde_json::from_value(json!({"tool": tool, "arguments": arguments}))?;
        let resp = self.gavel.decide(agent, req)?;
        self.decisions += 1;
        let outcome = |status: &str, receipt: Option<String>| {
            serde_json::from_value::<gavel_core::approvals::OutcomeRequest>(
                json!({"status": status, "receipt": receipt, "arguments": arguments}),
            )
        };
        match resp.decision {
            gavel_policy::Outcome::Allow => {
                self.gavel.record_outcome(agent, &resp.decision_id, outcome("succeeded", None)?)?;
            }
            gavel_policy::Outcome::RequireApproval => {
                let Some(approval_id) = resp.approval_id else { return Ok(()) };
                self.approvals += 1;
                match self.rng.below(10) {
                    0 => self.unanswered.push(approval_id),
                    1 | 2 => {
                        self.clock.advance(Duration::minutes(4));
                        self.gavel.decide_approval(
                            &self.carol,
                            &approval_id,
                            false,
                            Some("not needed now"),
                        )?;
                    }
                    _ => {
                        self.clock.advance(Duration::minutes(3));
                        self.gavel.decide_approval(
                            &self.carol,
                            &approval_id,
                            true,
                            Some("checked the request"),
                        )?;
                        let receipt = self.gavel.approval(agent, &approval_id)?.receipt;
                        self.gavel.record_outcome(
                            agent,
                            &resp.decision_id,
                            outcome("succeeded", receipt)?,
                        )?;
                    }
                }
            }
            gavel_policy::Outcome::Deny => {}
        }
        Ok(())
    }
}

pub fn run(dir: &DataDir, args: DemoArgs) -> anyhow::Result<ExitCode> {
    if !(1..=730).contains(&args.days) {
        bail!("--days must be between 1 and 730");
    }
    if !(1..=200).contains(&args.calls_per_day) {
        bail!("--calls-per-day must be between 1 and 200");
    }
    // Day d's work happens in [start + d days, start + d days + 19 h), and the last day's
    // window ends now: every calendar day from the first to today has events, none in the future.
    let now = OffsetDateTime::now_utc();
    let start = now - Duration::days(i64::from(args.days)) + Duration::hours(5);
    let clock = Arc::new(ManualClock::new(start));
    let (gavel, _) = Gavel::open(dir, clock.clone(), Some(&args.org))?;
    if gavel.log_size()? > 0 {
        bail!(
            "{} already holds events; the demo only fills an empty data directory \
             (simulated activity is never mixed with real records)",
            dir.root().display()
        );
    }
    gavel.mark_simulated()?;

    // Day 0: people, agents, policies, a SIEM webhook.
    let admin_token = gavel.bootstrap_admin()?.context("a fresh data directory has no admin yet")?.token;
    let alice = gavel.authenticate(&admin_token)?;
    let user = |name: &str, role: Role| -> anyhow::Result<Principal> {
        Ok(gavel.authenticate(&gavel.create_user(&alice, name, role)?.token)?)
    };
    let bob = user("bob", Role::Admin)?;
    let carol = user("carol", Role::Approver)?;
    let erin = user("erin", Role::Approver)?;
    user("audrey", Role::Auditor)?;
    let mut fleet = Vec::new();
    for spec in &FLEET {
        let issued = gavel.create_agent(
            &alice,
            NewAgent {
                name: spec.name.into(),
                owner: Some(spec.owner.into()),
                environment: Some(spec.environment.into()),
                tier: Some("standard".into()),
                groups: spec.groups.iter().map(|g| g.to_string()).collect(),
                limits: None,
            },
        )?;
        fleet.push(Member { token: issued.token, spec });
    }
    gavel.install_pack(&alice, "soc2")?;
    let team = gavel.propose_policy(&alice, "team", TEAM_POLICY, Some(Mode::Enforce))?;
    gavel.approve_change(&bob, &team.id, Some("reviewed"))?;
    let webhook = gavel.create_webhook(&alice, SIMULATED_SIEM, vec![])?;
    let webhook_id = webhook.endpoint.id;

    let mut demo = Demo {
        clock,
        gavel,
        rng: Rng(args.seed.max(1)),
        carol,
        decisions: 0,
        approvals: 0,
        detected_to: 0,
        detector: Default::default(),
        unanswered: Vec::new(),
        incidents: 0,
        scans: 0,
    };
    let framework = gavel_evidence::Framework::soc2()?;
    let golive_day = args.days / 4;
    let deactivate_day = args.days / 2;
    let containment_day = args.days * 5 / 8;
    let rotation_day = args.days * 3 / 4;
    for day in 0..args.days {
        demo.at(start, day, 0.0);
        if day == golive_day && day > 0 {
            let change = demo.gavel.propose_mode(&alice, "soc2", Mode::Enforce)?;
            demo.clock.advance(Duration::hours(1));
            demo.gavel.approve_change(&bob, &change.id, Some("observe mode showed no false positives"))?;
        }
        if day == deactivate_day && day > 0 {
            demo.gavel.deactivate_agent(&alice, "intern-bot", "internship ended")?;
        }
        if day == rotation_day && day > 0 {
            let rotated = demo.gavel.rotate_agent_credential(&alice, "support-bot")?;
            if let Some(m) = fleet.iter_mut().find(|m| m.spec.name == "support-bot") {
                m.token = rotated.token;
            }
        }
        if day == containment_day + 2 && day > 2 {
            demo.gavel.release_kill_switch(
                &alice,
                gavel_core::containment::Scope::Agent("ops-bot".into()),
                "prompt fixed and redeployed",
            )?;
        }
        // Calls spread over the first 15 hours of the window (approvals add minutes each).
        let step = 15 * 3600 / args.calls_per_day.max(1);
        for _ in 0..args.calls_per_day {
            let member = &fleet[demo.rng.below(fleet.len() as u64) as usize];
            let (tool, call_args) = *demo.rng.pick(member.spec.calls);
            // Authenticated per call, as the server does: a deactivation shows from the next call.
            let principal = demo.gavel.authenticate(&member.token)?;
            demo.call(&principal, tool, call_args)
                .with_context(|| format!("day {day}: {tool} by {}", member.spec.name))?;
            demo.clock.advance(Duration::seconds(i64::from(step)));
        }
        if day == containment_day && day > 0 {
            // A compromised prompt: ops-bot hammers destructive commands; the deny spike opens an
            // incident, which is assigned, triaged and contained with a kill switch.
            demo.at(start, day, 16.5);
            let ops = fleet.iter().find(|m| m.spec.name == "ops-bot").context("ops-bot")?;
            let principal = demo.gavel.authenticate(&ops.token)?;
            for _ in 0..12 {
                demo.call(&principal, "shell.exec", r#"{"cmd":"rm -rf /srv/data"}"#)?;
                demo.clock.advance(Duration::seconds(2));
            }
            demo.detect()?;
            demo.respond(&alice, &erin, true)?;
        }
        demo.detect()?;
        demo.at(start, day, 18.0);
        demo.expire_unanswered();
        demo.respond(&alice, &erin, false)?;
        if day % 7 == 6 || day + 1 == args.days {
            demo.gavel.compliance_scan(None, &framework, &gavel_core::compliance::ScanSettings::default())?;
            demo.scans += 1;
        }
        if day + 1 == args.days {
            // The simulated SIEM does not exist: a server started on this directory must not
            // spend its time retrying deliveries of every simulated event to it.
            demo.gavel.disable_webhook(
                &alice,
                &webhook_id,
                "simulated data: there is no SIEM to deliver to",
            )?;
        }
        demo.gavel.sign_checkpoint()?;
    }
    let events = demo.gavel.log_size()?;
    let summary = json!({
        "data_dir": dir.root(),
        "simulated": true,
        "days": args.days,
        "from": format_time(start),
        "to": format_time(Clock::now(demo.clock.as_ref())),
        "events": events,
        "decisions": demo.decisions,
        "approvals": demo.approvals,
        "incidents": demo.incidents,
        "scans": demo.scans,
        "admin_token": admin_token,
    });
    if args.json {
        crate::print_json(&summary);
    } else {
        println!(
            "simulated {} days of activity in {} ({} events, {} decisions, {} held for approval)",
            args.days,
            dir.root().display(),
            events,
            demo.decisions,
            demo.approvals
        );
        println!("admin token (simulated data; shown once): {admin_token}");
        println!(
            "try: gavel evidence export --framework soc2 --from {} --to {} --data-dir {}",
            &format_time(start)[..10],
            &format_time(now + Duration::days(1))[..10],
            dir.root().display()
        );
        println!(
            "note: the simulated SIEM webhook ({SIMULATED_SIEM}) is disabled; with `gavel serve` on this \
             directory, `gavel webhooks create --url <your SIEM>` streams events to a real one"
        );
    }
    Ok(ExitCode::SUCCESS)
}
