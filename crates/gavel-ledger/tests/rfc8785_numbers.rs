//! gavel's one rule for numbers, against an independent RFC 8785 implementation: Python's
//! `rfc8785` (Trail of Bits; a pinned test oracle) canonicalizes the same texts, parsed by Python's
//! own correctly rounded `json` module.
//!
//! For every number text in the corpus (RFC 8785's Appendix B and its §3.2.2.3 example, the edges of
//! the exact integer range, spellings of the same double, and generated decimals and doubles):
//! * when gavel accepts it, its canonical bytes equal `rfc8785.dumps` of the same text;
//! * when gavel refuses it, Python's value has magnitude beyond 2^53 - 1 (the documented rule), and
//!   every integer text rfc8785 refuses, gavel refuses too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use gavel_ledger::jcs;
use serde_json::Value;
use std::io::Write;
use std::process::Stdio;

const ORACLE: &str = r#"
import json, sys, rfc8785
for line in sys.stdin:
    text = line.rstrip("\n")
    value = json.loads(text)
    beyond = abs(value) > 2**53 - 1
    try:
        print("ok", "big" if beyond else "small", rfc8785.dumps(value).decode())
    except Exception as e:
        print("refused", "big" if beyond else "small", type(e).__name__)
"#;

/// RFC 8785 Appendix B (as doubles), its number example, and edges of the rule.
const FIXED: &[&str] = &[
    "0",
    "-0",
    "-0.0",
    "0.0",
    "5e-324",
    "-5e-324",
    "1.7976931348623157e308",
    "-1.7976931348623157e308",
    "9007199254740991",
    "-9007199254740991",
    "9007199254740992",
    "-9007199254740992",
    "9007199254740993",
    "9007199254740991.0",
    "9007199254740990.5",
    "9007199254740991.5",
    "18446744073709551615",
    "18446744073709551616",
    "18446744073709551617",
    "-18446744073709551616",
    "295147905179352830000",
    "9.999999999999997e22",
    "1e23",
    "1.0000000000000001e23",
    "999999999999999700000",
    "1e21",
    "9.999999999999997e-7",
    "0.000001",
    "1e-7",
    "333333333.3333332",
    "333333333.33333325",
    "333333333.3333333",
    "333333333.3333334",
    "333333333.33333343",
    "333333333.33333329",
    "-0.0000033333333333333333",
    "1424953923781206.2",
    "1E30",
    "4.50",
    "2e-3",
    "0.000000000000000000000000001",
    "0.1",
    "0.2",
    "0.30000000000000004",
    "1.0000000000000002",
    "2.2250738585072014e-308",
    "2.225073858507201e-308",
    "4503599627370496.5",
    "4503599627370497.5",
    "123456789012345.6",
    "1e15",
    "1e16",
    "12345678901234567890e-5",
    "100",
    "1E+2",
    "-1e-400",
    "1e-400",
];

/// A small deterministic generator (xorshift64*), so the corpus is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn corpus() -> Vec<String> {
    let mut texts: Vec<String> = FIXED.iter().map(|s| s.to_string()).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        // Random doubles, spelled three ways: shortest, 17 significant digits, exponent form.
        let f = f64::from_bits(rng.next());
        if f.is_finite() {
            texts.push(format!("{f}"));
            texts.push(format!("{f:.16e}"));
            texts.push(format!("{f:e}"));
        }
        // Random decimal texts of 1-25 digits with a point somewhere and an optional exponent:
        // the texts that need correct rounding.
        let digits = 1 + rng.below(25) as usize;
        let mut d: String = (0..digits).map(|_| char::from(b'0' + rng.below(10) as u8)).collect();
        if d.len() > 1 && d.starts_with('0') {
            d.replace_range(0..1, "1");
        }
        let point = rng.below(digits as u64 + 1) as usize;
        let mut text =
            if point < digits { format!("{}.{}", &d[..point.max(1)], &d[point.max(1)..]) } else { d };
        if text.ends_with('.') {
            text.push('0');
        }
        if rng.below(3) == 0 {
            text.push_str(&format!("e{}", rng.below(40) as i64 - 20));
        }
        if rng.below(2) == 0 {
            text.insert(0, '-');
        }
        texts.push(text);
    }
    texts
}

#[test]
fn canonical_numbers_match_python_rfc8785() {
    let texts = corpus();
    let mut child = gavel_testkit::python_command()
        .args(["-c", ORACLE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the oracles' python");
    // Written from another thread: the answers fill the stdout pipe while the corpus is still going in.
    let input = texts.join("\n") + "\n";
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("python");
    writer.join().expect("writer thread").expect("write corpus");
    assert!(out.status.success(), "oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    let answers: Vec<String> =
        String::from_utf8(out.stdout).expect("utf-8").lines().map(String::from).collect();
    assert_eq!(answers.len(), texts.len());

    let (mut agreed, mut refused) = (0, 0);
    for (text, answer) in texts.iter().zip(&answers) {
        let mut words = answer.splitn(3, ' ');
        let (verdict, size, python) = (words.next(), words.next(), words.next().unwrap_or(""));
        let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        match jcs::check_exact_numbers(&value, "n") {
            Ok(()) => {
                let ours = String::from_utf8(jcs::to_vec(&value).expect("canonical")).expect("utf-8");
                assert_eq!(verdict, Some("ok"), "{text}: gavel accepts as {ours}, rfc8785 says {answer}");
                assert_eq!(ours, python, "{text}: canonical forms differ");
                agreed += 1;
            }
            Err(e) => {
                assert_eq!(size, Some("big"), "{text}: refused ({e}) but |n| <= 2^53 - 1 for Python");
                refused += 1;
            }
        }
        if verdict == Some("refused") {
            assert!(
                jcs::check_exact_numbers(&value, "n").is_err(),
                "{text}: rfc8785 refuses it, gavel accepts"
            );
        }
    }
    // Both outcomes are exercised, so neither half of the comparison is vacuous.
    assert!(agreed > 1000 && refused > 100, "agreed {agreed}, refused {refused}");
}
