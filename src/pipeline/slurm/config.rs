//! The `[slurm]` table of pipeline.toml: default resources for every job, per-stage overrides
//! (`[slurm.stages.train]`), and where the cluster's job-completion log is.
use super::error::SlurmError;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The stage name under which the final job (`final_job`, e.g. the report) takes its resources.
pub const FINAL_STAGE: &str = "final";

/// Where `JobCompType=jobcomp/filetxt` writes one line per finished job on the test cluster.
pub const DEFAULT_JOBCOMP_LOG: &str = "/var/log/slurm/jobcomp.log";

/// `[slurm]`: resources of every job unless a `[slurm.stages.<stage>]` table sets them.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlurmConfig {
    /// `--cpus-per-task`, and the job's thread count (RAYON_NUM_THREADS). Default 1.
    pub cpus_per_task: Option<u32>,
    /// `--mem`, e.g. "4G" (digits and an optional K, M, G or T suffix; plain digits are MB).
    pub mem: Option<String>,
    /// `--time`: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS or UNLIMITED.
    pub time: Option<String>,
    pub partition: Option<String>,
    pub account: Option<String>,
    /// More sbatch options, one element each with its value joined by `=` ("--qos=short").
    #[serde(default)]
    pub extra_args: Vec<String>,
    /// Per-stage overrides; a field set there replaces the default (extra_args as a whole).
    #[serde(default)]
    pub stages: BTreeMap<String, StageResources>,
    /// The JobCompLoc of `JobCompType=jobcomp/filetxt`, read by status once a job has left
    /// squeue (default /var/log/slurm/jobcomp.log; ignored when unreadable).
    pub jobcomp_log: Option<String>,
}

/// `[slurm.stages.<stage>]`: the same fields as `[slurm]`, each optional.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StageResources {
    pub cpus_per_task: Option<u32>,
    pub mem: Option<String>,
    pub time: Option<String>,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub extra_args: Option<Vec<String>>,
}

/// What one job asks Slurm for.
#[derive(Debug, Clone, PartialEq)]
pub struct Resources {
    pub cpus_per_task: u32,
    pub mem: Option<String>,
    pub time: Option<String>,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub extra_args: Vec<String>,
}

/// sbatch options pad sets itself (or that would break what it relies on: the log path, the
/// dependency chain, a non-blocking sbatch): extra_args may not contain them. `--mem` etc. have
/// their own fields.
const RESERVED_LONG: &[&str] = &[
    "--job-name",
    "--output",
    "--error",
    "--dependency",
    "--kill-on-invalid-dep",
    "--parsable",
    "--wrap",
    "--export",
    "--wait",
    "--array",
    "--cpus-per-task",
    "--mem",
    "--time",
    "--partition",
    "--account",
];
/// Their short forms (-J -o -e -d -W -a -c -t -p -A).
const RESERVED_SHORT: &[char] = &['J', 'o', 'e', 'd', 'W', 'a', 'c', 't', 'p', 'A'];
/// sbatch's short options that take no value (--quiet, --overcommit, --oversubscribe, --hold,
/// --no-kill, --verbose): the only ones that may stand alone.
const FLAG_SHORT: &[char] = &['Q', 'O', 's', 'H', 'k', 'v'];

impl SlurmConfig {
    /// The resources of a job of `stage`: its `[slurm.stages.<stage>]` fields over the defaults.
    pub fn resources(&self, stage: &str) -> Resources {
        let o = self.stages.get(stage).cloned().unwrap_or_default();
        Resources {
            cpus_per_task: o.cpus_per_task.or(self.cpus_per_task).unwrap_or(1),
            mem: o.mem.or_else(|| self.mem.clone()),
            time: o.time.or_else(|| self.time.clone()),
            partition: o.partition.or_else(|| self.partition.clone()),
            account: o.account.or_else(|| self.account.clone()),
            extra_args: o.extra_args.unwrap_or_else(|| self.extra_args.clone()),
        }
    }

    /// The job-completion log status reads (see `jobcomp_log`).
    pub fn jobcomp_log(&self) -> &str {
        self.jobcomp_log.as_deref().unwrap_or(DEFAULT_JOBCOMP_LOG)
    }

    /// Checks every value, and that each `[slurm.stages.<name>]` names one of `known_stages` or
    /// "final" (a typo would otherwise silently leave the defaults in force). Errors name the key,
    /// e.g. `slurm.stages.train.time`.
    pub fn validate(&self, known_stages: &[&str]) -> Result<(), SlurmError> {
        check_fields(
            "slurm",
            self.cpus_per_task,
            self.mem.as_deref(),
            self.time.as_deref(),
            self.partition.as_deref(),
            self.account.as_deref(),
            Some(&self.extra_args),
        )?;
        if let Some(p) = &self.jobcomp_log {
            if p.is_empty() {
                return Err(bad("slurm.jobcomp_log", "must not be empty".into()));
            }
        }
        for (stage, o) in &self.stages {
            let prefix = format!("slurm.stages.{stage}");
            if stage != FINAL_STAGE && !known_stages.contains(&stage.as_str()) {
                let mut names: Vec<&str> = known_stages.to_vec();
                names.push(FINAL_STAGE);
                return Err(bad(&prefix, format!("no stage '{stage}'; stages: {}", names.join(", "))));
            }
            check_fields(
                &prefix,
                o.cpus_per_task,
                o.mem.as_deref(),
                o.time.as_deref(),
                o.partition.as_deref(),
                o.account.as_deref(),
                o.extra_args.as_ref(),
            )?;
        }
        // `--mem` and `--mem-per-cpu` are mutually exclusive in sbatch: catch the combination
        // here rather than as a failed submission halfway through a plan.
        let mut stages: Vec<&str> = vec![""];
        stages.extend(self.stages.keys().map(String::as_str));
        for stage in stages {
            let r = self.resources(stage);
            let per = r.extra_args.iter().find(|a| a.starts_with("--mem-per-"));
            if let (Some(_), Some(per)) = (&r.mem, per) {
                let key = if stage.is_empty() { "slurm".to_string() } else { format!("slurm.stages.{stage}") };
                return Err(bad(&key, format!("mem and extra_args \"{per}\" both set the memory; keep one")));
            }
        }
        Ok(())
    }
}

fn bad(key: &str, msg: String) -> SlurmError {
    SlurmError::Config { key: key.to_string(), msg }
}

fn check_fields(
    prefix: &str,
    cpus: Option<u32>,
    mem: Option<&str>,
    time: Option<&str>,
    partition: Option<&str>,
    account: Option<&str>,
    extra: Option<&Vec<String>>,
) -> Result<(), SlurmError> {
    if cpus == Some(0) {
        return Err(bad(&format!("{prefix}.cpus_per_task"), "must be at least 1".into()));
    }
    if let Some(m) = mem {
        check_mem(m).map_err(|msg| bad(&format!("{prefix}.mem"), msg))?;
    }
    if let Some(t) = time {
        check_time(t).map_err(|msg| bad(&format!("{prefix}.time"), msg))?;
    }
    for (field, v) in [("partition", partition), ("account", account)] {
        if let Some(v) = v {
            if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad(&format!("{prefix}.{field}"), format!("{v:?} is not a Slurm name (empty or blanks)")));
            }
        }
    }
    for arg in extra.into_iter().flatten() {
        check_extra(arg).map_err(|msg| bad(&format!("{prefix}.extra_args"), msg))?;
    }
    Ok(())
}

/// Slurm memory: digits, an optional unit (K, M, G, T; none means MB), more than zero. (`--mem=0`
/// means "all of a node's memory" to Slurm, which is never what a per-stage limit means here.)
pub fn check_mem(m: &str) -> Result<(), String> {
    let digits = m.strip_suffix(|c: char| "KMGTkmgt".contains(c)).unwrap_or(m);
    match digits.parse::<u64>() {
        Ok(n) if n > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => Err(format!("{m:?} is not a Slurm memory size (e.g. \"4G\", \"500M\"; more than zero)")),
    }
}

/// Slurm time limits: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or UNLIMITED/INFINITE.
/// Returns the limit in seconds (None for unlimited). Zero is refused: to Slurm it means "no
/// limit", which should be asked for by name.
pub fn check_time(t: &str) -> Result<Option<u64>, String> {
    let err =
        || format!("{t:?} is not a Slurm time (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS or UNLIMITED; not zero)");
    if t.eq_ignore_ascii_case("unlimited") || t.eq_ignore_ascii_case("infinite") {
        return Ok(None);
    }
    let num = |s: &str| -> Result<u64, String> {
        if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        s.parse::<u64>().map_err(|_| err())
    };
    let (days, rest) = match t.split_once('-') {
        Some((d, rest)) => (Some(num(d)?), rest),
        None => (None, t),
    };
    let parts: Vec<u64> = rest.split(':').map(num).collect::<Result<_, _>>()?;
    // Every part after the leading one is a clock field, so it stays under 60 (or 24 for the
    // hours after a day count).
    let secs = match (days, parts.as_slice()) {
        (None, [m]) => m * 60,
        (None, [m, s]) if *s < 60 => m * 60 + s,
        (None, [h, m, s]) if *m < 60 && *s < 60 => h * 3600 + m * 60 + s,
        (Some(d), [h]) if *h < 24 => d * 86400 + h * 3600,
        (Some(d), [h, m]) if *h < 24 && *m < 60 => d * 86400 + h * 3600 + m * 60,
        (Some(d), [h, m, s]) if *h < 24 && *m < 60 && *s < 60 => d * 86400 + h * 3600 + m * 60 + s,
        _ => return Err(err()),
    };
    if secs == 0 {
        return Err(err());
    }
    Ok(Some(secs))
}

/// One extra sbatch option: starts with '-', carries its value after '=' (so that a value is
/// never mistaken for an option), and is none of the options pad sets itself. sbatch accepts
/// unambiguous prefixes of long options ("--dep"), so a prefix of a reserved one is refused too.
pub fn check_extra(arg: &str) -> Result<(), String> {
    if let Some(long) = arg.strip_prefix("--") {
        let name = long.split('=').next().unwrap_or_default();
        if name.is_empty() {
            return Err(format!("{arg:?} is not an sbatch option"));
        }
        if let Some(r) = RESERVED_LONG.iter().find(|r| r[2..].starts_with(name)) {
            return Err(format!("{arg:?} conflicts with {r}, which pad sets itself (or a field of [slurm] sets)"));
        }
        return Ok(());
    }
    let Some(short) = arg.strip_prefix('-').and_then(|s| s.chars().next()) else {
        return Err(format!(
            "{arg:?} is not an sbatch option: each element starts with '-' and carries its value after '=' \
             (\"--qos=short\")"
        ));
    };
    if arg.len() == 2 && !RESERVED_SHORT.contains(&short) && !FLAG_SHORT.contains(&short) {
        // A bare short option such as "-q" would take the next element as its value.
        return Err(format!(
            "{arg:?} takes its value from the next element; write it as one (\"-qshort\" or the long form with '=')"
        ));
    }
    if RESERVED_SHORT.contains(&short) {
        return Err(format!("{arg:?} conflicts with -{short}, which pad sets itself (or a field of [slurm] sets)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAGES: &[&str] = &["data", "train", "probe"];

    fn parse(text: &str) -> SlurmConfig {
        #[derive(Deserialize)]
        struct File {
            slurm: SlurmConfig,
        }
        toml::from_str::<File>(text).unwrap().slurm
    }

    fn config_error(text: &str) -> String {
        match parse(text).validate(STAGES) {
            Err(e) => e.to_string(),
            Ok(()) => panic!("accepted:\n{text}"),
        }
    }

    #[test]
    fn stage_tables_override_defaults_field_by_field() {
        let c = parse(
            r#"
            [slurm]
            cpus_per_task = 2
            mem = "4G"
            time = "02:00:00"
            partition = "debug"
            extra_args = ["--qos=short"]
            [slurm.stages.train]
            cpus_per_task = 8
            time = "1-00:00:00"
            extra_args = ["--gres=gpu:0", "--nice=10"]
            [slurm.stages.final]
            account = "proj"
            "#,
        );
        c.validate(STAGES).unwrap();
        let train = c.resources("train");
        assert_eq!(train.cpus_per_task, 8);
        assert_eq!(train.mem.as_deref(), Some("4G"));
        assert_eq!(train.time.as_deref(), Some("1-00:00:00"));
        assert_eq!(train.partition.as_deref(), Some("debug"));
        assert_eq!(train.account, None);
        assert_eq!(train.extra_args, ["--gres=gpu:0", "--nice=10"]);
        let probe = c.resources("probe");
        assert_eq!((probe.cpus_per_task, probe.time.as_deref()), (2, Some("02:00:00")));
        assert_eq!(probe.extra_args, ["--qos=short"]);
        assert_eq!(c.resources(FINAL_STAGE).account.as_deref(), Some("proj"));
    }

    /// The example in docs/slurm.md is a valid table that means what the comments say.
    #[test]
    fn documented_example_parses_and_validates() {
        let doc = include_str!("../../../docs/slurm.md");
        let start = doc.find("    [slurm]\n").unwrap();
        let end = start + doc[start..].find("\nA field of").unwrap();
        let text: String =
            doc[start..end].lines().map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l))).collect();
        let c = parse(&text);
        c.validate(&["train", "fid"]).unwrap();
        let train = c.resources("train");
        assert_eq!(
            (train.cpus_per_task, train.time.as_deref(), train.mem.as_deref()),
            (8, Some("1-00:00:00"), Some("4G"))
        );
        assert_eq!(c.resources("fid").mem.as_deref(), Some("16G"));
        assert_eq!(c.resources("probe").extra_args, ["--qos=short"]);
    }

    #[test]
    fn empty_table_means_one_cpu_and_cluster_defaults() {
        let c = parse("[slurm]\n");
        c.validate(STAGES).unwrap();
        let r = c.resources("train");
        assert_eq!(
            r,
            Resources { cpus_per_task: 1, mem: None, time: None, partition: None, account: None, extra_args: vec![] }
        );
        assert_eq!(c.jobcomp_log(), DEFAULT_JOBCOMP_LOG);
    }

    #[test]
    fn unknown_fields_are_refused_by_the_parser() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct File {
            slurm: SlurmConfig,
        }
        let e = toml::from_str::<File>("[slurm]\ncpus = 2\n").unwrap_err().to_string();
        assert!(e.contains("unknown field `cpus`"), "{e}");
        let e = toml::from_str::<File>("[slurm.stages.train]\nmemory = \"4G\"\n").unwrap_err().to_string();
        assert!(e.contains("unknown field `memory`"), "{e}");
        let e = toml::from_str::<File>("[slurm]\ncpus_per_task = -1\n").unwrap_err().to_string();
        assert!(e.contains("cpus_per_task"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("[slurm]\ncpus_per_task = 0", "slurm.cpus_per_task: must be at least 1"),
            ("[slurm.stages.train]\ncpus_per_task = 0", "slurm.stages.train.cpus_per_task: must be at least 1"),
            ("[slurm]\ntime = \"2h\"", "slurm.time: \"2h\" is not a Slurm time"),
            ("[slurm.stages.probe]\ntime = \"1:60:00\"", "slurm.stages.probe.time: \"1:60:00\""),
            ("[slurm]\ntime = \"0\"", "slurm.time: \"0\""),
            ("[slurm]\ntime = \"1-24\"", "slurm.time: \"1-24\""),
            ("[slurm]\ntime = \"\"", "slurm.time"),
            ("[slurm]\nmem = \"4 GB\"", "slurm.mem: \"4 GB\" is not a Slurm memory size"),
            ("[slurm]\nmem = \"0G\"", "slurm.mem: \"0G\""),
            ("[slurm]\nmem = \"G\"", "slurm.mem: \"G\""),
            ("[slurm]\npartition = \"\"", "slurm.partition"),
            ("[slurm]\naccount = \"my proj\"", "slurm.account: \"my proj\""),
            (
                "[slurm]\nextra_args = [\"--output=x.log\"]",
                "slurm.extra_args: \"--output=x.log\" conflicts with --output",
            ),
            ("[slurm]\nextra_args = [\"--dep=afterok:1\"]", "conflicts with --dependency"),
            (
                "[slurm.stages.train]\nextra_args = [\"-c4\"]",
                "slurm.stages.train.extra_args: \"-c4\" conflicts with -c",
            ),
            ("[slurm]\nextra_args = [\"--qos\", \"high\"]", "\"high\" is not an sbatch option"),
            ("[slurm]\nextra_args = [\"-q\"]", "\"-q\" takes its value from the next element"),
            ("[slurm]\nextra_args = [\"--\"]", "\"--\" is not an sbatch option"),
            (
                "[slurm.stages.trian]\nmem = \"1G\"",
                "slurm.stages.trian: no stage 'trian'; stages: data, train, probe, final",
            ),
            (
                "[slurm]\nmem = \"1G\"\n[slurm.stages.train]\nextra_args = [\"--mem-per-cpu=1G\"]",
                "slurm.stages.train: mem and extra_args \"--mem-per-cpu=1G\"",
            ),
            ("[slurm]\njobcomp_log = \"\"", "slurm.jobcomp_log"),
        ];
        for (text, want) in cases {
            let e = config_error(text);
            assert!(e.contains(want), "{text}\n  got: {e}\n  want: {want}");
        }
    }

    #[test]
    fn valid_times_and_sizes_are_accepted() {
        for t in ["30", "30:15", "02:00:00", "100:00:00", "1-0", "1-12:30", "2-03:04:05", "UNLIMITED", "infinite"] {
            assert!(check_time(t).is_ok(), "{t}");
        }
        assert_eq!(check_time("1-01:02:03"), Ok(Some(86400 + 3600 + 120 + 3)));
        assert_eq!(check_time("90"), Ok(Some(5400)));
        for m in ["4G", "4g", "500", "500M", "1T", "64K"] {
            assert!(check_mem(m).is_ok(), "{m}");
        }
        for a in ["--qos=short", "--gres=gpu:1", "-qshort", "-Q", "--exclusive", "--mem-per-cpu=1G", "--nice=5"] {
            assert!(check_extra(a).is_ok(), "{a}");
        }
    }
}
