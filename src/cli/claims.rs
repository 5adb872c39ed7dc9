//! `pad claims`: the paper's claims checked against a results folder's tables, without the
//! cache. The report of `pad run` does the same; this command serves results folders computed
//! before (or elsewhere), and edits of claims.toml.
use super::pipeline::PipelineArgs;
use clap::Args;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const ABOUT: &str = "Check the paper's claims (claims.toml) against a profile's results tables: claims.csv";

pub const LONG_ABOUT: &str = "\
Check the paper's claims (claims.toml) against the tables of results/<profile>/.

claims.toml holds the paper's numbers (Appendix 1-Table 1 and what its scripts hard-code, each
with its source) and its claims as rows: two sides (a condition and a metric each), a relation
(greater, less, approx within a margin, at_least within a margin) and an epoch. For every claim
and dataset of the profile this writes one row of claims.csv: our difference of means over seeds
with Welch's 95% interval, the paper's difference beside it, and a verdict: holds, consistent,
not seen, contradicted, or not evaluated (with the reason). It also rewrites the claims section
of summary.md. `pad run` does this in every report; this command reads only the tables, so it
also works on a results folder whose cache is gone.";

#[derive(Args, Debug, Clone)]
pub struct ClaimsArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Where the results are (reads and writes <RESULTS>/<profile>/).
    #[arg(long, default_value = "results", value_name = "DIR")]
    pub results: PathBuf,
    /// The claims file [default: claims.toml beside the experiment file].
    #[arg(long, value_name = "FILE")]
    pub claims: Option<PathBuf>,
}

/// The tables claims read.
const TABLES: [&str; 4] = ["linear_probe.csv", "occlusion.csv", "distances.csv", "fid.csv"];

pub fn claims(a: &ClaimsArgs) -> Result<(), super::Error> {
    let (plan, claims) = a.pipeline.plan_and_claims(a.claims.as_deref())?;
    let Some(claims) = claims else {
        return Err(format!(
            "no claims file: {} has no claims.toml beside it; give one with --claims FILE",
            a.pipeline.config.display()
        )
        .into());
    };
    let dir = a.results.join(&plan.profile.name);
    let mut tables = BTreeMap::new();
    for name in TABLES {
        let path = dir.join(name);
        if path.is_file() {
            tables.insert(
                name.to_string(),
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?,
            );
        }
    }
    if tables.is_empty() {
        return Err(format!(
            "{}: none of {} (run `pad run --profile {} report` to write them)",
            dir.display(),
            TABLES.join(", "),
            plan.profile.name
        )
        .into());
    }
    let (csv, section) = pad::pipeline::claims::write(&claims, &plan.profile, &tables)?;
    let summary = dir.join("summary.md");
    let old = if summary.is_file() {
        std::fs::read_to_string(&summary).map_err(|e| format!("{}: {e}", summary.display()))?
    } else {
        String::new()
    };
    let table = dir.join(pad::pipeline::claims::TABLE);
    pad::files::atomic::write_atomic(&table, csv.as_bytes())?;
    pad::files::atomic::write_atomic(&summary, pad::pipeline::claims::replace_section(&old, &section).as_bytes())?;
    eprintln!("wrote {}\nwrote {}", table.display(), summary.display());
    // Written, not print!ed (which panics on a closed pipe): `pad claims | head` is no error.
    use std::io::Write;
    match std::io::stdout().write_all(verdict_lines(&csv).as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// One line per claim and dataset: verdict, claim, dataset, the difference and its interval.
fn verdict_lines(csv: &str) -> String {
    let mut out = String::new();
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let Ok(header) = r.headers().cloned() else { return out };
    let col = |name: &str| header.iter().position(|h| h == name);
    let cols: Vec<Option<usize>> =
        ["verdict", "claim", "dataset", "effect", "ci_low", "ci_high"].iter().map(|c| col(c)).collect();
    for rec in r.records().flatten() {
        let cell = |k: usize| cols[k].and_then(|c| rec.get(c)).unwrap_or("");
        let ci = if cell(4) == "NA" { String::new() } else { format!(" [{}, {}]", cell(4), cell(5)) };
        out += &format!("{:<14} {:<28} {:<14} {}{ci}\n", cell(0), cell(1), cell(2), cell(3));
    }
    out
}
