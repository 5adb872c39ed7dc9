//! A diff printed: an aligned text table for people (default), CSV and JSON for CI jobs, Markdown
//! for a pull-request comment. Text and Markdown share the same cells; only the layout differs.
use super::changes::{Diff, KeyChange, Line, Section, TableDiff, TableStatus, What};
use super::noise::Verdict;
use super::table::Num;
use serde::Serialize;

/// Output formats of `pad diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Csv,
    Json,
    Markdown,
}

/// The diff in `format` (ends with a newline).
pub fn render(d: &Diff, format: Format) -> String {
    match format {
        Format::Text => text(d),
        Format::Markdown => markdown(d),
        Format::Csv => csv(d),
        Format::Json => json(d),
    }
}

/// The one-sentence verdict that closes the text and opens the Markdown.
pub fn headline(d: &Diff) -> String {
    let changed = d.tables.iter().filter(|t| !t.is_unchanged()).count();
    let beyond = d.beyond_noise();
    let claims = match d.verdicts.changes.len() {
        0 => String::new(),
        n => format!("{n} claim verdict(s) changed; "),
    };
    let mut line = claims
        + &format!(
        "{} value(s) changed in {changed} of {} table(s); {beyond} change(s) beyond noise (a mean moved by more than 2 SE of the seeds)",
        d.changed_values(),
        d.tables.len()
    );
    for (table, of) in d.restatements() {
        line.push_str(&format!("; {table} restates {of}'s means and is not counted again"));
    }
    line
}

fn num(x: Option<f64>, decimals: usize, signed: bool) -> String {
    match x {
        None => String::new(),
        Some(x) if signed => format!("{x:+.decimals$}"),
        Some(x) => format!("{x:.decimals$}"),
    }
}

fn cell(n: &Option<Num>) -> String {
    n.as_ref().map(|n| n.text.clone()).unwrap_or_default()
}

/// The seed cell of a mean: "mean(2)", or "mean(3->2)" when the seeds differ.
fn mean_label(l: &Line) -> String {
    match l.seeds {
        Some([a, b]) if a == b => format!("mean({a})"),
        Some([a, b]) => format!("mean({a}->{b})"),
        None => "mean".into(),
    }
}

/// A line's cells under `header(t)`: key values, column, old, new, delta, 2 SE, verdict.
fn line_cells(l: &Line, verdict: impl Fn(Verdict) -> String) -> Vec<String> {
    let mut cells: Vec<String> = l
        .key
        .iter()
        .map(|(k, v)| if k == "seed" && l.what == What::Mean { mean_label(l) } else { v.clone() })
        .collect();
    let column = match l.what {
        What::RowAdded => "(row added)".into(),
        What::RowRemoved => "(row removed)".into(),
        _ => l.column.clone(),
    };
    // The threshold belongs to the judged line; a seed's line repeats only its verdict.
    let two_se = if l.what == What::Seed { None } else { l.two_se };
    cells.extend([
        column,
        cell(&l.old),
        cell(&l.new),
        num(l.delta, l.decimals, true),
        num(two_se, l.decimals, false),
        l.verdict.map(verdict).unwrap_or_default(),
    ]);
    cells
}

fn header(t: &TableDiff) -> Vec<String> {
    let mut h = t.keys.clone();
    h.extend(["column", "old", "new", "delta", "2 SE", "verdict"].map(String::from));
    h
}

/// "4 value(s) changed, 1 beyond noise; column(s) added: ridge_acc" (or what happened to it).
fn table_status(t: &TableDiff) -> String {
    match &t.status {
        TableStatus::Added { rows } => return format!("added ({rows} rows), not on side a"),
        TableStatus::Removed { rows } => return format!("removed ({rows} rows), not on side b"),
        TableStatus::KeysDiffer { a, b } => {
            return format!("rows keyed by different columns (a: {}; b: {}): not compared", a.join(", "), b.join(", "))
        }
        TableStatus::Compared if t.is_unchanged() => return "unchanged".into(),
        TableStatus::Compared => {}
    }
    let count = |w: What| t.lines.iter().filter(|l| l.what == w).count();
    let values = count(What::Seed) + count(What::Row);
    let beyond = t
        .lines
        .iter()
        .filter(|l| matches!(l.what, What::Mean | What::Row) && l.verdict == Some(Verdict::BeyondNoise))
        .count();
    let mut parts = Vec::new();
    if values > 0 {
        parts.push(format!("{values} value(s) changed, {beyond} beyond noise"));
    }
    for (n, what) in [(count(What::RowAdded), "row(s) added"), (count(What::RowRemoved), "row(s) removed")] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    for (cols, what) in [(&t.columns_added, "column(s) added"), (&t.columns_removed, "column(s) removed")] {
        if !cols.is_empty() {
            parts.push(format!("{what}: {}", cols.join(", ")));
        }
    }
    parts.join("; ")
}

fn key_change_cells(c: &KeyChange) -> Vec<String> {
    let unset = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".into());
    vec![c.key.clone(), unset(&c.old), unset(&c.new)]
}

/// Columns aligned with two spaces between them; numbers right-aligned.
fn aligned(header: &[String], rows: &[Vec<String>], right: &[bool]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).chain([header[c].chars().count()]).max().unwrap_or(0))
        .collect();
    let fmt = |r: &[String]| {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, s)| if right[c] { format!("{s:>w$}", w = widths[c]) } else { format!("{s:<w$}", w = widths[c]) })
            .collect();
        format!("  {}\n", cells.join("  ").trim_end())
    };
    std::iter::once(fmt(header)).chain(rows.iter().map(|r| fmt(r))).collect()
}

fn text_section(out: &mut String, title: &str, s: &Section) {
    out.push_str(&format!("{title}\n"));
    for n in &s.notes {
        out.push_str(&format!("  {n}\n"));
    }
    if s.changes.is_empty() && s.notes.is_empty() {
        out.push_str("  unchanged\n");
    }
    if !s.changes.is_empty() {
        let rows: Vec<Vec<String>> = s.changes.iter().map(key_change_cells).collect();
        let h = ["key", "a", "b"].map(String::from);
        out.push_str(&aligned(&h, &rows, &[false; 3]));
    }
    out.push('\n');
}

/// The verdict changes' cells: dataset, claim, old, new, effect old -> new.
fn verdict_rows(d: &Diff) -> Vec<Vec<String>> {
    let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "(no row)".into());
    d.verdicts
        .changes
        .iter()
        .map(|c| {
            let effect = format!("{} -> {}", dash(&c.old_effect), dash(&c.new_effect));
            vec![c.dataset.clone(), c.claim.clone(), or_none(&c.old), or_none(&c.new), effect]
        })
        .collect()
}

fn dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

const VERDICT_HEADER: [&str; 5] = ["dataset", "claim", "a", "b", "effect a -> b"];

/// Whether there is anything to say about the claims (a claims table on either side).
fn has_verdicts(d: &Diff) -> bool {
    d.verdicts.compared
}

fn text(d: &Diff) -> String {
    let mut out = format!("pad diff, profile {}: a = {}, b = {}\n\n", d.profile, d.a, d.b);
    if has_verdicts(d) {
        out.push_str(&format!("the paper's claims (claims.csv): {} verdict(s) changed\n", d.verdicts.changes.len()));
        for n in &d.verdicts.notes {
            out.push_str(&format!("  {n}\n"));
        }
        if !d.verdicts.changes.is_empty() {
            out.push_str(&aligned(&VERDICT_HEADER.map(String::from), &verdict_rows(d), &[false; 5]));
        }
        out.push('\n');
    }
    text_section(&mut out, "pipeline.toml (the profile and the sections it uses)", &d.config);
    text_section(&mut out, "stage versions (stages.csv)", &d.stages);
    for t in &d.tables {
        out.push_str(&format!("{}: {}\n", t.table, table_status(t)));
        if !t.lines.is_empty() {
            let h = header(t);
            let rows: Vec<Vec<String>> = t.lines.iter().map(|l| line_cells(l, |v| v.text().into())).collect();
            let right: Vec<bool> = (0..h.len()).map(|c| (t.keys.len() + 1..t.keys.len() + 5).contains(&c)).collect();
            out.push_str(&aligned(&h, &rows, &right));
        }
    }
    out.push_str(&format!("\n{}\n", headline(d)));
    out
}

fn md_row(cells: &[String]) -> String {
    let esc: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
    format!("| {} |\n", esc.join(" | "))
}

fn md_table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut s = md_row(header);
    s.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for r in rows {
        s.push_str(&md_row(r));
    }
    s
}

fn md_section(out: &mut String, title: &str, s: &Section) {
    out.push_str(&format!("#### {title}\n\n"));
    for n in &s.notes {
        out.push_str(&format!("- {n}\n"));
    }
    if s.changes.is_empty() && s.notes.is_empty() {
        out.push_str("unchanged\n");
    }
    if !s.changes.is_empty() {
        let rows: Vec<Vec<String>> =
            s.changes.iter().map(|c| key_change_cells(c).into_iter().map(|x| format!("`{x}`")).collect()).collect();
        if !s.notes.is_empty() {
            out.push('\n');
        }
        out.push_str(&md_table(&["key", "a", "b"].map(String::from), &rows));
    }
    out.push('\n');
}

fn markdown(d: &Diff) -> String {
    let mut out = format!("### pad diff, profile `{}`: {} → {}\n\n", d.profile, d.a, d.b);
    let beyond = d.beyond_noise();
    let head = headline(d);
    let loud = beyond > 0 || !d.verdicts.changes.is_empty();
    out.push_str(&if loud { format!("**{head}**\n\n") } else { format!("{head}\n\n") });
    if has_verdicts(d) {
        out.push_str("#### The paper's claims (claims.csv)\n\n");
        for n in &d.verdicts.notes {
            out.push_str(&format!("- {n}\n"));
        }
        if !d.verdicts.changes.is_empty() {
            out.push_str(&md_table(&VERDICT_HEADER.map(String::from), &verdict_rows(d)));
        } else if d.verdicts.notes.is_empty() {
            out.push_str("no verdict changed\n");
        }
        out.push('\n');
    }
    md_section(&mut out, "pipeline.toml", &d.config);
    md_section(&mut out, "Stage versions (stages.csv)", &d.stages);
    for t in &d.tables {
        out.push_str(&format!("#### {}\n\n{}\n", t.table, table_status(t)));
        if !t.lines.is_empty() {
            let bold =
                |v: Verdict| if v == Verdict::BeyondNoise { format!("**{}**", v.text()) } else { v.text().into() };
            let rows: Vec<Vec<String>> = t.lines.iter().map(|l| line_cells(l, bold)).collect();
            out.push('\n');
            out.push_str(&md_table(&header(t), &rows));
        }
        out.push('\n');
    }
    out
}

/// One long table: section, table, key ("name=value;..."), column, old, new, delta, two_se,
/// verdict (a code), detail.
fn csv(d: &Diff) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut put = |r: [&str; 10]| w.write_record(r).expect("in-memory write");
    put(["section", "table", "key", "column", "old", "new", "delta", "two_se", "verdict", "detail"]);
    for n in &d.verdicts.notes {
        put(["claims_note", "claims.csv", "", "", "", "", "", "", "", n]);
    }
    for c in &d.verdicts.changes {
        let key = format!("dataset={};claim={}", c.dataset, c.claim);
        let (old, new) = (c.old.clone().unwrap_or_default(), c.new.clone().unwrap_or_default());
        let detail = format!("effect {} -> {}", dash(&c.old_effect), dash(&c.new_effect));
        put(["claim_verdict", "claims.csv", &key, "verdict", &old, &new, "", "", "", &detail]);
    }
    for (sec, name) in [(&d.config, "config"), (&d.stages, "stages")] {
        for n in &sec.notes {
            put([&format!("{name}_note"), "", "", "", "", "", "", "", "", n]);
        }
        for c in &sec.changes {
            let (old, new) = (c.old.clone().unwrap_or_default(), c.new.clone().unwrap_or_default());
            put([name, "", &c.key, "", &old, &new, "", "", "", ""]);
        }
    }
    for t in &d.tables {
        match &t.status {
            TableStatus::Compared => {}
            TableStatus::Added { rows } => {
                put(["table_added", &t.table, "", "", "", "", "", "", "", &format!("{rows} rows")])
            }
            TableStatus::Removed { rows } => {
                put(["table_removed", &t.table, "", "", "", "", "", "", "", &format!("{rows} rows")])
            }
            TableStatus::KeysDiffer { .. } => {
                put(["table_keys_differ", &t.table, "", "", "", "", "", "", "", &table_status(t)])
            }
        }
        for (cols, what) in [(&t.columns_added, "column_added"), (&t.columns_removed, "column_removed")] {
            for c in cols {
                put([what, &t.table, "", c, "", "", "", "", "", ""]);
            }
        }
        for l in &t.lines {
            let key: Vec<String> = l.key.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let what = serde_json::to_value(l.what).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
            let detail = l.seeds.map(|[a, b]| format!("seeds a={a} b={b}")).unwrap_or_default();
            put([
                &what,
                &t.table,
                &key.join(";"),
                &l.column,
                &cell(&l.old),
                &cell(&l.new),
                &num(l.delta, l.decimals, true),
                &num(l.two_se, l.decimals, false),
                l.verdict.map(Verdict::code).unwrap_or(""),
                &detail,
            ]);
        }
    }
    String::from_utf8(w.into_inner().expect("in-memory flush")).expect("CSV of UTF-8 cells")
}

#[derive(Serialize)]
struct Json<'a> {
    #[serde(flatten)]
    diff: &'a Diff,
    beyond_noise: usize,
    changed_values: usize,
}

fn json(d: &Diff) -> String {
    let j = Json { diff: d, beyond_noise: d.beyond_noise(), changed_values: d.changed_values() };
    // Plain data of strings and finite numbers always serialises.
    serde_json::to_string_pretty(&j).expect("a diff serialises to JSON") + "\n"
}
