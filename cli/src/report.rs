//! The report of `mpcheck check` in the forms CI systems read: [`json`] (one record per row)
//! and [`junit`] (JUnit XML: a test suite per engine, a test case per row).

use std::fmt::Write as _;

use mpcheck::sim::escape_markup as escape;
use serde::Serialize;

use mpcheck_properties::suite::{Row, Verdict};

/// One row as a JSON record.
#[derive(Serialize)]
struct Record<'a> {
    engine: &'a str,
    primitive: &'a str,
    property: &'a str,
    /// `pass`, `fail` or `hang`.
    verdict: &'a str,
    runs: u64,
    coverage: &'a str,
    seconds: f64,
    /// The failure's message (with the simulator's trace), if it failed.
    message: Option<&'a str>,
    /// The simulator's replay file, if it wrote one: `mpcheck replay FILE`.
    replay: Option<String>,
}

fn verdict_word(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::Fail(_) => "fail",
        Verdict::Hang => "hang",
    }
}

/// The rows as a JSON array of records: `engine`, `primitive`, `property`, `verdict` (`pass`,
/// `fail`, `hang`), `runs`, `coverage`, `seconds`, `message` (a failure's, or `null`) and
/// `replay` (the replay file the simulator wrote, or `null`).
pub fn json(rows: &[Row]) -> String {
    let records: Vec<Record<'_>> = rows
        .iter()
        .map(|r| Record {
            engine: &r.engine,
            primitive: r.primitive,
            property: r.property,
            verdict: verdict_word(&r.verdict),
            runs: r.runs,
            coverage: &r.note,
            seconds: r.elapsed.as_secs_f64(),
            message: match &r.verdict {
                Verdict::Fail(message) => Some(message),
                _ => None,
            },
            replay: r.replay.as_ref().map(|p| p.display().to_string()),
        })
        .collect();
    // Plain data of strings and numbers: serialization cannot fail.
    let mut out = serde_json::to_string_pretty(&records).unwrap_or_default();
    out.push('\n');
    out
}

/// The rows as JUnit XML: one `<testsuite>` per engine (in the order they first appear), one
/// `<testcase>` per row (`classname` the primitive, `name` the property), a `<failure>` for a
/// failed row (its message, the replay file in `<system-out>`), an `<error>` for a hung one.
pub fn junit(rows: &[Row]) -> String {
    let mut engines: Vec<&str> = Vec::new();
    for r in rows {
        if !engines.contains(&r.engine.as_str()) {
            engines.push(&r.engine);
        }
    }
    let count = |rows: &[&Row], what: &str| {
        rows.iter()
            .filter(|r| verdict_word(&r.verdict) == what)
            .count()
    };
    let all: Vec<&Row> = rows.iter().collect();
    let total: f64 = rows.iter().map(|r| r.elapsed.as_secs_f64()).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"mpcheck\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{total:.3}\">",
        rows.len(),
        count(&all, "fail"),
        count(&all, "hang"),
    );
    for engine in engines {
        let suite: Vec<&Row> = rows.iter().filter(|r| r.engine == engine).collect();
        let time: f64 = suite.iter().map(|r| r.elapsed.as_secs_f64()).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{time:.3}\">",
            escape(engine),
            suite.len(),
            count(&suite, "fail"),
            count(&suite, "hang"),
        );
        for r in suite {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                escape(r.primitive),
                escape(r.property),
                r.elapsed.as_secs_f64()
            );
            let replay = r
                .replay
                .as_ref()
                .map(|p| format!("replay: mpcheck replay {}", p.display()));
            match &r.verdict {
                Verdict::Pass => out.push_str("/>\n"),
                Verdict::Fail(message) => {
                    let first = message.lines().next().unwrap_or("failed");
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\">{}</failure>",
                        escape(first),
                        escape(message)
                    );
                    if let Some(replay) = replay {
                        let _ = writeln!(out, "      <system-out>{}</system-out>", escape(&replay));
                    }
                    out.push_str("    </testcase>\n");
                }
                Verdict::Hang => {
                    let _ = writeln!(
                        out,
                        ">\n      <error message=\"still running at the time limit (deadlock or \
                         livelock?)\"/>\n    </testcase>"
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn row(engine: &str, property: &'static str, verdict: Verdict) -> Row {
        Row {
            engine: engine.to_owned(),
            primitive: "Lock",
            property,
            runs: 3,
            note: "2x2 complete".to_owned(),
            replay: matches!(verdict, Verdict::Fail(_))
                .then(|| "target/mpcheck/failures/x.json".into()),
            verdict,
            elapsed: Duration::from_millis(1500),
        }
    }

    #[test]
    fn escape_makes_any_text_xml() {
        assert_eq!(
            escape("a<b>&\"c\" 'd'\u{1b}[0m\n"),
            "a&lt;b&gt;&amp;&quot;c&quot; &apos;d&apos;?[0m\n"
        );
    }

    #[test]
    fn json_has_a_record_per_row() {
        let rows = [
            row("os", "lock_mutual_exclusion", Verdict::Pass),
            row(
                "sim/dfs",
                "lock_mutual_exclusion",
                Verdict::Fail("boom <x>".into()),
            ),
        ];
        let parsed: serde_json::Value = serde_json::from_str(&json(&rows)).unwrap();
        let records = parsed.as_array().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["verdict"], "pass");
        assert_eq!(records[0]["replay"], serde_json::Value::Null);
        assert_eq!(records[1]["verdict"], "fail");
        assert_eq!(records[1]["message"], "boom <x>");
        assert_eq!(records[1]["replay"], "target/mpcheck/failures/x.json");
        assert_eq!(records[1]["seconds"], 1.5);
    }

    /// A row still running at its limit (on real threads, or an execution that never ends):
    /// `hang` in JSON, an error in JUnit.
    #[test]
    fn a_hung_row_is_hang_in_json_and_an_error_in_junit() {
        let rows = [row("os", "lock_mutual_exclusion", Verdict::Hang)];
        let parsed: serde_json::Value = serde_json::from_str(&json(&rows)).unwrap();
        assert_eq!(parsed[0]["verdict"], "hang");
        let xml = junit(&rows);
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        assert_eq!(doc.root_element().attribute("errors"), Some("1"));
        assert!(doc.descendants().any(|n| n.has_tag_name("error")));
    }
}
