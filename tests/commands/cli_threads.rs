//! `--threads` reaches the pool the evaluation commands compute on: a command that built the global
//! pool before reading `--threads` would ignore it silently. Here each of `pad occlusion |
//! distances | pca | dreams | fid` runs with PAD_LOG_THREADS=1
//! (the binary reports the number of workers that answer a broadcast in its global pool) and with
//! RAYON_NUM_THREADS=3, so an ignored flag shows as 3, not as the 1 or 2 asked for.
use pad::data::{write_artifact, Dataset, Split};
use pad::eval::fid::{save_stats, Stats, StatsInfo};
use pad::eval::inception::{synthetic, Layout};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A small 3-channel artifact: 72 train images (one read-out batch of 64) and 8 test images.
fn artifact(dir: &Path) -> PathBuf {
    let split = |tag: &str, n: usize| {
        let images = synthetic::image(tag, n * 3 * 32 * 32).into_iter().map(|v| ((v + 1.0) * 127.5) as u8).collect();
        Split { images, labels: (0..n).map(|i| (i % 2) as u8).collect(), n }
    };
    let ds = Dataset {
        name: "tiny".into(),
        channels: 3,
        classes: vec!["a".into(), "b".into()],
        train: split("threads.train", 72),
        test: split("threads.test", 8),
    };
    let p = dir.join("tiny.safetensors");
    write_artifact(&ds, &p).unwrap();
    p
}

/// Runs `pad args` and returns the worker count it logged, and its stdout.
fn workers(args: &[&str], threads: Option<&str>) -> (usize, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pad"));
    cmd.args(args).env("PAD_LOG_THREADS", "1").env("RAYON_NUM_THREADS", "3");
    if let Some(n) = threads {
        cmd.args(["--threads", n]);
    }
    let o = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "pad {args:?} --threads {threads:?}: {stderr}");
    let line =
        stderr.lines().find_map(|l| l.strip_prefix("pad: worker threads: ")).unwrap_or_else(|| panic!("{stderr}"));
    let n = line.split_whitespace().next().unwrap().parse().unwrap();
    (n, String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn threads_flag_sets_the_workers_of_every_evaluation_command() {
    let dir = tempfile::tempdir().unwrap();
    let data = artifact(dir.path());
    let data = data.to_str().unwrap();
    let out = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    // `pad fid` on two small statistics files: Inception on images takes half a minute here.
    let stats = |name: &str, shift: f64| {
        let s =
            Stats { dim: 4, n: 10, mu: vec![shift; 4], sigma: (0..16).map(|i| (i % 5 == 0) as u8 as f64).collect() };
        let info = StatsInfo { n: 10, layout: Layout::Fid, source: name.into() };
        save_stats(&dir.path().join(name), &s, &info).unwrap();
        out(name)
    };
    let (sa, sb) = (stats("a.fidstats.safetensors", 0.0), stats("b.fidstats.safetensors", 1.0));
    let model = ["--data", data, "--untrained"];
    let commands: Vec<Vec<String>> = [
        vec!["probe", "--epochs", "1"],
        vec!["occlusion", "--epochs", "1"],
        vec!["pca", "--out", &out("pca")],
        vec!["dreams", "--n", "2", "--out", &out("dreams")],
    ]
    .into_iter()
    .map(|c| c.into_iter().chain(model).map(String::from).collect())
    .chain(std::iter::once(["fid", &sa, &sb].map(String::from).to_vec()))
    .collect();
    for c in &commands {
        let args: Vec<&str> = c.iter().map(String::as_str).collect();
        assert_eq!(workers(&args, Some("1")).0, 1, "{args:?}");
        assert_eq!(workers(&args, Some("2")).0, 2, "{args:?}");
    }
    // Without the flag, RAYON_NUM_THREADS decides; and `pad probe` prints the probe table format.
    let (n, stdout) = workers(&["probe", "--epochs", "2", "--data", data, "--untrained"], None);
    assert_eq!(n, 3);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], pad::eval::probe::HISTORY_HEADER);
    assert_eq!(lines.len(), 3, "{stdout}");
}
