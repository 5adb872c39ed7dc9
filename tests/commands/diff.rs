//! `pad diff` on a temporary git repository with two commits of a results tree: the changed rows
//! are listed with the right verdicts (one group moved far beyond its seeds' noise, one within
//! it, one single seed without a noise scale), unchanged rows are silent, the experiment file's
//! and the stages' changes are shown, every format carries the same verdicts, and bad input
//! (unknown revision, missing or malformed table, no git) is a clear error with exit status 2.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PAD: &str = env!("CARGO_BIN_EXE_pad");

const CONFIG: &str = r#"
[datasets.d]
source = "fashion-mnist"

[eval]
probe_epochs = 20

[profiles.demo]
datasets = ["d"]
conditions = ["pad", "wo_rem", "wake_only"]
seeds = [0, 1, 2]
epochs = 4
"#;

/// Commit 1's linear probe: three seeds of pad, wo_rem and wake_only, one of "single".
const PROBE: &str = "dataset,condition,seed,epoch,test_acc,test_loss
d,pad,0,4,50.00,1.5000
d,pad,1,4,52.00,1.5000
d,pad,2,4,54.00,1.5000
d,wo_rem,0,4,40.00,2.0000
d,wo_rem,1,4,42.00,2.0000
d,wo_rem,2,4,44.00,2.0000
d,wake_only,0,4,60.00,1.0000
d,wake_only,1,4,61.00,1.0000
d,wake_only,2,4,62.00,1.0000
d,single,0,4,30.00,3.0000
";

const SUMMARY: &str = "dataset,condition,epoch,seeds,test_acc_mean,test_acc_sem
d,pad,4,3,52.00,1.15
d,wo_rem,4,3,42.00,1.15
d,wake_only,4,3,61.00,0.58
";

const DISTANCES: &str = "dataset,condition,seed,epoch,definition,intra,inter
d,pad,0,4,paper-4.4.4,13.0,20.0
d,pad,1,4,paper-4.4.4,11.0,17.0
";

const STAGES: &str = "stage,version,planned,reported
data,1,1,1
probe,2,10,10
";

/// Commit 2: pad +10 on every seed (2 SE = 3.27: beyond noise), wo_rem seed 0 +1 (within),
/// single +5 (one seed: no verdict), wake_only untouched; a new column; the summary follows; a
/// distance moves within noise; probe_epochs 20 -> 30 and the probe stage's version 2 -> 3.
fn second_commit(probe: &str) -> String {
    let mut lines = probe.lines();
    let header = format!("{},ridge_acc\n", lines.next().unwrap());
    let with_ridge: String = header + &lines.map(|l| format!("{l},1.0\n")).collect::<String>();
    with_ridge
        .replace("pad,0,4,50.00", "pad,0,4,60.00")
        .replace("pad,1,4,52.00", "pad,1,4,62.00")
        .replace("pad,2,4,54.00", "pad,2,4,64.00")
        .replace("wo_rem,0,4,40.00", "wo_rem,0,4,41.00")
        .replace("single,0,4,30.00", "single,0,4,35.00")
}

fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

fn git(repo: &Path, args: &[&str]) {
    let out = Command::new("git").args(args).current_dir(repo).output().expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn first_files() -> Vec<(&'static str, String)> {
    vec![
        ("pipeline.toml", CONFIG.to_string()),
        ("results/demo/linear_probe.csv", PROBE.to_string()),
        ("results/demo/summary.csv", SUMMARY.to_string()),
        ("results/demo/distances.csv", DISTANCES.to_string()),
        ("results/demo/stages.csv", STAGES.to_string()),
    ]
}

/// A git repository with no commit yet.
fn empty_repo() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    git(r, &["init", "-q", "-b", "main"]);
    git(r, &["config", "user.name", "pad test"]);
    git(r, &["config", "user.email", "pad@example.org"]);
    git(r, &["config", "commit.gpgsign", "false"]);
    tmp
}

/// A repository with the two commits; its working tree is commit 2.
fn repo() -> tempfile::TempDir {
    let tmp = empty_repo();
    let r = tmp.path();
    let first = first_files();
    write(r, &first.iter().map(|(p, t)| (*p, t.as_str())).collect::<Vec<_>>());
    git(r, &["add", "-A"]);
    git(r, &["commit", "-q", "-m", "first results"]);
    let summary = SUMMARY
        .replace("pad,4,3,52.00,1.15", "pad,4,3,62.00,1.15")
        .replace("wo_rem,4,3,42.00,1.15", "wo_rem,4,3,42.33,0.88");
    write(
        r,
        &[
            ("pipeline.toml", &CONFIG.replace("probe_epochs = 20", "probe_epochs = 30")),
            ("results/demo/linear_probe.csv", &second_commit(PROBE)),
            ("results/demo/summary.csv", &summary),
            ("results/demo/distances.csv", &DISTANCES.replace("13.0,20.0", "13.5,20.0")),
            ("results/demo/stages.csv", &STAGES.replace("probe,2,", "probe,3,")),
        ],
    );
    git(r, &["add", "-A"]);
    git(r, &["commit", "-q", "-m", "second results"]);
    tmp
}

fn pad(dir: &Path, args: &[&str]) -> Output {
    Command::new(PAD).args(["diff"]).args(args).current_dir(dir).output().expect("pad runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The text lines of the table section `table`.
fn section<'a>(text: &'a str, table: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with(table));
    let head = lines.next().into_iter();
    head.chain(lines.take_while(|l| l.starts_with("  "))).collect()
}

/// The line of a section whose cells (split on whitespace) start with `cells`.
fn line_with<'a>(lines: &[&'a str], cells: &[&str]) -> Option<&'a str> {
    lines.iter().copied().find(|l| l.split_whitespace().take(cells.len()).eq(cells.iter().copied()))
}

#[test]
fn the_text_lists_changed_rows_with_their_verdicts_and_leaves_unchanged_rows_out() {
    let r = repo();
    let o = pad(r.path(), &["HEAD~1", "HEAD"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    let probe = section(&out, "linear_probe.csv");
    assert!(probe[0].contains("5 value(s) changed, 1 beyond noise") && probe[0].contains("added: ridge_acc"), "{out}");
    let pad_mean = line_with(&probe, &["d", "pad", "mean(3)", "4", "test_acc"]).expect("pad's mean");
    assert!(pad_mean.contains("52.000") && pad_mean.contains("62.000") && pad_mean.contains("+10.000"), "{pad_mean}");
    assert!(pad_mean.ends_with("beyond noise"), "{pad_mean}");
    for seed in ["0", "1", "2"] {
        let l = line_with(&probe, &["d", "pad", seed, "4", "test_acc"]).expect("each pad seed");
        assert!(l.contains("+10.00") && l.ends_with("beyond noise"), "{l}");
    }
    let wo = line_with(&probe, &["d", "wo_rem", "mean(3)", "4", "test_acc"]).expect("wo_rem's mean");
    assert!(wo.contains("+0.333") && wo.ends_with("within noise"), "{wo}");
    assert!(line_with(&probe, &["d", "wo_rem", "0", "4", "test_acc"]).unwrap().ends_with("within noise"));
    // Seeds 1 and 2 of wo_rem did not change: silent.
    assert!(line_with(&probe, &["d", "wo_rem", "1"]).is_none(), "{out}");
    let single = line_with(&probe, &["d", "single", "mean(1)", "4", "test_acc"]).expect("single");
    assert!(single.ends_with("n/a (1 seed)"), "{single}");
    // Unchanged rows and the unchanged test_loss column say nothing.
    assert!(!out.contains("wake_only") && !out.contains("test_loss"), "{out}");
    let summary = section(&out, "summary.csv");
    assert!(line_with(&summary, &["d", "pad", "4", "test_acc_mean"]).unwrap().ends_with("beyond noise"), "{out}");
    assert!(line_with(&summary, &["d", "wo_rem", "4", "test_acc_mean"]).unwrap().ends_with("within noise"));
    assert!(line_with(&summary, &["d", "wo_rem", "4", "test_acc_sem"]).unwrap().ends_with('-'));
    let dist = section(&out, "distances.csv");
    assert!(line_with(&dist, &["d", "pad", "mean(2)", "4", "paper-4.4.4", "intra"]).unwrap().ends_with("within noise"));
    // The causes: the experiment file and the stage versions.
    let cfg = line_with(&out.lines().collect::<Vec<_>>(), &["eval.probe_epochs"]).expect("config change");
    assert_eq!(cfg.split_whitespace().collect::<Vec<_>>(), ["eval.probe_epochs", "20", "30"]);
    let st = line_with(&out.lines().collect::<Vec<_>>(), &["probe.version"]).expect("stage version");
    assert_eq!(st.split_whitespace().collect::<Vec<_>>(), ["probe.version", "2", "3"]);
    // summary.csv restates the probe's means: listed above, counted once.
    assert!(out.contains("1 change(s) beyond noise"), "{out}");
    assert!(out.contains("summary.csv restates linear_probe.csv's means and is not counted again"), "{out}");
}

#[test]
fn fail_beyond_noise_sets_the_exit_status() {
    let r = repo();
    assert_eq!(pad(r.path(), &["HEAD~1", "HEAD", "--fail-beyond-noise"]).status.code(), Some(1));
    // Only the distances (within noise), and nothing at all: 0.
    let o = pad(r.path(), &["HEAD~1", "HEAD", "--table", "distances", "--fail-beyond-noise"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("within noise") && !stdout(&o).contains("linear_probe"), "{}", stdout(&o));
    let o = pad(r.path(), &["HEAD", "HEAD", "--fail-beyond-noise"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("0 value(s) changed in 0 of 3 table(s)"), "{}", stdout(&o));
}

#[test]
fn csv_json_and_markdown_carry_the_same_verdicts() {
    let r = repo();
    let o = pad(r.path(), &["HEAD~1", "HEAD", "--format", "csv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut rd = csv::Reader::from_reader(o.stdout.as_slice());
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let find = |section: &str, key: &str, column: &str| {
        rows.iter().find(|r| &r[0] == section && r[2].contains(key) && &r[3] == column).map(|r| r[8].to_string())
    };
    assert_eq!(find("mean", "condition=pad;seed=mean", "test_acc").as_deref(), Some("beyond_noise"));
    assert_eq!(find("seed", "condition=pad;seed=1", "test_acc").as_deref(), Some("beyond_noise"));
    assert_eq!(find("mean", "condition=wo_rem;seed=mean", "test_acc").as_deref(), Some("within_noise"));
    assert_eq!(find("mean", "condition=single", "test_acc").as_deref(), Some("one_seed"));
    assert!(rows.iter().any(|r| &r[0] == "column_added" && &r[3] == "ridge_acc"));
    assert!(rows.iter().any(|r| &r[0] == "config" && &r[2] == "eval.probe_epochs" && &r[4] == "20" && &r[5] == "30"));
    assert!(rows.iter().all(|r| !r[2].contains("wake_only")));

    let o = pad(r.path(), &["HEAD~1", "HEAD", "--format", "json"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON output");
    assert_eq!(j["beyond_noise"], 1);
    // 5 seeds of the probe and 1 distance; summary.csv's 3 cells restate the probe's means.
    assert_eq!(j["changed_values"], 5 + 1);
    let probe = j["tables"].as_array().unwrap().iter().find(|t| t["table"] == "linear_probe.csv").unwrap();
    let mean = &probe["lines"][0];
    assert_eq!(
        (&mean["what"], &mean["key"]["condition"], &mean["verdict"]),
        (&"mean".into(), &"pad".into(), &"beyond_noise".into())
    );
    assert_eq!(mean["old"], 52.0);
    assert_eq!(mean["seeds"], serde_json::json!([3, 3]));
    assert_eq!(j["stages"]["changes"][0]["key"], "probe.version");

    let o = pad(r.path(), &["HEAD~1", "HEAD", "--format", "md"]);
    let md = stdout(&o);
    assert!(
        md.contains("| dataset | condition | seed | epoch | column | old | new | delta | 2 SE | verdict |"),
        "{md}"
    );
    assert!(
        md.contains("| d | pad | mean(3) | 4 | test_acc | 52.000 | 62.000 | +10.000 | 3.266 | **beyond noise** |"),
        "{md}"
    );
    assert!(md.contains("| `eval.probe_epochs` | `20` | `30` |"), "{md}");
}

#[test]
fn the_working_tree_and_directories_are_sides_too() {
    let r = repo();
    // Default: HEAD against the working tree.
    write(
        r.path(),
        &[(
            "results/demo/linear_probe.csv",
            &second_commit(PROBE).replace("d,wake_only,0,4,60.00", "d,wake_only,0,4,99.00"),
        )],
    );
    let o = pad(r.path(), &[]);
    let out = stdout(&o);
    assert!(out.contains("a = HEAD (") && out.contains("b = working tree"), "{out}");
    let probe = section(&out, "linear_probe.csv");
    assert!(line_with(&probe, &["d", "wake_only", "0", "4", "test_acc"]).is_some(), "{out}");
    assert!(!out.contains(" pad "), "{out}");
    // A results root outside the repository, with its pipeline.toml beside it: commit 1's files.
    let old = tempfile::tempdir().unwrap();
    let first = first_files();
    write(old.path(), &first.iter().map(|(p, t)| (*p, t.as_str())).collect::<Vec<_>>());
    let root = old.path().join("results");
    let o = pad(r.path(), &[root.to_str().unwrap(), "HEAD"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(line_with(&section(&out, "linear_probe.csv"), &["d", "pad", "mean(3)"]).unwrap().ends_with("beyond noise"));
    assert!(out.contains("eval.probe_epochs"), "{out}");
    // The profile's directory itself, and a whole checkout, are the same side.
    for dir in [root.join("demo"), old.path().to_path_buf()] {
        let o = pad(r.path(), &[dir.to_str().unwrap(), "HEAD", "--format", "json"]);
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", stderr(&o)));
        assert_eq!(j["beyond_noise"], 1, "{dir:?}");
    }
}

fn fails_clearly(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}{}", stdout(o));
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "'{n}' not in: {err}");
    }
}

#[test]
fn bad_revisions_tables_and_directories_are_clear_errors() {
    let r = repo();
    fails_clearly(&pad(r.path(), &["no-such-rev"]), &["'no-such-rev'", "neither a directory nor a revision"]);
    fails_clearly(&pad(r.path(), &["HEAD~1", "--table", "fid"]), &["HEAD~1", "results/demo/fid.csv", "does not exist"]);
    fails_clearly(&pad(r.path(), &["HEAD~1", "HEAD", "--profile", "paper"]), &["no results of profile paper"]);
    // Malformed tables in the working tree: a ragged row, a word where a number belongs.
    let probe = PathBuf::from("results/demo/linear_probe.csv");
    write(r.path(), &[("results/demo/linear_probe.csv", &PROBE.replace("d,pad,1,4,52.00,1.5000", "d,pad,1,4,52.00"))]);
    fails_clearly(&pad(r.path(), &["HEAD"]), &[probe.to_str().unwrap(), "line: 3", "fields"]);
    write(r.path(), &[("results/demo/linear_probe.csv", &PROBE.replace("d,pad,1,4,52.00", "d,pad,1,4,fast"))]);
    fails_clearly(&pad(r.path(), &["HEAD"]), &[probe.to_str().unwrap(), "line 3", "test_acc", "'fast'"]);
    // ... and at a revision, named with it.
    git(r.path(), &["commit", "-q", "-am", "broken"]);
    fails_clearly(&pad(r.path(), &["HEAD", "HEAD~1"]), &["HEAD:results/demo/linear_probe.csv", "'fast'"]);
    // A broken experiment file in the working tree.
    write(r.path(), &[("results/demo/linear_probe.csv", &second_commit(PROBE)), ("pipeline.toml", "[eval\n")]);
    fails_clearly(&pad(r.path(), &["HEAD~1"]), &["pipeline.toml: "]);
    // A directory that holds no results.
    let empty = tempfile::tempdir().unwrap();
    fails_clearly(&pad(r.path(), &[empty.path().to_str().unwrap(), "HEAD"]), &["not a results root"]);
}

#[test]
fn without_git_or_a_repository_the_error_says_so() {
    let r = repo();
    let o = Command::new(PAD).args(["diff", "HEAD~1", "HEAD"]).current_dir(r.path()).env("PATH", "").output().unwrap();
    fails_clearly(&o, &["git is not installed", "HEAD~1"]);
    let plain = tempfile::tempdir().unwrap();
    fails_clearly(&pad(plain.path(), &["HEAD"]), &["'HEAD'", "not in a git repository"]);
}

#[test]
fn a_changed_claim_verdict_is_listed_before_any_number_in_every_format() {
    let claims = "dataset,paper_dataset,claim,metric,a,relation,b,epoch,paper_epoch,seeds_a,seeds_b,mean_a,mean_b,effect,ci_low,ci_high,paper_a,paper_b,paper_effect,verdict,note
d,NA,rem-separability,probe,pad,greater,wo_rem,4,NA,3,3,52.00,42.00,10.00,7.00,13.00,NA,NA,NA,holds,
d,NA,nrem-invariance,occluded_inter,wo_nrem,greater,pad,4,NA,3,3,0.4000,0.1500,0.2500,0.2000,0.3000,NA,NA,NA,holds,
";
    let tmp = empty_repo();
    let r = tmp.path();
    let first =
        [("pipeline.toml", CONFIG), ("results/demo/linear_probe.csv", PROBE), ("results/demo/claims.csv", claims)];
    write(r, &first);
    git(r, &["add", "-A"]);
    git(r, &["commit", "-q", "-m", "first"]);
    // The working tree: one verdict turned, a probe value moved (a number change, listed later).
    let turned = claims.replace("10.00,7.00,13.00,NA,NA,NA,holds", "-2.00,-5.00,1.00,NA,NA,NA,not seen");
    write(
        r,
        &[("results/demo/claims.csv", &turned), ("results/demo/linear_probe.csv", &PROBE.replace("50.00", "51.00"))],
    );
    let out = pad(r, &["HEAD"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    let claims_at = text.find("the paper's claims (claims.csv): 1 verdict(s) changed").expect(&text);
    let line = text.lines().find(|l| l.contains("rem-separability")).expect(&text);
    assert!(line.contains("holds") && line.contains("not seen") && line.contains("10.00 -> -2.00"), "{line}");
    assert!(!text.contains("nrem-invariance"), "an unchanged verdict is not listed: {text}");
    assert!(claims_at < text.find("pipeline.toml").unwrap() && claims_at < text.find("linear_probe.csv").unwrap());
    assert!(text.trim_end().lines().last().unwrap().starts_with("1 claim verdict(s) changed; "), "{text}");
    // claims.csv is compared by verdict only, never as a table of numbers.
    assert!(!text.contains("claims.csv: "), "{text}");
    let md = stdout(&pad(r, &["HEAD", "--format", "md"]));
    assert!(md.find("#### The paper's claims (claims.csv)").unwrap() < md.find("#### pipeline.toml").unwrap(), "{md}");
    assert!(md.contains("| d | rem-separability | holds | not seen | 10.00 -> -2.00 |"), "{md}");
    let csv = stdout(&pad(r, &["HEAD", "--format", "csv"]));
    assert!(
        csv.contains(
            "claim_verdict,claims.csv,dataset=d;claim=rem-separability,verdict,holds,not seen,,,,effect 10.00 -> -2.00"
        ),
        "{csv}"
    );
    let json = stdout(&pad(r, &["HEAD", "--format", "json"]));
    assert!(json.contains("\"claim\": \"rem-separability\"") && json.contains("\"new\": \"not seen\""), "{json}");
    // With the verdict back, nothing is listed.
    write(r, &[("results/demo/claims.csv", claims)]);
    let text = stdout(&pad(r, &["HEAD"]));
    assert!(text.contains("the paper's claims (claims.csv): 0 verdict(s) changed"), "{text}");
}
