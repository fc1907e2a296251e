//! `report.pdf`: the human-readable report of an evidence bundle, rendered with
//! krilla.
//!
//! Content: a title page (org, framework, period, generated at, generator, a SIMULATED banner for
//! simulated data, the result at a glance), then the Type II validation with its coverage gaps,
//! the per-criterion table, findings, disclosed gaps, warnings, the integrity facts and how to
//! verify the bundle.
//!
//! Invariants:
//! * **Made from what the export already computed** ([`ReportInput`]: the manifest values, the
//!   per-criterion results, the integrity facts), never from the period's events: the export
//!   streams and so does this. Everything shown is also in the signed JSON files, which remain
//!   the evidence; `gavel evidence verify` checks it through SHA256SUMS and, when the same gavel
//!   version made it, re-renders it from the verified files and compares the bytes (`claims`).
//! * **Deterministic.** The same input gives the same bytes: the only date in the document is
//!   `generated_at` (also its creation date), krilla derives the document ids from the content,
//!   and nothing iterates a hash map.
//! * **Fits the page.** Text is laid out on A4 here (krilla draws glyphs, it does not lay out):
//!   greedy word wrapping with advance widths from the font, and words wider than the column
//!   (hashes, keys) broken between characters, long machine values set smaller. No shaping, so
//!   Latin scripts only; characters the font lacks print as `?`. A test reads the text back
//!   with pypdf (a pinned test oracle).
//! * **One embedded font**, DejaVu Sans (`fonts/`, vendored with its license; krilla embeds a
//!   subset), so rendering needs nothing from the machine. Bold is the same font filled and
//!   stroked.

use crate::export::{date_str, CriterionResult, TypeII};
use crate::framework::Framework;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::{DateTime, Metadata};
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, GlyphId, KrillaGlyph};
use krilla::Document;
use skrifa::instance::{LocationRef, Size};
use skrifa::metrics::GlyphMetrics;
use skrifa::{FontRef, MetadataProvider};
use time::{Date, Duration, OffsetDateTime};

/// The bundle file this module writes.
pub const REPORT_FILE: &str = "report.pdf";

/// DejaVu Sans 2.37 (see `fonts/LICENSE-DejaVu.txt`).
const FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 56.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;
/// The body ends here; the footer is below.
const BODY_BOTTOM: f32 = PAGE_H - MARGIN;
const BODY: f32 = 10.0;
const SMALL: f32 = 8.0;
const LEADING: f32 = 1.35;
/// At most this many coverage-gap days are listed (manifest.json has them all).
const MAX_GAP_DAYS: usize = 400;

const BLACK: Rgb = Rgb(0, 0, 0);
const GREY: Rgb = Rgb(90, 90, 90);
const RED: Rgb = Rgb(170, 20, 20);
const GREEN: Rgb = Rgb(0, 110, 50);
const AMBER: Rgb = Rgb(150, 90, 0);
const WHITE: Rgb = Rgb(255, 255, 255);
const SHADE: Rgb = Rgb(235, 235, 235);
const RULE: Rgb = Rgb(190, 190, 190);

/// The integrity facts of the bundle (integrity.json).
#[derive(Debug, Clone)]
pub struct Integrity<'a> {
    pub hash_chain_verified: bool,
    /// Why the chain does not verify, when it does not.
    pub chain_reason: Option<&'a str>,
    pub total_events: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub first_event_time: Option<&'a str>,
    pub last_event_time: Option<&'a str>,
    pub checkpoint_size: u64,
    /// Hex root of the checkpoint's tree.
    pub checkpoint_root: &'a str,
    /// The log's verifier key string.
    pub log_key: &'a str,
}

/// Everything the report shows, as the export computed it.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    pub framework: &'a Framework,
    pub org: &'a str,
    /// First day of the period (inclusive).
    pub from: Date,
    /// Day after the period (exclusive).
    pub to: Date,
    pub generated_at: OffsetDateTime,
    pub generator: &'a str,
    pub simulated: bool,
    pub log_origin: &'a str,
    pub retention_days: u32,
    pub type_ii: &'a TypeII,
    pub criteria: &'a [CriterionResult],
    /// manifest.json `warnings`.
    pub warnings: &'a [String],
    pub integrity: Integrity<'a>,
    /// What auditors sample (samples.json).
    pub samples: &'a crate::samples::Samples,
}

/// Rendering failed (the embedded font did not load, or krilla refused the document).
#[derive(Debug, thiserror::Error)]
#[error("report.pdf: {0}")]
pub struct ReportError(String);

/// Renders the report; the bytes start with `%PDF-`.
pub fn render(input: &ReportInput<'_>) -> Result<Vec<u8>, ReportError> {
    let metrics = FontMetrics::new()?;
    let pages = layout(&metrics, input);

    let font = Font::new(FONT.to_vec().into(), 0)
        .ok_or_else(|| ReportError("the embedded font cannot be read".into()))?;
    let mut doc = Document::new();
    let total = pages.len();
    let footer_left = format!(
        "{} | {} | {} to {}",
        input.org,
        input.framework.framework.name,
        date_str(input.from),
        date_str(last_day(input))
    );
    for (i, ops) in pages.iter().enumerate() {
        let settings =
            PageSettings::from_wh(PAGE_W, PAGE_H).ok_or_else(|| ReportError("invalid page size".into()))?;
        let mut page = doc.start_page_with(settings);
        let mut s = page.surface();
        for op in ops {
            draw(&mut s, &font, &metrics, op);
        }
        // Footer: who and what, page numbers, and the simulated flag on every page.
        let y = PAGE_H - MARGIN / 2.0;
        let right = format!("Page {} of {total}", i + 1);
        let left = metrics.fit(&footer_left, SMALL, CONTENT_W - metrics.width(&right, SMALL) - 110.0);
        draw(&mut s, &font, &metrics, &Op::text(MARGIN, y, SMALL, left, GREY, false));
        let rx = PAGE_W - MARGIN - metrics.width(&right, SMALL);
        draw(&mut s, &font, &metrics, &Op::text(rx, y, SMALL, right.clone(), GREY, false));
        if input.simulated {
            let sim = "SIMULATED DATA".to_string();
            let sx = rx - 12.0 - metrics.width(&sim, SMALL);
            draw(&mut s, &font, &metrics, &Op::text(sx, y, SMALL, sim, RED, true));
        }
        s.finish();
        page.finish();
    }
    let g = input.generated_at.to_offset(time::UtcOffset::UTC);
    doc.set_metadata(
        Metadata::new()
            .title(format!(
                "{} evidence report: {}, {} to {}",
                input.framework.framework.name,
                input.org,
                date_str(input.from),
                date_str(last_day(input))
            ))
            .creator(input.generator.to_string())
            .language("en".to_string())
            .creation_date(
                DateTime::new(u16::try_from(g.year()).unwrap_or(0))
                    .month(u8::from(g.month()))
                    .day(g.day())
                    .hour(g.hour())
                    .minute(g.minute())
                    .second(g.second())
                    .utc_offset_hour(0)
                    .utc_offset_minute(0),
            ),
    );
    doc.finish().map_err(|e| ReportError(format!("krilla: {e:?}")))
}

/// The pages' drawing operations (without the footers).
fn layout(metrics: &FontMetrics, input: &ReportInput<'_>) -> Vec<Vec<Op>> {
    let mut l = Layout::new(metrics);
    content(&mut l, input);
    l.finish()
}

fn last_day(input: &ReportInput<'_>) -> Date {
    input.to - Duration::days(1)
}

/// The document, top to bottom.
fn content(l: &mut Layout<'_>, input: &ReportInput<'_>) {
    let fw = &input.framework.framework;
    let tii = input.type_ii;
    let integ = &input.integrity;

    // Title page.
    l.y = MARGIN + 120.0;
    l.para(&format!("{} evidence report", fw.name), 24.0, BLACK, true);
    l.space(6.0);
    l.para(input.org, 16.0, GREY, false);
    l.space(24.0);
    if input.simulated {
        l.banner(
            "SIMULATED DATA",
            "This bundle was produced with a simulated clock (gavel demo). It shows what a report \
             looks like; it is not evidence of real activity.",
        );
        l.space(16.0);
    }
    let period = format!(
        "{} to {} ({} day(s); the period is [{} 00:00Z, {} 00:00Z))",
        tii.start_date,
        tii.end_date,
        tii.observation_days,
        date_str(input.from),
        date_str(input.to)
    );
    l.kv("Organisation", input.org, false);
    l.kv("Framework", &format!("{} ({}), id {}", fw.name, fw.version, fw.id), false);
    l.kv("Criteria source", &fw.source, false);
    l.kv("Period", &period, false);
    l.kv("Generated at", &gavel_ledger::clock::format_time(input.generated_at), false);
    l.kv("Generator", input.generator, false);
    l.kv("Log origin", input.log_origin, false);
    l.kv("Framework SHA-256", &input.framework.sha256, true);
    l.space(18.0);
    let satisfied = input.criteria.iter().filter(|c| c.status == "satisfied").count();
    l.para("At a glance", 13.0, BLACK, true);
    l.space(4.0);
    l.kv(
        "Type II",
        &if tii.type_ii {
            format!("valid: {} days of observation, no coverage gaps", tii.observation_days)
        } else {
            format!("not valid: {}", tii.warnings.join("; "))
        },
        false,
    );
    l.kv(
        "Criteria",
        &format!(
            "{satisfied} of {} satisfied; {} gap(s) disclosed",
            input.criteria.len(),
            input.framework.gaps.len()
        ),
        false,
    );
    l.kv("Log events", &integ.total_events.to_string(), false);
    l.kv(
        "Hash chain",
        if integ.hash_chain_verified { "verified over the period" } else { "DOES NOT VERIFY" },
        false,
    );
    l.space(18.0);
    l.para(
        "This report renders what the bundle's signed files say (manifest.json, summary.json, \
         controls/, integrity.json). Those files are the evidence: gavel evidence verify recomputes \
         them from events.jsonl. This PDF is itself listed in SHA256SUMS and so covered by the \
         bundle's signature.",
        SMALL + 1.0,
        GREY,
        false,
    );

    // Type II.
    l.new_page();
    l.heading("1. Type II validation");
    let (verdict, color) = if tii.type_ii {
        ("The period qualifies for a Type II report.", GREEN)
    } else {
        ("The period does not qualify for a Type II report.", RED)
    };
    l.para(verdict, BODY, color, true);
    l.space(4.0);
    l.kv("Observation days", &tii.observation_days.to_string(), false);
    l.kv("First day", &tii.start_date, false);
    l.kv("Last day", &tii.end_date, false);
    l.kv("Minimum window", &format!("{} days", crate::export::TYPE_II_MIN_DAYS), false);
    l.kv("Coverage gaps", &format!("{} day(s) without any event", tii.coverage_gaps.len()), false);
    if !tii.coverage_gaps.is_empty() {
        let shown: Vec<&str> = tii.coverage_gaps.iter().take(MAX_GAP_DAYS).map(String::as_str).collect();
        let mut text = shown.join(", ");
        if tii.coverage_gaps.len() > MAX_GAP_DAYS {
            text.push_str(&format!(
                ", and {} more (manifest.json type_ii.coverage_gaps lists them all)",
                tii.coverage_gaps.len() - MAX_GAP_DAYS
            ));
        }
        l.space(4.0);
        l.para(&text, SMALL + 1.0, BLACK, false);
    }
    for w in &tii.warnings {
        l.space(2.0);
        l.para(&format!("Warning: {w}"), BODY, AMBER, false);
    }

    // Criteria.
    l.space(10.0);
    l.heading("2. Criteria");
    l.para(
        "Status is satisfied when the period has evidence for the criterion and every rule of \
         what operating means for it holds over the period's facts (each failed rule is a finding \
         of level fail). Rules and facts are in controls/<ID>.json and summary.json; evidence rows \
         in controls/<ID>.json and controls/<ID>.csv.",
        SMALL + 1.0,
        GREY,
        false,
    );
    l.space(6.0);
    let cols = [("ID", 50.0), ("Criterion and summary", CONTENT_W - 50.0 - 80.0 - 55.0), ("Status", 80.0)];
    let cols = [cols[0], cols[1], cols[2], ("Evidence", 55.0)];
    let rows: Vec<Vec<Vec<Span>>> = input
        .criteria
        .iter()
        .map(|c| {
            let color = if c.status == "satisfied" { GREEN } else { RED };
            vec![
                vec![Span::new(&c.id, BODY, BLACK, true)],
                vec![Span::new(&c.title, BODY, BLACK, true), Span::new(&c.summary, SMALL + 1.0, GREY, false)],
                vec![Span::new(&c.status, BODY, color, true)],
                vec![Span::new(&c.evidence_count.to_string(), BODY, BLACK, false)],
            ]
        })
        .collect();
    l.table(&cols, &rows);

    // Findings.
    l.space(10.0);
    l.heading("3. Findings");
    let mut any = false;
    for c in input.criteria.iter().filter(|c| !c.findings.is_empty()) {
        any = true;
        l.keep(BODY * LEADING * 2.0);
        l.para(&format!("{}  {}", c.id, c.title), BODY, BLACK, true);
        for f in &c.findings {
            let color = match f.level {
                "fail" => RED,
                "warn" => AMBER,
                _ => BLACK,
            };
            l.indented(12.0, |l| l.para(&format!("{}: {}", f.level, f.message), BODY, color, false));
        }
        l.space(4.0);
    }
    if !any {
        l.para("No criterion has a finding.", BODY, BLACK, false);
    }

    samples(l, input.samples);

    // Disclosed gaps.
    l.space(10.0);
    l.heading("5. Disclosed gaps");
    if input.framework.gaps.is_empty() {
        l.para("The framework discloses no gap.", BODY, BLACK, false);
    } else {
        l.para(
            "Criteria gavel cannot evidence from its log. They are listed as not satisfied in the \
             OSCAL results and must be evidenced elsewhere.",
            SMALL + 1.0,
            GREY,
            false,
        );
        l.space(4.0);
        for g in &input.framework.gaps {
            l.keep(BODY * LEADING * 2.0);
            l.para(&format!("{}  {}", g.id, g.title), BODY, BLACK, true);
            l.indented(12.0, |l| l.para(&g.reason, BODY, BLACK, false));
            l.space(4.0);
        }
    }

    // Warnings.
    if !input.warnings.is_empty() {
        l.space(10.0);
        l.heading("6. Warnings");
        for w in input.warnings {
            l.para(&format!("- {w}"), BODY, AMBER, false);
        }
    }

    // Integrity.
    let n = if input.warnings.is_empty() { 6 } else { 7 };
    l.space(10.0);
    l.heading(&format!("{n}. Integrity"));
    let opt = |v: Option<u64>| v.map_or_else(|| "none".to_string(), |v| v.to_string());
    if integ.hash_chain_verified {
        l.para("The hash chain verifies over the whole period.", BODY, GREEN, true);
    } else {
        l.para(
            &format!(
                "The hash chain does NOT verify over the period: {}",
                integ.chain_reason.unwrap_or("no reason given")
            ),
            BODY,
            RED,
            true,
        );
    }
    l.space(4.0);
    l.kv("Total events", &integ.total_events.to_string(), false);
    l.kv("Seq range", &format!("{} to {}", opt(integ.first_seq), opt(integ.last_seq)), false);
    l.kv("First event", integ.first_event_time.unwrap_or("none"), false);
    l.kv("Last event", integ.last_event_time.unwrap_or("none"), false);
    l.kv("Checkpoint size", &integ.checkpoint_size.to_string(), false);
    l.kv("Checkpoint root", integ.checkpoint_root, true);
    l.kv("Log key", integ.log_key, true);
    l.kv("Retention", &format!("event payloads kept at least {} days", input.retention_days), false);

    // How to verify.
    l.space(10.0);
    l.heading(&format!("{}. How to verify", n + 1));
    l.para(
        "With coreutils and OpenSSL 3, from inside the bundle directory: the first command checks \
         every file (this report included) against SHA256SUMS, the second the Ed25519 signature over \
         SHA256SUMS with the export key in signing-key.pem. Compare that key with the one the \
         organisation publishes (GET /v1/public/signing-key).",
        BODY,
        BLACK,
        false,
    );
    l.space(4.0);
    l.code(&[
        "sha256sum -c SHA256SUMS",
        "openssl pkeyutl -verify -pubin -inkey signing-key.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig",
    ]);
    l.space(6.0);
    l.para(
        "With gavel, which also checks the events' canonical form, the hash chain, the inclusion of \
         the last event in the checkpoint signed by the log key, and that manifest, summary and \
         controls agree with events.jsonl. Pin the log key you obtained from the organisation \
         (gavel keys show):",
        BODY,
        BLACK,
        false,
    );
    l.space(4.0);
    l.code(&[
        "gavel evidence verify <bundle directory> [--previous <earlier bundle>]",
        &format!("    --log-key '{}'", integ.log_key),
    ]);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rgb(u8, u8, u8);

/// A drawing operation on a page; `y` is the baseline of text and the top of a rectangle.
#[derive(Debug, Clone)]
enum Op {
    Text { x: f32, y: f32, size: f32, text: String, color: Rgb, bold: bool },
    Rect { x: f32, y: f32, w: f32, h: f32, color: Rgb },
}

impl Op {
    fn text(x: f32, y: f32, size: f32, text: String, color: Rgb, bold: bool) -> Op {
        Op::Text { x, y, size, text, color, bold }
    }
}

fn paint(c: Rgb) -> krilla::paint::Paint {
    rgb::Color::new(c.0, c.1, c.2).into()
}

fn draw(s: &mut Surface<'_>, font: &Font, m: &FontMetrics, op: &Op) {
    match op {
        Op::Rect { x, y, w, h, color } => {
            let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) else { return };
            let mut pb = PathBuilder::new();
            pb.push_rect(rect);
            let Some(path) = pb.finish() else { return };
            s.set_stroke(None);
            s.set_fill(Some(Fill { paint: paint(*color), ..Fill::default() }));
            s.draw_path(&path);
        }
        Op::Text { x, y, size, text, color, bold } => {
            let glyphs: Vec<KrillaGlyph> = text
                .char_indices()
                .map(|(i, c)| {
                    let (gid, adv) = m.glyph(c);
                    KrillaGlyph::new(GlyphId::new(gid), adv, 0.0, 0.0, 0.0, i..i + c.len_utf8(), None)
                })
                .collect();
            s.set_fill(Some(Fill { paint: paint(*color), ..Fill::default() }));
            s.set_stroke(bold.then(|| Stroke {
                paint: paint(*color),
                width: size * 0.035,
                ..Stroke::default()
            }));
            s.draw_glyphs(Point::from_xy(*x, *y), &glyphs, font.clone(), text, *size, false);
        }
    }
}

/// Glyph ids and advances from the font's cmap and hmtx (no shaping: Latin text only).
struct FontMetrics {
    font: FontRef<'static>,
    glyphs: GlyphMetrics<'static>,
    upem: f32,
    /// Glyph of `?`, printed for characters the font lacks.
    fallback: u32,
}

impl FontMetrics {
    fn new() -> Result<FontMetrics, ReportError> {
        let font = FontRef::new(FONT).map_err(|e| ReportError(format!("embedded font: {e}")))?;
        let glyphs = font.glyph_metrics(Size::unscaled(), LocationRef::default());
        let upem = f32::from(font.metrics(Size::unscaled(), LocationRef::default()).units_per_em.max(1));
        let fallback = font.charmap().map('?').map_or(0, |g| g.to_u32());
        Ok(FontMetrics { font, glyphs, upem, fallback })
    }

    /// (glyph id, advance in em).
    fn glyph(&self, c: char) -> (u32, f32) {
        let gid = self.font.charmap().map(c).map_or(self.fallback, |g| g.to_u32());
        let adv = self.glyphs.advance_width(skrifa::GlyphId::new(gid)).unwrap_or(self.upem / 2.0);
        (gid, adv / self.upem)
    }

    fn width(&self, s: &str, size: f32) -> f32 {
        s.chars().map(|c| self.glyph(c).1).sum::<f32>() * size
    }

    /// `s`, cut with an ellipsis to fit `max`.
    fn fit(&self, s: &str, size: f32, max: f32) -> String {
        if self.width(s, size) <= max {
            return s.to_string();
        }
        let mut out = String::new();
        let budget = max - self.width("...", size);
        let mut w = 0.0;
        for c in s.chars() {
            w += self.glyph(c).1 * size;
            if w > budget {
                break;
            }
            out.push(c);
        }
        out.push_str("...");
        out
    }

    /// Greedy word wrapping; a word wider than `max` is broken between characters. Every line
    /// (even of an empty text) is returned, so a paragraph takes at least one line.
    fn wrap(&self, text: &str, size: f32, max: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for para in text.split('\n') {
            let mut line = String::new();
            let mut w = 0.0;
            let space = self.width(" ", size);
            for word in para.split(' ').filter(|w| !w.is_empty()) {
                let ww = self.width(word, size);
                if !line.is_empty() && w + space + ww <= max {
                    line.push(' ');
                    line.push_str(word);
                    w += space + ww;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                if ww <= max {
                    line.push_str(word);
                    w = ww;
                    continue;
                }
                // Break the long word between characters.
                w = 0.0;
                for c in word.chars() {
                    let cw = self.glyph(c).1 * size;
                    if !line.is_empty() && w + cw > max {
                        lines.push(std::mem::take(&mut line));
                        w = 0.0;
                    }
                    line.push(c);
                    w += cw;
                }
            }
            lines.push(line);
        }
        lines
    }
}

/// Replaces control characters (tabs, carriage returns, ...) by spaces; keeps newlines.
fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() && c != '\n' { ' ' } else { c }).collect()
}

/// A run of text in a table cell.
/// Rows of a samples table (at most this many printed; samples.json has up to 200 per list).
const PRINTED_SAMPLES: usize = 25;

/// Section 4: the samples auditors ask for, each as a table with how many there were.
fn samples(l: &mut Layout<'_>, s: &crate::samples::Samples) {
    l.space(10.0);
    l.heading("4. Samples");
    l.para(
        "From the period's events; every list is complete in samples.json up to 200 items, with its \
         total. Times are UTC.",
        SMALL + 1.0,
        GREY,
        false,
    );
    let cell = |t: &str| vec![Span::new(t, SMALL + 1.0, BLACK, false)];
    let hours = |from: &str, to: &str| match (crate::facts::parse_time(from), crate::facts::parse_time(to)) {
        (Some(a), Some(b)) => format!("{:.1} h", (b - a).as_seconds_f64() / 3600.0),
        _ => "-".to_string(),
    };
    let table = |l: &mut Layout<'_>, title: String, cols: &[(&str, f32)], rows: Vec<Vec<Vec<Span>>>| {
        l.space(6.0);
        l.keep(BODY * LEADING * 4.0);
        l.para(&title, BODY, BLACK, true);
        if rows.is_empty() {
            l.para("None in the period.", SMALL + 1.0, GREY, false);
        } else {
            l.space(2.0);
            let shown: Vec<Vec<Vec<Span>>> = rows.into_iter().take(PRINTED_SAMPLES).collect();
            l.table(cols, &shown);
        }
    };
    let w = CONTENT_W;
    table(
        l,
        format!("Agent inventory ({} agent(s))", s.agents_total),
        &[("Agent", w * 0.3), ("Owner", w * 0.25), ("Status", w * 0.2), ("Decisions", w * 0.25)],
        s.agents
            .iter()
            .map(|a| {
                let name = if a.name.is_empty() {
                    a.agent_id.clone()
                } else {
                    format!("{} ({})", a.name, a.agent_id)
                };
                vec![cell(&name), cell(&a.owner), cell(&a.status), cell(&a.decisions.to_string())]
            })
            .collect(),
    );
    table(
        l,
        format!("Incidents ({})", s.incidents_total),
        &[
            ("Incident", w * 0.28),
            ("Owner", w * 0.14),
            ("Opened", w * 0.18),
            ("Contain", w * 0.1),
            ("Resolve", w * 0.1),
            ("Writeup", w * 0.2),
        ],
        s.incidents
            .iter()
            .map(|i| {
                vec![
                    cell(&format!("{} {} [{}]", i.incident_id, i.title, i.severity)),
                    cell(&i.owner),
                    cell(&i.opened_at),
                    cell(&hours(&i.opened_at, &i.contained_at)),
                    cell(&hours(&i.opened_at, &i.resolved_at)),
                    cell(&i.writeup),
                ]
            })
            .collect(),
    );
    table(
        l,
        format!("Approvals ({})", s.approvals.total),
        &[
            ("Time", w * 0.2),
            ("Approver", w * 0.14),
            ("Decision", w * 0.12),
            ("Call", w * 0.3),
            ("Comment", w * 0.24),
        ],
        s.approvals
            .items
            .iter()
            .map(|a| {
                vec![
                    cell(&a.time),
                    cell(&a.approver),
                    cell(&a.decision),
                    cell(&format!("{} by {} ({})", a.tool, a.agent_id, a.decision_id)),
                    cell(&a.comment),
                ]
            })
            .collect(),
    );
    table(
        l,
        format!("Policy changes ({})", s.policy_changes.total),
        &[
            ("Time", w * 0.22),
            ("Change", w * 0.2),
            ("Set and version", w * 0.22),
            ("Author", w * 0.18),
            ("Approver", w * 0.18),
        ],
        s.policy_changes
            .items
            .iter()
            .map(|c| {
                vec![
                    cell(&c.time),
                    cell(&c.kind),
                    cell(&format!("{} v{}", c.set_id, c.version)),
                    cell(&c.author),
                    cell(&c.approver),
                ]
            })
            .collect(),
    );
    table(
        l,
        format!("Calls observe-mode policies would have blocked ({})", s.would_have_blocked.total),
        &[
            ("Time", w * 0.25),
            ("Agent", w * 0.2),
            ("Tool", w * 0.2),
            ("Would have", w * 0.15),
            ("Decision", w * 0.2),
        ],
        s.would_have_blocked
            .items
            .iter()
            .map(|b| {
                vec![cell(&b.time), cell(&b.agent), cell(&b.tool), cell(&b.would_have), cell(&b.decision_id)]
            })
            .collect(),
    );
    table(
        l,
        format!("Readiness scans ({}), criteria enforcing / observe / gap", s.scans.total),
        &[
            ("Time", w * 0.3),
            ("Scan", w * 0.3),
            ("Enforcing", w * 0.14),
            ("Observe", w * 0.13),
            ("Gap", w * 0.13),
        ],
        s.scans
            .items
            .iter()
            .map(|c| {
                vec![
                    cell(&c.time),
                    cell(&c.scan_id),
                    cell(&c.enforcing.to_string()),
                    cell(&c.observe.to_string()),
                    cell(&c.gap.to_string()),
                ]
            })
            .collect(),
    );
}

struct Span {
    text: String,
    size: f32,
    color: Rgb,
    bold: bool,
}

impl Span {
    fn new(text: &str, size: f32, color: Rgb, bold: bool) -> Span {
        Span { text: clean(text), size, color, bold }
    }
}

/// Flows content down A4 pages, starting a page when the next line does not fit.
struct Layout<'f> {
    m: &'f FontMetrics,
    pages: Vec<Vec<Op>>,
    /// Top of the next line.
    y: f32,
    /// Left edge of the text column.
    x: f32,
    width: f32,
}

impl<'f> Layout<'f> {
    fn new(m: &'f FontMetrics) -> Layout<'f> {
        Layout { m, pages: vec![Vec::new()], y: MARGIN, x: MARGIN, width: CONTENT_W }
    }

    fn finish(self) -> Vec<Vec<Op>> {
        self.pages
    }

    fn push(&mut self, op: Op) {
        if let Some(p) = self.pages.last_mut() {
            p.push(op);
        }
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = MARGIN;
    }

    /// Starts a new page unless `h` more points fit on this one.
    fn keep(&mut self, h: f32) {
        if self.y + h > BODY_BOTTOM && self.y > MARGIN {
            self.new_page();
        }
    }

    fn space(&mut self, h: f32) {
        self.y += h;
    }

    fn line(&mut self, x: f32, text: String, size: f32, color: Rgb, bold: bool) {
        let h = size * LEADING;
        self.keep(h);
        self.push(Op::text(x, self.y + size, size, text, color, bold));
        self.y += h;
    }

    fn para(&mut self, text: &str, size: f32, color: Rgb, bold: bool) {
        for line in self.m.wrap(&clean(text), size, self.width) {
            self.line(self.x, line, size, color, bold);
        }
    }

    fn indented(&mut self, by: f32, f: impl FnOnce(&mut Self)) {
        self.x += by;
        self.width -= by;
        f(self);
        self.x -= by;
        self.width += by;
    }

    fn heading(&mut self, text: &str) {
        // Keep a heading with the first lines after it.
        self.keep(14.0 * LEADING + BODY * LEADING * 3.0);
        self.para(text, 14.0, BLACK, true);
        let y = self.y + 1.0;
        self.push(Op::Rect { x: self.x, y, w: self.width, h: 0.6, color: RULE });
        self.y += 6.0;
    }

    /// A label and its value; `small` sets long machine values (hashes, keys) smaller, broken
    /// anywhere.
    fn kv(&mut self, label: &str, value: &str, small: bool) {
        let label_w = 120.0;
        let size = if small { SMALL } else { BODY };
        let lines = self.m.wrap(&clean(value), size, self.width - label_w);
        let h = size.max(BODY) * LEADING;
        self.keep(h);
        self.push(Op::text(self.x, self.y + BODY, BODY, clean(label), GREY, false));
        for (i, line) in lines.into_iter().enumerate() {
            let lh = if i == 0 { h } else { size * LEADING };
            if i > 0 {
                self.keep(lh);
            }
            let base = if i == 0 { self.y + BODY } else { self.y + size };
            self.push(Op::text(self.x + label_w, base, size, line, BLACK, false));
            self.y += lh;
        }
    }

    /// A coloured box with a title and a sentence.
    fn banner(&mut self, title: &str, text: &str) {
        let pad = 10.0;
        let lines = self.m.wrap(&clean(text), BODY, self.width - 2.0 * pad);
        let h = pad * 2.0 + 16.0 * LEADING + lines.len() as f32 * BODY * LEADING;
        self.keep(h);
        self.push(Op::Rect { x: self.x, y: self.y, w: self.width, h, color: RED });
        let x = self.x + pad;
        self.y += pad;
        self.line(x, title.to_string(), 16.0, WHITE, true);
        for line in lines {
            self.line(x, line, BODY, WHITE, false);
        }
        self.y += pad;
    }

    /// Commands on a shaded background, in a smaller size, broken anywhere when too long.
    fn code(&mut self, cmds: &[&str]) {
        let pad = 6.0;
        let mut lines = Vec::new();
        for cmd in cmds {
            // Keep a command's indentation on its first line.
            let body = cmd.trim_start_matches(' ');
            let indent = &cmd[..cmd.len() - body.len()];
            let max = self.width - 2.0 * pad - self.m.width(indent, SMALL);
            for (i, line) in self.m.wrap(&clean(body), SMALL, max).into_iter().enumerate() {
                lines.push(if i == 0 { format!("{indent}{line}") } else { line });
            }
        }
        for (i, line) in lines.into_iter().enumerate() {
            let h = SMALL * LEADING;
            let top = if i == 0 { pad } else { 0.0 };
            self.keep(h + top + pad);
            self.push(Op::Rect { x: self.x, y: self.y, w: self.width, h: h + top + 0.5, color: SHADE });
            self.y += top;
            self.push(Op::text(self.x + pad, self.y + SMALL, SMALL, line, BLACK, false));
            self.y += h;
        }
        self.push(Op::Rect { x: self.x, y: self.y, w: self.width, h: pad, color: SHADE });
        self.y += pad;
    }

    /// A table with a shaded header row (repeated on each page); a row is split only when it is
    /// taller than a page.
    fn table(&mut self, cols: &[(&str, f32)], rows: &[Vec<Vec<Span>>]) {
        let pad = 4.0;
        let header = |l: &mut Self| {
            let h = BODY * LEADING + 2.0 * pad;
            l.keep(h + BODY * LEADING * 2.0);
            l.push(Op::Rect { x: l.x, y: l.y, w: l.width, h, color: SHADE });
            let mut x = l.x;
            for (title, w) in cols {
                l.push(Op::text(x + pad, l.y + pad + BODY, BODY, (*title).to_string(), BLACK, true));
                x += w;
            }
            l.y += h;
        };
        header(self);
        for row in rows {
            // Lay out every cell: (x, lines of (text, span index)).
            let mut cells = Vec::new();
            let mut height: f32 = 0.0;
            let mut x = self.x;
            for (cell, (_, w)) in row.iter().zip(cols) {
                let mut lines = Vec::new();
                let mut h = 0.0;
                for span in cell {
                    for line in self.m.wrap(&span.text, span.size, w - 2.0 * pad) {
                        lines.push((line, span));
                        h += span.size * LEADING;
                    }
                }
                height = height.max(h);
                cells.push((x, lines));
                x += w;
            }
            let h = height + 2.0 * pad;
            let header_h = BODY * LEADING + 2.0 * pad;
            if self.y + h > BODY_BOTTOM && MARGIN + header_h + h <= BODY_BOTTOM {
                // Not here, but on a fresh page.
                self.new_page();
                header(self);
            }
            if self.y + 2.0 * pad + BODY * LEADING > BODY_BOTTOM {
                self.new_page();
                header(self);
            }
            // Draw the cells' lines; a row taller than a whole page continues on the next one.
            let mut next = vec![0usize; cells.len()];
            loop {
                let mut bottom = self.y + pad;
                for ((x, lines), from) in cells.iter().zip(next.iter_mut()) {
                    let mut y = self.y + pad;
                    while let Some((line, span)) = lines.get(*from) {
                        let lh = span.size * LEADING;
                        if y + lh > BODY_BOTTOM - pad && y > self.y + pad {
                            break;
                        }
                        self.push(Op::text(
                            x + pad,
                            y + span.size,
                            span.size,
                            line.clone(),
                            span.color,
                            span.bold,
                        ));
                        y += lh;
                        *from += 1;
                    }
                    bottom = bottom.max(y);
                }
                self.y = bottom + pad;
                if cells.iter().zip(&next).all(|((_, lines), from)| *from >= lines.len()) {
                    break;
                }
                self.new_page();
                header(self);
            }
            self.push(Op::Rect { x: self.x, y: self.y - 0.3, w: self.width, h: 0.6, color: RULE });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_fits_the_column_and_breaks_long_words() {
        let m = FontMetrics::new().expect("font");
        let hash = "ab".repeat(64);
        let text = format!("the root is {hash} and more words follow here");
        for max in [80.0, 200.0, CONTENT_W] {
            let lines = m.wrap(&text, BODY, max);
            assert!(lines.iter().all(|l| m.width(l, BODY) <= max + 0.01), "{lines:?}");
            assert_eq!(lines.concat().replace(' ', ""), text.replace(' ', ""));
        }
        assert_eq!(m.wrap("", BODY, 100.0), vec![String::new()]);
        assert!(m.width(&m.fit(&hash, BODY, 100.0), BODY) <= 100.0);
    }

    #[test]
    fn renders_a_deterministic_pdf_even_for_odd_input() {
        let fw = Framework::soc2().expect("soc2");
        let from = Date::from_calendar_date(2026, time::Month::January, 1).expect("date");
        let to = from + Duration::days(120);
        let gaps: Vec<String> = (0..500).map(|i| date_str(from + Duration::days(i % 120))).collect();
        let tii = crate::export::type_ii(from, to, gaps);
        let long = "x".repeat(3000);
        let criteria: Vec<CriterionResult> = (0..60)
            .map(|i| CriterionResult {
                id: format!("CC{i}.1"),
                title: format!("Criterion {i} with a title\tand a tab and \u{1F600} an emoji"),
                evidence_count: i,
                summary: if i == 3 { "y".repeat(9000) } else { "A summary.".into() },
                status: if i % 2 == 0 { "satisfied" } else { "not-satisfied" }.into(),
                findings: Vec::new(),
            })
            .collect();
        let root = "ab".repeat(32);
        let input = ReportInput {
            framework: &fw,
            org: "Acme, Inc.",
            from,
            to,
            generated_at: OffsetDateTime::UNIX_EPOCH + Duration::days(20_000),
            generator: "gavel test",
            simulated: false,
            log_origin: "gavel.local/acme",
            retention_days: 365,
            type_ii: &tii,
            criteria: &criteria,
            warnings: &tii.warnings,
            samples: &crate::samples::Samples::default(),
            integrity: Integrity {
                hash_chain_verified: false,
                chain_reason: Some("seq 7: prev does not match"),
                total_events: 0,
                first_seq: None,
                last_seq: None,
                first_event_time: None,
                last_event_time: None,
                checkpoint_size: 0,
                checkpoint_root: &root,
                log_key: &long,
            },
        };
        let m = FontMetrics::new().expect("font");
        let pages = layout(&m, &input);
        assert!(pages.len() > 5, "{} pages", pages.len());
        for (i, op) in pages.iter().enumerate().flat_map(|(i, p)| p.iter().map(move |op| (i, op))) {
            if let Op::Text { x, y, size, text, .. } = op {
                let right = x + m.width(text, *size);
                assert!(
                    *x >= MARGIN - 0.01 && right <= PAGE_W - MARGIN + 0.01,
                    "page {i}: {text:?} at {x}..{right}"
                );
                assert!(
                    *y - size >= MARGIN - 0.01 && *y <= BODY_BOTTOM + 0.01,
                    "page {i}: {text:?} at y {y}"
                );
            }
        }
        let a = render(&input).expect("render");
        assert!(a.starts_with(b"%PDF-"));
        assert_eq!(render(&input).expect("render"), a, "same input, same bytes");
    }

    #[test]
    fn unknown_characters_print_as_question_marks() {
        let m = FontMetrics::new().expect("font");
        assert_eq!(m.glyph('\u{10FFFD}').0, m.glyph('?').0);
        assert_ne!(m.glyph('A').0, m.glyph('?').0);
    }
}
