//! `pad diff`: what changed in the science between two commits.
use clap::Args;
use pad::pipeline::diff::{self, Format, Layout, Options};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

pub const ABOUT: &str =
    "Compare results/<profile>/ between two commits (or directories): changed values, and which are beyond noise";

pub const LONG_ABOUT: &str = "\
Compare results/<profile>/ between two commits (or directories): every table's changed values
(old, new, delta), rows and columns added or removed, next to what changed in pipeline.toml for
the profile and in the stages' versions (stages.csv, written by the report). First of all, the
paper's claims whose verdict changed (claims.csv: old and new verdict, old and new effect); the
claims table is compared by verdict only, its numbers restate the other tables'.

Sides: A and B are git revisions (HEAD~3, a branch, a hash; files are read with git, nothing is
checked out) or directories. Default: HEAD against the working tree; one argument: A against the
working tree. A directory is a results root (it has <profile>/), a profile's results (it holds
.csv tables), or a checkout (it has <results>/<profile>/); its pipeline.toml is looked for beside
the results root (in the checkout for the last form).

Rows are matched by their key columns (dataset, condition, seed, epoch, p, definition, kind,
stage, and any column of text); the other columns are values, and must be numbers or NA.

Noise: for a table with a seed column, the seeds of a key (the rest of its key) are one group.
A group's mean over seeds is uncertain by its SEM (std / sqrt(n)); the change of the mean from A
to B is judged against the standard error of the difference, SE = sqrt(SEM_A^2 + SEM_B^2), and is
\"beyond noise\" when |delta| > 2 SE. A side with one seed has no SEM and adds none; with no SEM on
either side the verdict is \"n/a (1 seed)\", never a change called real. Each changed seed is
listed under its group's mean, with the group's verdict. Tables of means with SEM columns
(summary.csv: test_acc_mean, test_acc_sem) are judged with those SEMs; the SEM and count columns
themselves are listed without a verdict (\"-\"); tables with neither seeds nor SEMs say
\"n/a (no seeds)\".

Exit status: 0 when the comparison ran (and, with --fail-beyond-noise, nothing is beyond noise);
1 with --fail-beyond-noise when something is; 2 on an error (unknown revision, missing or
malformed table).";

/// How the comparison is printed.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FormatArg {
    /// Aligned columns for reading.
    #[default]
    Text,
    /// One long table (section, table, key, column, old, new, delta, two_se, verdict, detail).
    Csv,
    /// The whole comparison as one object.
    Json,
    /// Markdown tables, for a pull-request comment.
    Md,
}

#[derive(Args, Debug, Clone)]
pub struct DiffArgs {
    /// Side A (old): a git revision or a directory [default: HEAD].
    #[arg(value_name = "A")]
    pub a: Option<String>,
    /// Side B (new): a git revision or a directory [default: the working tree].
    #[arg(value_name = "B")]
    pub b: Option<String>,
    /// The experiment file (its path in every revision; beside the results root for directories).
    #[arg(long, default_value = "pipeline.toml", value_name = "FILE")]
    pub config: PathBuf,
    /// Profile whose results are compared (results/<profile>/).
    #[arg(long, default_value = "demo")]
    pub profile: String,
    /// Where results live (<RESULTS>/<profile>/), in the working tree and in every revision.
    #[arg(long, default_value = "results", value_name = "DIR")]
    pub results: PathBuf,
    /// Compare only this table (e.g. linear_probe); repeatable. It must exist on both sides.
    #[arg(long = "table", value_name = "NAME")]
    pub tables: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
    /// Exit with status 1 when any change is beyond noise (for CI).
    #[arg(long)]
    pub fail_beyond_noise: bool,
}

pub fn diff(a: &DiffArgs) -> Result<ExitCode, super::Error> {
    let opts = Options {
        a: a.a.clone(),
        b: a.b.clone(),
        layout: Layout { profile: a.profile.clone(), results: a.results.clone(), config: a.config.clone() },
        tables: a.tables.clone(),
    };
    let d = diff::diff(&opts)?;
    let format = match a.format {
        FormatArg::Text => Format::Text,
        FormatArg::Csv => Format::Csv,
        FormatArg::Json => Format::Json,
        FormatArg::Md => Format::Markdown,
    };
    // Written, not print!ed (which panics on a closed pipe); a reader that stopped early
    // (`pad diff | head`) is no error, and the verdict below still sets the status.
    match std::io::stdout().write_all(diff::output::render(&d, format).as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r?,
    }
    Ok(if a.fail_beyond_noise && d.beyond_noise() > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
