//! The failing execution as a page of HTML ([`crate::Failure::html`]): self-contained (inline
//! CSS, no script, nothing fetched), and well-formed XML as well, so that a test can parse it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::report::{describe, label, replay_hint, FailureInner};
use crate::rt::object_name;
use crate::schedule::Choice;

/// `text` for an element or an attribute of HTML or XML: `&`, `<`, `>`, `"` and `'` as
/// entities, and every control character XML 1.0 cannot carry (all but tab, newline and
/// carriage return) as `?`. The page of [`crate::Failure::html`] escapes every text so.
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body { font-family: sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; }
h2 { font-size: 1.15em; margin-top: 1.6em; }
pre.message { background: #fff3f3; border-left: 4px solid #c33; padding: 0.6em; white-space: pre-wrap; }
table { border-collapse: collapse; }
table.facts th { text-align: left; padding-right: 1em; font-weight: normal; color: #555; }
table.facts td, code { font-family: monospace; }
table.trace, table.objects, table.blocked { font-family: monospace; font-size: 0.9em; }
table.trace th, table.objects th, table.blocked th { background: #eee; position: sticky; top: 0; }
table.trace td, table.trace th, table.objects td, table.objects th, table.blocked td, table.blocked th { border: 1px solid #ddd; padding: 0.2em 0.4em; vertical-align: top; }
table.trace td.n, table.trace td.time { color: #777; text-align: right; white-space: nowrap; }
td.lane { min-width: 14em; }
td.step { background: #f6f9ff; }
tr.switch td { border-top: 3px solid #48c; }
tr.preemption td { border-top: 3px solid #d60; }
span.mark { display: block; font-size: 0.85em; color: #48c; }
tr.preemption span.mark { color: #d60; font-weight: bold; }
span.op { color: #036; font-weight: bold; }
span.line { display: block; color: #080; }
span.internal { color: #999; }
tr.last td.step { background: #fff0f0; }
";

/// The page (see [`crate::Failure::html`]).
pub(crate) fn render(failure: &FailureInner, title: &str, replay: Option<&str>) -> String {
    let mut out = String::new();
    let title = escape_markup(title);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n\
         <meta charset=\"utf-8\"/>\n<title>mpcheck: {title}</title>\n<style>{STYLE}</style>\n\
         </head>\n<body>\n<h1>{title}: {}</h1>\n<pre class=\"message\">{}</pre>\n",
        failure.kind,
        escape_markup(&failure.message)
    );
    header(&mut out, failure, replay);
    blocked(&mut out, failure);
    trace(&mut out, failure);
    objects(&mut out, failure);
    out.push_str("</body>\n</html>\n");
    out
}

/// The facts of the failure: how it was found and how to run it again.
fn header(out: &mut String, failure: &FailureInner, replay: Option<&str>) {
    let file = failure
        .file
        .as_ref()
        .map(|f| f.display().to_string())
        .unwrap_or_else(|| "(none written)".to_owned());
    let replay = match (replay, &failure.file) {
        (Some(command), _) => command.to_owned(),
        (None, Some(file)) => replay_hint(file),
        (None, None) => "(no replay file)".to_owned(),
    };
    out.push_str("<table class=\"facts\">\n");
    let rows = [
        ("failure", failure.kind.to_string()),
        ("strategy", failure.strategy.clone()),
        ("seed", failure.seed.to_string()),
        ("execution", failure.execution.to_string()),
        ("preemptions", failure.preemptions.to_string()),
        ("steps", failure.trace.len().to_string()),
        ("schedule", format!("{} choices", failure.schedule.len())),
        ("replay file", file),
        ("replay with", replay),
    ];
    for (name, value) in rows {
        let _ = writeln!(
            out,
            "<tr><th>{name}</th><td class=\"{}\">{}</td></tr>",
            name.replace(' ', "-"),
            escape_markup(&value)
        );
    }
    out.push_str("</table>\n");
}

/// For a deadlock: every blocked task, what it waits for, and who took that.
fn blocked(out: &mut String, failure: &FailureInner) {
    if failure.blocked.is_empty() {
        return;
    }
    out.push_str(
        "<h2>Blocked tasks</h2>\n<table class=\"blocked\">\n<tr><th>task</th><th>waits for</th>\
         <th>in</th><th>at</th><th>taken by</th></tr>\n",
    );
    for b in &failure.blocked {
        let holder = match &b.holder {
            Some((task, at)) => format!("task {task} ({at})"),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "<tr class=\"blocked-task\"><td>task {}</td><td>{}</td><td>{}</td>\
             <td title=\"inside the primitive: {}\">{}</td><td>{}</td></tr>",
            b.task,
            escape_markup(&b.waits_for),
            escape_markup(b.at.operation.as_deref().unwrap_or("")),
            escape_markup(&b.at.internal),
            escape_markup(&b.at.line),
            escape_markup(&holder)
        );
    }
    out.push_str("</table>\n");
}

/// How many tasks (lanes) the execution had.
fn tasks(failure: &FailureInner) -> usize {
    let stepped = failure.trace.iter().map(|s| s.task as usize + 1).max();
    stepped.unwrap_or(1).max(failure.processes.len())
}

/// For each step, the task it preempted (switched away from while that task could have gone
/// on), if it did.
fn preempted(failure: &FailureInner) -> impl Iterator<Item = Option<u32>> + '_ {
    failure.trace.iter().map(|step| {
        let d = step.decision? as usize;
        let current = (*failure.currents.get(d)?)?;
        (current != step.task && failure.schedule.get(d) != Some(&Choice::Run(current)))
            .then_some(current)
    })
}

/// The steps: a lane per task, a row per step, in order; switches of task marked.
fn trace(out: &mut String, failure: &FailureInner) {
    let tasks = tasks(failure);
    out.push_str("<h2>Trace</h2>\n<table class=\"trace\">\n<thead><tr><th>step</th><th>time</th>");
    for t in 0..tasks {
        let process = match failure.processes.get(t) {
            Some(p) => format!(", process {p}"),
            None => String::new(),
        };
        let role = if t == 0 { " (main)" } else { "" };
        let _ = write!(
            out,
            "<th class=\"lane\" data-task=\"{t}\">task {t}{role}{process}</th>"
        );
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    let mut previous: Option<u32> = None;
    let last = failure.trace.len();
    for ((i, step), preempted) in failure.trace.iter().enumerate().zip(preempted(failure)) {
        let switch = previous.filter(|&p| p != step.task);
        previous = Some(step.task);
        let mut class = String::from("row");
        let mark = match (switch, preempted) {
            (_, Some(p)) => {
                class.push_str(" switch preemption");
                format!("<span class=\"mark\">preempts task {p} (it could have gone on)</span>")
            }
            (Some(p), None) => {
                class.push_str(" switch");
                format!("<span class=\"mark\">switch from task {p}</span>")
            }
            (None, None) => String::new(),
        };
        if i + 1 == last {
            class.push_str(" last");
        }
        let text = describe(step, &failure.labels);
        let operation = if text.operation.is_empty() {
            String::new()
        } else {
            format!(
                "<span class=\"op\">{}</span> ",
                escape_markup(&text.operation)
            )
        };
        let line = match (&text.internal, text.line.is_empty()) {
            (_, true) => String::new(),
            (Some(internal), false) => format!(
                "<span class=\"line\" title=\"inside the primitive: {0}\">{1} \
                 <span class=\"internal\">({0})</span></span>",
                escape_markup(internal),
                escape_markup(&text.line)
            ),
            (None, false) => format!("<span class=\"line\">{}</span>", escape_markup(&text.line)),
        };
        let _ = write!(
            out,
            "<tr class=\"{class}\" id=\"step-{n}\" data-task=\"{task}\"><td class=\"n\">{n}</td>\
             <td class=\"time\">{time}</td>",
            n = i + 1,
            task = step.task,
            time = escape_markup(&format!("{:?}", Duration::from_nanos(step.time))),
        );
        for t in 0..tasks {
            if t == step.task as usize {
                let _ = write!(
                    out,
                    "<td class=\"lane step\">{mark}{operation}<span class=\"what\">{}</span>{line}</td>",
                    escape_markup(&text.what)
                );
            } else {
                out.push_str("<td class=\"lane\"></td>");
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// The objects the steps touched, each with the tasks that touched it.
fn objects(out: &mut String, failure: &FailureInner) {
    // Object → (the steps that touched it, by number; the tasks, in order).
    let mut touched: BTreeMap<u32, (Vec<usize>, Vec<u32>)> = BTreeMap::new();
    for (i, step) in failure.trace.iter().enumerate() {
        if step.obj == 0 {
            continue;
        }
        let (steps, tasks) = touched.entry(step.obj).or_default();
        steps.push(i + 1);
        if !tasks.contains(&step.task) {
            tasks.push(step.task);
        }
    }
    if touched.is_empty() {
        return;
    }
    out.push_str(
        "<h2>Objects</h2>\n<table class=\"objects\">\n<tr><th>object</th><th>touched by</th>\
         <th>steps</th></tr>\n",
    );
    for (obj, (steps, mut tasks)) in touched {
        tasks.sort_unstable();
        let tasks: Vec<String> = tasks.iter().map(|t| format!("task {t}")).collect();
        let steps: Vec<String> = steps
            .iter()
            .map(|n| format!("<a href=\"#step-{n}\">{n}</a>"))
            .collect();
        let _ = writeln!(
            out,
            "<tr class=\"object\"><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_markup(&object_name(obj, label(obj, &failure.labels))),
            tasks.join(", "),
            steps.join(" ")
        );
    }
    out.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::escape_markup;

    #[test]
    fn escape_makes_any_text_markup() {
        assert_eq!(
            escape_markup("<a href=\"x\">'&'</a>\u{1b}[0m\n"),
            "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;?[0m\n"
        );
        assert_eq!(escape_markup("plain → text"), "plain → text");
    }
}
