//! Bad numbers on the command line are errors that name the flag and say what is allowed, never a
//! panic, and stop the command before it writes anything. Every subcommand with numeric flags is
//! run with zero, negative, non-numeric and absurd values of each; all must fail while parsing or
//! validating, so the whole test takes a second.
use std::path::Path;
use std::process::{Command, Output};

fn pad(dir: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pad"))
        .args(args)
        .current_dir(dir)
        .env("PAD_DATA", dir.join("data"))
        .env("PAD_CACHE", dir.join("cache"))
        .env_remove("RAYON_NUM_THREADS")
        .env_remove("PAD_INCEPTION")
        .output()
        .unwrap()
}

/// Every file and directory under `dir`.
fn contents(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        out.push(e.path().display().to_string());
        if e.path().is_dir() {
            out.extend(contents(&e.path()));
        }
    }
    out
}

/// Asserts that `pad args` failed cleanly because of `flag`, leaving `dir` as it was.
fn assert_refused(dir: &Path, args: &[String], flag: &str, before: &[String]) {
    let o = pad(dir, args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    let code = o.status.code();
    assert!(code.is_some_and(|c| c != 0 && c != 101), "pad {args:?}: exit {code:?}\n{stderr}");
    assert!(!stderr.contains("panicked"), "pad {args:?}: {stderr}");
    assert!(stderr.contains(flag), "pad {args:?}: the error does not name {flag}:\n{stderr}");
    assert_eq!(contents(dir), before, "pad {args:?} left files behind");
}

const OVERFLOW: &str = "18446744073709551616";
const HUGE: &str = "1000000000000";
/// Bad for every count: zero, negative, not a whole number, too large for 64 bits.
const COUNT: &[&str] = &["0", "-1", "-0", "1.5", "abc", "", OVERFLOW];
/// Bad for seeds (any u64 is a seed).
const SEED: &[&str] = &["-1", "1.5", "abc", "", OVERFLOW];
/// Bad for learning rates.
const RATE: &[&str] = &["0", "-0.1", "nan", "NaN", "inf", "-inf", "1e39", "abc", ""];
/// Bad for penalties (f64: 1e309 is infinite).
const PENALTY: &[&str] = &["0", "-0.1", "-0", "nan", "inf", "-inf", "1e309", "abc", ""];

#[test]
fn bad_numbers_are_refused_naming_the_flag_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |s: &str| d.join(s).display().to_string();
    let (data, other) = (p("data/x.safetensors"), p("data/y.safetensors"));
    let model = |cmd: &str, out: &[&str]| {
        let mut v = vec![cmd.to_string(), "--data".into(), data.clone(), "--untrained".into()];
        v.extend(out.iter().map(|s| s.to_string()));
        v
    };
    let with = |extra: &[&str], bad: &[&[&str]]| {
        bad.iter().flat_map(|b| b.iter()).chain(extra).map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let threads = with(&[HUGE, "1025"], &[COUNT]);
    let replay = |extra: &[&str]| {
        let mut v = vec!["replay".to_string(), "--data".into(), data.clone(), "--out".into(), p("rec")];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let fid = vec![
        "fid".to_string(),
        data.clone(),
        other.clone(),
        "--json".into(),
        p("fid.json"),
        "--cache".into(),
        p("fid-cache"),
    ];
    // (command and its required arguments, numeric flag, values it must refuse)
    let cases: Vec<(Vec<String>, &str, Vec<String>)> = vec![
        (vec!["fetch".into(), "mnist".into(), "--out".into(), p("m.safetensors")], "--threads", threads.clone()),
        (
            vec!["train".into(), "--data".into(), data.clone(), "--out".into(), p("run")],
            "--epochs",
            with(&[HUGE, "10001"], &[COUNT]),
        ),
        (
            vec!["train".into(), "--data".into(), data.clone(), "--out".into(), p("run")],
            "--batch",
            with(&["1", HUGE, "1025"], &[COUNT]),
        ),
        (vec!["train".into(), "--data".into(), data.clone(), "--out".into(), p("run")], "--limit", with(&[], &[COUNT])),
        (vec!["train".into(), "--data".into(), data.clone(), "--out".into(), p("run")], "--seed", with(&[], &[SEED])),
        (vec!["train".into(), "--data".into(), data.clone(), "--out".into(), p("run")], "--threads", threads.clone()),
        (model("probe", &[]), "--epochs", with(&[HUGE], &[COUNT])),
        (model("probe", &[]), "--lr", with(&[], &[RATE])),
        (model("probe", &[]), "--ridge-lambda", with(&[], &[PENALTY])),
        (model("probe", &[]), "--seed", with(&[], &[SEED])),
        (model("probe", &[]), "--threads", threads.clone()),
        (model("occlusion", &["--out", &p("occ.csv")]), "--epochs", with(&[HUGE], &[COUNT])),
        (model("occlusion", &["--out", &p("occ.csv")]), "--lr", with(&[], &[RATE])),
        (model("occlusion", &["--out", &p("occ.csv")]), "--ridge-lambda", with(&[], &[PENALTY])),
        (model("occlusion", &["--out", &p("occ.csv")]), "--seed", with(&[], &[SEED])),
        (model("occlusion", &["--out", &p("occ.csv")]), "--threads", threads.clone()),
        (model("distances", &["--out", &p("d.json")]), "--seed", with(&[], &[SEED])),
        (model("distances", &["--out", &p("d.json")]), "--threads", threads.clone()),
        (model("pca", &["--out", &p("pca")]), "--samples", with(&["1"], &[COUNT])),
        (model("pca", &["--out", &p("pca")]), "--seed", with(&[], &[SEED])),
        (model("pca", &["--out", &p("pca")]), "--threads", threads.clone()),
        (model("dreams", &["--out", &p("dreams")]), "--n", with(&[HUGE, "1025"], &[COUNT])),
        (model("dreams", &["--out", &p("dreams")]), "--seed", with(&[], &[SEED])),
        (model("dreams", &["--out", &p("dreams")]), "--threads", threads.clone()),
        (fid.clone(), "--n", with(&["1", HUGE], &[COUNT])),
        (fid.clone(), "--threads", threads.clone()),
        (vec!["run".into(), "--results".into(), p("results")], "--threads", threads.clone()),
        (
            vec!["bench".into(), "--no-peer".into()],
            "--threads",
            with(&["1,0", "2,-1", "1,"], &[&threads.iter().map(String::as_str).collect::<Vec<_>>()]),
        ),
        (vec!["bench".into(), "--no-peer".into()], "--iters", with(&[HUGE], &[COUNT])),
        (replay(&[]), "--epochs", with(&[HUGE, "101"], &[COUNT])),
        (replay(&[]), "--batch", with(&["1", HUGE, "1025"], &[COUNT])),
        (replay(&[]), "--limit", with(&[], &[COUNT])),
        (replay(&[]), "--nf", with(&[HUGE, "1025"], &[COUNT])),
        (replay(&[]), "--nz", with(&[HUGE, "1025"], &[COUNT])),
        (replay(&[]), "--snapshot-at", with(&["1,0", "10,-1", "1,"], &[COUNT])),
        (replay(&[]), "--seed", with(&[], &[SEED])),
        (replay(&[]), "--threads", threads.clone()),
        (vec!["bench".into(), "--no-peer".into()], "--reps", with(&[HUGE], &[COUNT])),
        (vec!["bench".into(), "--encode".into()], "--encode-images", with(&[HUGE, "1000001"], &[COUNT])),
        (vec!["bench".into(), "--encode".into()], "--ceiling-n", with(&["63", "8193"], &[COUNT])),
    ];
    let before = contents(d);
    let mut runs = 0;
    for (cmd, flag, values) in &cases {
        for v in values {
            // Both spellings: `--flag V` (where a leading '-' must still be read as the value) and `--flag=V`.
            for args in
                [[&cmd[..], &[flag.to_string(), v.clone()]].concat(), [&cmd[..], &[format!("{flag}={v}")]].concat()]
            {
                assert_refused(d, &args, flag, &before);
                runs += 1;
            }
        }
    }
    assert!(runs > 300, "{runs}");
}

#[test]
fn values_that_only_the_data_can_refute_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ds = pad::data::Dataset {
        name: "eight".into(),
        channels: 1,
        classes: vec!["a".into()],
        train: pad::data::Split { images: vec![7; 8 * 1024], labels: vec![0; 8], n: 8 },
        test: pad::data::Split { images: vec![7; 1024], labels: vec![0], n: 1 },
    };
    let data = d.join("eight.safetensors");
    pad::data::write_artifact(&ds, &data).unwrap();
    std::fs::create_dir(d.join("busy")).unwrap();
    std::fs::write(d.join("busy/draws.safetensors"), b"an earlier record").unwrap();
    let before = contents(d);
    let train = |extra: &[&str]| {
        let mut v: Vec<String> = ["train", "--data", data.to_str().unwrap(), "--out", d.join("run").to_str().unwrap()]
            .map(String::from)
            .to_vec();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    // 8 images make no batch of 64; --limit 3 leaves fewer than a batch of 4.
    assert_refused(d, &train(&[]), "--batch", &before);
    assert_refused(d, &train(&["--batch", "4", "--limit", "3"]), "--limit", &before);
    // A replay of 8 images in batches of 4 for one epoch has iterations 1 and 2 only.
    let replay = |extra: &[&str]| {
        let mut v: Vec<String> = ["replay", "--data", data.to_str().unwrap(), "--out", d.join("rec").to_str().unwrap()]
            .map(String::from)
            .to_vec();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    assert_refused(d, &replay(&["--batch", "4", "--snapshot-at", "1,3"]), "--snapshot-at", &before);
    assert_refused(d, &replay(&[]), "--batch", &before);
    let busy_dir = d.join("busy");
    let busy = ["replay", "--data", data.to_str().unwrap(), "--batch", "4", "--out", busy_dir.to_str().unwrap()];
    assert_refused(d, &busy.map(String::from), "--out", &before);
    // A bad thread count from the environment is named too.
    let o = Command::new(env!("CARGO_BIN_EXE_pad"))
        .args(["probe", "--untrained", "--data", data.to_str().unwrap()])
        .env("RAYON_NUM_THREADS", "lots")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("RAYON_NUM_THREADS=lots"), "{stderr}");
}
