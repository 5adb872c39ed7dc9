//! claims.toml: the paper's claims and numbers as data, beside pipeline.toml, and the claims
//! table a report writes from them (report::claims holds the statistics). Bad values are errors
//! naming the file, line and key, as in pipeline.toml.
use super::config::{ConfigError, Profile};
use crate::report::claims::{
    evaluate, markdown, observations, table, Claim, Metric, Observation, PaperValue, Relation, Study, StudyDataset,
    UNTRAINED,
};
use crate::report::figures::PaperMark;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The claims file's name beside the experiment file.
pub const FILE: &str = "claims.toml";
/// The table a report writes from it.
pub const TABLE: &str = "claims.csv";
/// The heading of its summary.md section (always the last section: see `replace_section`).
pub const HEADING: &str = "## The paper's claims";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    /// The epoch of the paper's final numbers and figures.
    epoch: Option<usize>,
    /// A `pad fetch` source -> the paper's dataset whose numbers it stands for.
    #[serde(default)]
    stand_ins: BTreeMap<String, String>,
    #[serde(default)]
    paper: Vec<RawPaper>,
    #[serde(default)]
    claim: Vec<RawClaim>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPaper {
    source: String,
    dataset: Spanned<String>,
    metric: Spanned<String>,
    p: Option<Spanned<f64>>,
    epoch: usize,
    seeds: Option<usize>,
    #[serde(default)]
    read_from_plot: bool,
    /// condition -> [mean] or [mean, SEM]
    values: Spanned<BTreeMap<String, Spanned<Vec<f64>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaim {
    id: Spanned<String>,
    figure: String,
    claim: String,
    a: Spanned<String>,
    relation: Spanned<String>,
    b: Spanned<String>,
    metric: Spanned<String>,
    metric_b: Option<Spanned<String>>,
    p: Option<Spanned<f64>>,
    #[serde(default)]
    margin: Option<Spanned<f64>>,
    epoch: Option<Spanned<usize>>,
    epoch_b: Option<Spanned<usize>>,
}

/// A checked claims file.
#[derive(Debug, Clone)]
pub struct Claims {
    pub path: PathBuf,
    /// The epoch of the paper's final numbers and figures.
    pub epoch: Option<usize>,
    pub stand_ins: BTreeMap<String, String>,
    pub paper: Vec<PaperValue>,
    pub claims: Vec<Claim>,
}

/// Where a profile's claims file is: `explicit`, else claims.toml beside the experiment file
/// (None when that default does not exist: a profile without claims).
pub fn locate(config: &Path, explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    let p = config.parent().unwrap_or(Path::new(".")).join(FILE);
    p.is_file().then_some(p)
}

/// Reads and checks a claims file. `known` says whether a condition name exists (built in or
/// defined in the experiment file).
pub fn load(path: &Path, known: &dyn Fn(&str) -> bool) -> Result<Claims, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.into(), source })?;
    parse(path, &text, known)
}

pub fn parse(path: &Path, text: &str, known: &dyn Fn(&str) -> bool) -> Result<Claims, ConfigError> {
    let raw: RawFile =
        toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.into(), msg: e.to_string() })?;
    let at = |span: std::ops::Range<usize>, key: String, msg: String| ConfigError::Value {
        path: path.into(),
        line: text[..span.start.min(text.len())].matches('\n').count() + 1,
        key,
        msg,
    };
    let condition = |s: &Spanned<String>, key: String| {
        let c = s.get_ref();
        if c == UNTRAINED || known(c) {
            Ok(c.clone())
        } else {
            Err(at(s.span(), key, format!("unknown condition '{c}' (`pad conditions` lists them; or '{UNTRAINED}')")))
        }
    };
    let metric = |s: &Spanned<String>, key: String| {
        Metric::from_name(s.get_ref()).ok_or_else(|| {
            let names: Vec<&str> = crate::report::claims::METRICS.iter().map(|m| m.name()).collect();
            at(s.span(), key, format!("unknown metric '{}'; metrics: {}", s.get_ref(), names.join(", ")))
        })
    };
    let level = |p: &Option<Spanned<f64>>, m: Metric, span: std::ops::Range<usize>, key: String| match p {
        Some(p) if !m.has_level() => Err(at(p.span(), key, format!("metric {} has no occlusion level p", m.name()))),
        Some(p) if !(0.0..=1.0).contains(p.get_ref()) => {
            Err(at(p.span(), key, format!("{} is not an occlusion level in 0..=1", p.get_ref())))
        }
        Some(p) => Ok(Some(*p.get_ref())),
        None if m.has_level() => Err(at(span, key, format!("metric {} needs an occlusion level p", m.name()))),
        None => Ok(None),
    };
    let targets: Vec<&String> = raw.stand_ins.values().collect();
    let mut paper = Vec::new();
    for (i, r) in raw.paper.iter().enumerate() {
        let key = |k: &str| format!("paper[{i}].{k}");
        if !targets.contains(&r.dataset.get_ref()) {
            return Err(at(
                r.dataset.span(),
                key("dataset"),
                format!("'{}' is no paper dataset of [stand_ins] ({})", r.dataset.get_ref(), join(&targets)),
            ));
        }
        let m = metric(&r.metric, key("metric"))?;
        let p = level(&r.p, m, r.metric.span(), key("p"))?;
        for (cond, v) in r.values.get_ref() {
            let name = condition(&Spanned::new(v.span(), cond.clone()), key(&format!("values.{cond}")))?;
            let bad = |msg: &str| at(v.span(), key(&format!("values.{cond}")), msg.into());
            let (mean, sem) = match v.get_ref().as_slice() {
                [m] => (*m, None),
                [m, s] => (*m, Some(*s)),
                _ => return Err(bad("expected [mean] or [mean, SEM]")),
            };
            if !mean.is_finite() || sem.is_some_and(|s| !s.is_finite() || s < 0.0) {
                return Err(bad("the mean must be a finite number and the SEM finite and >= 0"));
            }
            paper.push(PaperValue {
                dataset: r.dataset.get_ref().clone(),
                condition: name,
                metric: m,
                p,
                epoch: r.epoch,
                seeds: r.seeds,
                mean,
                sem,
                source: r.source.clone(),
                read_from_plot: r.read_from_plot,
            });
        }
    }
    let mut claims: Vec<Claim> = Vec::new();
    for r in &raw.claim {
        let id = r.id.get_ref().clone();
        let key = |k: &str| format!("claim.{id}.{k}");
        if id.is_empty() || id.contains([',', '"', '\n']) || claims.iter().any(|c| c.id == id) {
            return Err(at(r.id.span(), key("id"), "ids are unique, non-empty, without commas or quotes".into()));
        }
        let m = metric(&r.metric, key("metric"))?;
        let mb = r.metric_b.as_ref().map(|s| metric(s, key("metric_b"))).transpose()?;
        if mb.is_some_and(|mb| mb.has_level() != m.has_level()) {
            return Err(at(r.metric.span(), key("metric_b"), "both metrics or neither take a level p".into()));
        }
        let relation = Relation::from_name(r.relation.get_ref()).ok_or_else(|| {
            at(
                r.relation.span(),
                key("relation"),
                format!("unknown relation '{}'; relations: greater, less, approx, at_least", r.relation.get_ref()),
            )
        })?;
        let margin = match &r.margin {
            Some(m) if !m.get_ref().is_finite() || *m.get_ref() < 0.0 => {
                return Err(at(m.span(), key("margin"), format!("{} is not a finite margin >= 0", m.get_ref())))
            }
            Some(m) => *m.get_ref(),
            None if matches!(relation, Relation::Approx | Relation::AtLeast) => {
                return Err(at(
                    r.relation.span(),
                    key("margin"),
                    format!("relation {} needs a margin", relation.name()),
                ))
            }
            None => 0.0,
        };
        claims.push(Claim {
            id: id.clone(),
            figure: r.figure.clone(),
            text: r.claim.clone(),
            a: condition(&r.a, key("a"))?,
            b: condition(&r.b, key("b"))?,
            metric: m,
            metric_b: mb.filter(|&mb| mb != m),
            p: level(&r.p, m, r.metric.span(), key("p"))?,
            relation,
            margin,
            epoch: r.epoch.as_ref().map(|e| *e.get_ref()),
            epoch_b: r.epoch_b.as_ref().map(|e| *e.get_ref()),
        });
    }
    Ok(Claims { path: path.into(), epoch: raw.epoch, stand_ins: raw.stand_ins, paper, claims })
}

fn join(v: &[&String]) -> String {
    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

/// claims.csv and the summary.md section of a profile, from its report tables (file name ->
/// CSV text).
pub fn write(
    claims: &Claims,
    profile: &Profile,
    tables: &BTreeMap<String, String>,
) -> Result<(String, String), ConfigError> {
    let obs: Vec<Observation> =
        observations(tables).map_err(|msg| ConfigError::Parse { path: profile_results(profile), msg })?;
    let datasets: Vec<StudyDataset> = profile
        .datasets
        .iter()
        .map(|(name, spec)| StudyDataset { name: name.clone(), paper: claims.stand_ins.get(&spec.source).cloned() })
        .collect();
    let conditions: Vec<String> = profile.conditions.iter().map(|c| c.name.clone()).collect();
    let study = Study {
        paper_epoch: claims.epoch,
        datasets: &datasets,
        conditions: &conditions,
        last_epoch: profile.epochs,
        observations: &obs,
    };
    let outcomes = evaluate(&claims.claims, &claims.paper, &study);
    let name = claims.path.file_name().map_or_else(|| FILE.into(), |n| n.to_string_lossy().into_owned());
    Ok((table(&outcomes).to_csv(), markdown(&outcomes, &claims.claims, &name)))
}

fn profile_results(p: &Profile) -> PathBuf {
    PathBuf::from(format!("results/{}", p.name))
}

/// summary.md with its claims section replaced by `section` (or appended where it has none).
/// The section is always the file's last, so everything from its heading on is its.
pub fn replace_section(summary: &str, section: &str) -> String {
    let head = match summary.find(&format!("\n{HEADING}")) {
        Some(i) => &summary[..=i],
        None if summary.starts_with(HEADING) => "",
        None => summary,
    };
    format!("{head}{section}")
}

/// The paper's numbers a figure of `dataset` marks for `metric`: only where the profile ends at
/// the paper's epoch (a 5-epoch curve gets no epoch-50 points), and only for conditions the
/// figure draws. x is the epoch, or the occlusion level of occlusion metrics.
pub fn marks(claims: Option<&Claims>, profile: &Profile, dataset: &str, metric: Metric) -> Vec<PaperMark> {
    let Some(c) = claims else { return Vec::new() };
    let Some((_, spec)) = profile.datasets.iter().find(|(n, _)| n == dataset) else { return Vec::new() };
    let Some(pd) = c.stand_ins.get(&spec.source) else { return Vec::new() };
    if c.epoch != Some(profile.epochs) {
        return Vec::new();
    }
    let drawn = |cond: &str| cond == UNTRAINED || profile.conditions.iter().any(|k| k.name == cond);
    c.paper
        .iter()
        .filter(|v| v.dataset == *pd && v.metric == metric && drawn(&v.condition))
        .filter(|v| v.epoch == profile.epochs || v.condition == UNTRAINED)
        .map(|v| PaperMark {
            condition: v.condition.clone(),
            x: if metric.has_level() { v.p.unwrap_or(0.0) } else { v.epoch as f64 },
            y: v.mean,
            sem: v.sem.unwrap_or(0.0),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[stand_ins]
cifar10-jpeg = "cifar10"

[[paper]]
source = "Appendix 1-Table 1"
dataset = "cifar10"
metric = "probe"
epoch = 50
seeds = 4
values = { pad = [58.25, 0.70], wo_rem = [46.00, 0.43] }

[[claim]]
id = "rem"
figure = "Fig. 4"
claim = "REM helps."
a = "pad"
relation = "greater"
b = "wo_rem"
metric = "probe"

[[claim]]
id = "occ"
figure = "Fig. 5"
claim = "NREM makes z robust."
a = "pad"
relation = "greater"
b = "wo_nrem"
metric = "occlusion_probe"
p = 0.5
"#;

    fn known(c: &str) -> bool {
        crate::train::condition(c).is_ok()
    }

    fn err(text: &str) -> String {
        parse(Path::new("claims.toml"), text, &known).unwrap_err().to_string()
    }

    #[test]
    fn a_good_file_gives_claims_and_paper_values() {
        let c = parse(Path::new("claims.toml"), GOOD, &known).unwrap();
        assert_eq!(c.claims.len(), 2);
        assert_eq!((c.claims[1].metric, c.claims[1].p), (Metric::OcclusionProbe, Some(0.5)));
        assert_eq!(c.paper.len(), 2);
        assert_eq!((c.paper[0].condition.as_str(), c.paper[0].mean, c.paper[0].sem), ("pad", 58.25, Some(0.70)));
    }

    #[test]
    fn bad_claims_and_values_are_errors_naming_file_line_and_key() {
        let e = err(&GOOD.replace("b = \"wo_rem\"", "b = \"wo_rme\""));
        assert!(e.contains("claims.toml:19: claim.rem.b: unknown condition 'wo_rme'"), "{e}");
        let e = err(&GOOD.replace("metric = \"occlusion_probe\"", "metric = \"occlusion\""));
        assert!(e.contains("claims.toml:29: claim.occ.metric: unknown metric 'occlusion'"), "{e}");
        let e = err(&GOOD.replace("p = 0.5\n", ""));
        assert!(e.contains("claim.occ.p") && e.contains("needs an occlusion level"), "{e}");
        let e = err(&GOOD.replace("[58.25, 0.70]", "[58.25, -0.70]"));
        assert!(e.contains("claims.toml:11: paper[0].values.pad") && e.contains("SEM finite and >= 0"), "{e}");
        let e = err(&GOOD.replace("[46.00, 0.43]", "[\"46\"]"));
        assert!(e.contains("claims.toml") && e.contains("line 11"), "{e}");
        let e = err(&GOOD.replace("pad = [58.25, 0.70]", "pda = [58.25, 0.70]"));
        assert!(e.contains("paper[0].values.pda: unknown condition 'pda'"), "{e}");
        let e = err(&GOOD.replace("dataset = \"cifar10\"", "dataset = \"svhn\""));
        assert!(e.contains("paper[0].dataset: 'svhn' is no paper dataset of [stand_ins] (cifar10)"), "{e}");
        let e = err(&GOOD.replace("relation = \"greater\"\nb = \"wo_rem\"", "relation = \"approx\"\nb = \"wo_rem\""));
        assert!(e.contains("claim.rem.margin: relation approx needs a margin"), "{e}");
        let e = err(&GOOD.replace("id = \"occ\"", "id = \"rem\""));
        assert!(e.contains("claims.toml:23: claim.rem.id") && e.contains("unique"), "{e}");
        let e = err(&GOOD.replace("claim = \"REM helps.\"", "claim = \"REM helps.\"\nmargins = 2"));
        assert!(e.contains("claims.toml") && e.contains("margins"), "{e}");
    }

    #[test]
    fn figures_mark_the_paper_only_at_its_epoch_and_for_drawn_conditions() {
        let text = GOOD.replace("[stand_ins]", "epoch = 50\n\n[stand_ins]")
            + "\n[[paper]]\nsource = \"s\"\ndataset = \"cifar10\"\nmetric = \"probe\"\nepoch = 0\nvalues = { untrained = [29] }\n";
        let c = parse(Path::new("claims.toml"), &text, &known).unwrap();
        let profile = |epochs: usize| {
            let cfg = format!(
                "[datasets.cj]\nsource = \"cifar10-jpeg\"\n[datasets.f]\nsource = \"fashion-mnist\"\n[profiles.s]\ndatasets = [\"cj\", \"f\"]\nconditions = [\"pad\"]\nseeds = [0]\nepochs = {epochs}\n"
            );
            crate::pipeline::Config::parse(Path::new("pipeline.toml"), cfg).unwrap().profile("s").unwrap()
        };
        let m = marks(Some(&c), &profile(50), "cj", Metric::Probe);
        let got: Vec<(&str, f64, f64, f64)> = m.iter().map(|m| (m.condition.as_str(), m.x, m.y, m.sem)).collect();
        // wo_rem is not drawn (not a condition of the profile).
        assert_eq!(got, [("pad", 50.0, 58.25, 0.70), (UNTRAINED, 0.0, 29.0, 0.0)]);
        assert!(marks(Some(&c), &profile(5), "cj", Metric::Probe).is_empty(), "a 5-epoch curve gets no marks");
        assert!(marks(Some(&c), &profile(50), "f", Metric::Probe).is_empty(), "no stand-in, no marks");
        assert!(marks(None, &profile(50), "cj", Metric::Probe).is_empty());
        let svg = crate::report::figures::accuracy_vs_epoch_with_paper(
            &[("t".into(), Vec::new())],
            &[m],
            &crate::report::figures::Colors::new(&["pad"]),
        );
        assert!(svg.contains(">pad (paper)</text>") && svg.contains(">untrained (paper)</text>"), "{svg}");
    }

    #[test]
    fn the_claims_section_replaces_the_old_one_and_keeps_the_rest() {
        let base = "# demo profile\n\n## Linear separability\n\nrows\n";
        let once = replace_section(base, &format!("{HEADING} (claims.toml)\n\nv1\n"));
        assert_eq!(once, format!("{base}{HEADING} (claims.toml)\n\nv1\n"));
        let twice = replace_section(&once, &format!("{HEADING} (claims.toml)\n\nv2\n"));
        assert_eq!(twice, format!("{base}{HEADING} (claims.toml)\n\nv2\n"));
    }
}
