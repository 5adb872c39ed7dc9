//! The sbatch command of one job: name, log path, dependencies, resources, and the command it
//! runs. sbatch is run directly (no shell), so every option is one argv element; only the
//! `--wrap` text goes through /bin/sh on the compute node, and each word in it is single-quoted.
use super::config::Resources;
use std::path::{Path, PathBuf};

/// What a job waits for: a job id, or (dry run) a job not submitted yet, by label.
#[derive(Debug, Clone, PartialEq)]
pub enum After {
    Job(u64),
    Planned(String),
}

impl std::fmt::Display for After {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            After::Job(id) => write!(f, "{id}"),
            After::Planned(label) => write!(f, "{{{label}}}"),
        }
    }
}

/// `pad-<stage>-<first 12 characters of the key>`: unique enough to tell our job from another
/// that got the same id after a cluster restart, short enough for squeue's columns.
pub fn job_name(stage: &str, key: &str) -> String {
    format!("pad-{stage}-{}", key.get(..12).unwrap_or(key))
}

/// The `--output` pattern: `<cache>/logs/<dir>/<file>.%j.log`. sbatch expands `%` sequences in
/// it, so a '%' of the cache path itself is written `%%`.
pub fn log_pattern(cache: &str, dir: &str, file: &str) -> String {
    format!("{}/logs/{dir}/{file}.%j.log", cache.replace('%', "%%"))
}

/// The file sbatch writes for job `id` under the pattern above.
pub fn log_path(cache: &Path, dir: &str, file: &str, id: u64) -> PathBuf {
    cache.join("logs").join(dir).join(format!("{file}.{id}.log"))
}

/// A word as /bin/sh reads it back unchanged: bare when it has only safe characters, else in
/// single quotes (a quote inside becomes '\'').
pub fn shell_quote(s: &str) -> String {
    let safe = |b: u8| b.is_ascii_alphanumeric() || b"-_./:,+@%=".contains(&b);
    if !s.is_empty() && s.bytes().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// An argv as one shell line (for --wrap, dry runs and error messages).
pub fn shell_line(argv: &[String]) -> String {
    argv.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ")
}

/// The job's shell command: the cache and the thread count set explicitly (the job may start on a
/// node whose environment differs from the submitter's), then `exec` so the job's exit status
/// and signals are the stage process's own.
pub fn wrap_command(cache: &str, threads: u32, argv: &[String]) -> String {
    format!("export PAD_CACHE={} RAYON_NUM_THREADS={threads}; exec {}", shell_quote(cache), shell_line(argv))
}

/// sbatch's arguments for one job. `--kill-on-invalid-dep=yes` makes Slurm cancel the job when an
/// input's job fails, instead of leaving it PENDING (DependencyNeverSatisfied) forever.
pub fn sbatch_args(name: &str, log_pattern: &str, res: &Resources, after: &[After], wrap: &str) -> Vec<String> {
    let mut a = vec!["--parsable".to_string(), format!("--job-name={name}"), format!("--output={log_pattern}")];
    if !after.is_empty() {
        let ids: Vec<String> = after.iter().map(After::to_string).collect();
        a.push(format!("--dependency=afterok:{}", ids.join(":")));
    }
    a.push("--kill-on-invalid-dep=yes".into());
    a.push("--export=ALL".into());
    a.push(format!("--cpus-per-task={}", res.cpus_per_task));
    if let Some(m) = &res.mem {
        a.push(format!("--mem={m}"));
    }
    if let Some(t) = &res.time {
        a.push(format!("--time={t}"));
    }
    if let Some(p) = &res.partition {
        a.push(format!("--partition={p}"));
    }
    if let Some(acc) = &res.account {
        a.push(format!("--account={acc}"));
    }
    a.extend(res.extra_args.iter().cloned());
    a.push(format!("--wrap={wrap}"));
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_log_paths() {
        let key = "0123456789abcdef0123";
        assert_eq!(job_name("train", key), "pad-train-0123456789ab");
        assert_eq!(job_name("fid", "short"), "pad-fid-short");
        assert_eq!(log_pattern("/c 1/50%", "train", key), "/c 1/50%%/logs/train/0123456789abcdef0123.%j.log");
        assert_eq!(
            log_path(Path::new("/c 1/50%"), "train", key, 7),
            Path::new("/c 1/50%/logs/train/0123456789abcdef0123.7.log")
        );
    }

    #[test]
    fn args_carry_dependencies_resources_and_extras_in_order() {
        let res = Resources {
            cpus_per_task: 4,
            mem: Some("4G".into()),
            time: Some("02:00:00".into()),
            partition: Some("debug".into()),
            account: Some("proj".into()),
            extra_args: vec!["--qos=short".into()],
        };
        let a = sbatch_args("n", "/l/%j", &res, &[After::Job(3), After::Planned("probe d/c/s0 e1".into())], "w");
        assert_eq!(
            a,
            [
                "--parsable",
                "--job-name=n",
                "--output=/l/%j",
                "--dependency=afterok:3:{probe d/c/s0 e1}",
                "--kill-on-invalid-dep=yes",
                "--export=ALL",
                "--cpus-per-task=4",
                "--mem=4G",
                "--time=02:00:00",
                "--partition=debug",
                "--account=proj",
                "--qos=short",
                "--wrap=w"
            ]
        );
        let bare =
            Resources { cpus_per_task: 1, mem: None, time: None, partition: None, account: None, extra_args: vec![] };
        let a = sbatch_args("n", "l", &bare, &[], "w");
        assert!(!a.iter().any(|x| x.starts_with("--dependency")), "{a:?}");
        assert!(!a.iter().any(|x| x.starts_with("--mem") || x.starts_with("--time") || x.starts_with("--partition")));
        assert!(a.contains(&"--cpus-per-task=1".to_string()));
    }

    /// The --wrap text run by a real /bin/sh gives back every argument byte for byte, with the
    /// environment set: spaces, quotes, '$', '%', globs and newlines in paths survive.
    #[test]
    fn wrap_quoting_survives_a_real_shell() {
        let cache = "/tmp/a dir/it's $HOME %j *";
        let argv: Vec<String> = [
            "/bin/sh",
            "-c",
            r#"printf '%s\n' "$PAD_CACHE" "$RAYON_NUM_THREADS" "$0" "$1" "$2""#,
            "k3y",
            "two words",
            "new\nline `x` \"q\"",
        ]
        .map(String::from)
        .to_vec();
        let wrap = wrap_command(cache, 3, &argv);
        let out = std::process::Command::new("/bin/sh").arg("-c").arg(&wrap).env_clear().output().unwrap();
        assert!(out.status.success(), "{wrap}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("{cache}\n3\nk3y\ntwo words\nnew\nline `x` \"q\"\n")
        );
        assert_eq!(shell_quote("plain-word_1.2/x:y"), "plain-word_1.2/x:y");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }
}
