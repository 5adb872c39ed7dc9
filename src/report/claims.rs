//! The paper's claims checked against a study's tables. A claim compares two sides (a condition
//! and a metric each) of one dataset at one epoch; the verdict reads the difference of their
//! means over seeds, with Welch's 95% interval, against the range of differences the claim
//! allows. The paper's own numbers for both sides stand beside ours. Pure functions of the
//! results tables: `claims.csv` can be recomputed from a committed results folder.
use super::stats::{welch_difference, Difference};
use super::tables::{Cell, Table};
use std::collections::BTreeMap;

/// What a side of a claim measures, and the table column it is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    /// The paper's SGD probe, test % (linear_probe.csv test_acc).
    Probe,
    /// The ridge read-out, test % (linear_probe.csv ridge_acc).
    Ridge,
    /// The paper probe on occluded test images at a level p (occlusion.csv test_acc).
    OcclusionProbe,
    /// The ridge read-out on occluded test images at a level p (occlusion.csv ridge_acc).
    OcclusionRidge,
    /// Mean intra-class over inter-class latent distance (distances.csv ratio_intra_inter).
    IntraInter,
    /// Mean clean-to-occluded over inter-class distance (distances.csv ratio_occluded_inter).
    OccludedInter,
    /// FID of NREM dreams (fid.csv, kind nrem).
    FidNrem,
    /// FID of REM dreams (fid.csv, kind rem).
    FidRem,
}

pub const METRICS: [Metric; 8] = [
    Metric::Probe,
    Metric::Ridge,
    Metric::OcclusionProbe,
    Metric::OcclusionRidge,
    Metric::IntraInter,
    Metric::OccludedInter,
    Metric::FidNrem,
    Metric::FidRem,
];

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Probe => "probe",
            Metric::Ridge => "ridge",
            Metric::OcclusionProbe => "occlusion_probe",
            Metric::OcclusionRidge => "occlusion_ridge",
            Metric::IntraInter => "intra_inter",
            Metric::OccludedInter => "occluded_inter",
            Metric::FidNrem => "fid_nrem",
            Metric::FidRem => "fid_rem",
        }
    }

    pub fn from_name(s: &str) -> Option<Metric> {
        METRICS.into_iter().find(|m| m.name() == s)
    }

    /// Whether the metric is read at an occlusion level p.
    pub fn has_level(self) -> bool {
        matches!(self, Metric::OcclusionProbe | Metric::OcclusionRidge)
    }

    /// Decimals the metric's numbers are printed with (those of its source table).
    pub fn decimals(self) -> usize {
        match self {
            Metric::IntraInter | Metric::OccludedInter => 4,
            _ => 2,
        }
    }

    /// The results table the metric is read from.
    pub fn table(self) -> &'static str {
        match self {
            Metric::Probe | Metric::Ridge => "linear_probe.csv",
            Metric::OcclusionProbe | Metric::OcclusionRidge => "occlusion.csv",
            Metric::IntraInter | Metric::OccludedInter => "distances.csv",
            Metric::FidNrem | Metric::FidRem => "fid.csv",
        }
    }
}

/// The differences a - b a claim allows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Relation {
    /// a > b + margin.
    Greater,
    /// a < b - margin.
    Less,
    /// |a - b| <= margin (equivalence).
    Approx,
    /// a >= b - margin (non-inferiority: "equally good or better").
    AtLeast,
}

impl Relation {
    pub fn name(self) -> &'static str {
        match self {
            Relation::Greater => "greater",
            Relation::Less => "less",
            Relation::Approx => "approx",
            Relation::AtLeast => "at_least",
        }
    }

    pub fn from_name(s: &str) -> Option<Relation> {
        [Relation::Greater, Relation::Less, Relation::Approx, Relation::AtLeast].into_iter().find(|r| r.name() == s)
    }

    /// Whether the claim allows a difference a - b of `d`.
    fn allows(self, margin: f64, d: f64) -> bool {
        match self {
            Relation::Greater => d > margin,
            Relation::Less => d < -margin,
            Relation::Approx => d.abs() <= margin,
            Relation::AtLeast => d >= -margin,
        }
    }

    /// Whether every difference in [lo, hi] is allowed.
    fn allows_all(self, margin: f64, lo: f64, hi: f64) -> bool {
        self.allows(margin, lo) && self.allows(margin, hi)
    }

    /// Whether no difference in [lo, hi] is allowed.
    fn allows_none(self, margin: f64, lo: f64, hi: f64) -> bool {
        match self {
            Relation::Greater => hi <= margin,
            Relation::Less => lo >= -margin,
            Relation::Approx => lo > margin || hi < -margin,
            Relation::AtLeast => hi < -margin,
        }
    }

    /// "a > b", "a ≈ b (± 2)", for tables people read.
    fn sentence(self, a: &str, b: &str, margin: f64, decimals: usize) -> String {
        let m = if margin > 0.0 { format!(" (margin {margin:.decimals$})") } else { String::new() };
        let op = match self {
            Relation::Greater => ">",
            Relation::Less => "<",
            Relation::Approx => "≈",
            Relation::AtLeast => "≥",
        };
        format!("{a} {op} {b}{m}")
    }
}

/// The condition name the tables give the untrained networks (every seed's epoch 0).
pub const UNTRAINED: &str = "untrained";

/// One claim of the paper, as data.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    pub id: String,
    /// Where the paper makes it ("Fig. 4, Appendix 1-Table 1").
    pub figure: String,
    /// The claim in one sentence.
    pub text: String,
    pub a: String,
    pub b: String,
    pub metric: Metric,
    /// Side b's metric where it differs from side a's (REM vs NREM dreams of one condition).
    pub metric_b: Option<Metric>,
    /// The occlusion level of occlusion metrics.
    pub p: Option<f64>,
    pub relation: Relation,
    /// In the metric's units; 0 for strict comparisons.
    pub margin: f64,
    /// The epoch compared (None: the profile's last).
    pub epoch: Option<usize>,
    /// Side b's epoch where it differs from side a's (dreams early against late in training).
    pub epoch_b: Option<usize>,
}

impl Claim {
    fn metric_b(&self) -> Metric {
        self.metric_b.unwrap_or(self.metric)
    }

    /// Side b as tables name it: the condition, with its epoch where that is its own.
    pub fn b_label(&self) -> String {
        match self.epoch_b {
            Some(e) => format!("{} (epoch {e})", self.b),
            None => self.b.clone(),
        }
    }

    /// "probe", "occlusion_probe (p = 0.6)", "fid_rem vs fid_nrem".
    pub fn metric_label(&self) -> String {
        let mut s = self.metric.name().to_string();
        if self.metric_b() != self.metric {
            s += &format!(" vs {}", self.metric_b().name());
        }
        if let Some(p) = self.p {
            s += &format!(" (p = {p})");
        }
        s
    }
}

/// One number of the paper, with where it comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct PaperValue {
    /// The paper's dataset ("cifar10", "svhn").
    pub dataset: String,
    pub condition: String,
    pub metric: Metric,
    pub p: Option<f64>,
    pub epoch: usize,
    pub seeds: Option<usize>,
    pub mean: f64,
    pub sem: Option<f64>,
    /// "Appendix 1-Table 1", a figure, or a script of the authors' code.
    pub source: String,
    /// Read off a plot rather than printed as a number.
    pub read_from_plot: bool,
}

/// One measured value of a results table.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub dataset: String,
    pub condition: String,
    pub seed: u64,
    pub epoch: usize,
    pub metric: Metric,
    pub p: Option<f64>,
    pub value: f64,
}

/// A claim's verdict on one dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// The whole interval lies in what the claim allows.
    Holds,
    /// The mean difference does, but the interval does not exclude the contrary (or there is
    /// only one seed a side, so no interval).
    Consistent,
    /// The mean difference does not, but the interval does not exclude the claim.
    NotSeen,
    /// No difference in the interval is what the claim allows.
    Contradicted,
    /// A condition or metric is missing (the note says which).
    NotEvaluated,
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Consistent => "consistent",
            Verdict::NotSeen => "not seen",
            Verdict::Contradicted => "contradicted",
            Verdict::NotEvaluated => "not evaluated",
        }
    }

    /// From the verdict of a claim's difference (`None`: missing data).
    fn of(rel: Relation, margin: f64, d: &Difference) -> Verdict {
        match d.interval {
            Some((lo, hi)) if rel.allows_all(margin, lo, hi) => Verdict::Holds,
            Some((lo, hi)) if rel.allows_none(margin, lo, hi) => Verdict::Contradicted,
            _ if rel.allows(margin, d.effect) => Verdict::Consistent,
            _ => Verdict::NotSeen,
        }
    }
}

/// A dataset of the study and the paper's dataset it stands for (None: the paper has no numbers
/// for it, as for the Fashion-MNIST demo).
#[derive(Clone, Debug)]
pub struct StudyDataset {
    pub name: String,
    pub paper: Option<String>,
}

/// What the claims are checked against.
pub struct Study<'a> {
    /// The epoch of the paper's final numbers, for claims with no paper value (its figures are
    /// at that epoch too).
    pub paper_epoch: Option<usize>,
    pub datasets: &'a [StudyDataset],
    /// The profile's conditions (the untrained networks come with every profile).
    pub conditions: &'a [String],
    /// The profile's last epoch: the default epoch of a claim.
    pub last_epoch: usize,
    pub observations: &'a [Observation],
}

/// One row of claims.csv.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub dataset: String,
    pub paper_dataset: Option<String>,
    pub claim: Claim,
    pub epoch: usize,
    pub seeds: [usize; 2],
    pub means: Option<[f64; 2]>,
    pub difference: Option<Difference>,
    pub paper_epoch: Option<usize>,
    pub paper: [Option<f64>; 2],
    pub verdict: Verdict,
    pub notes: Vec<String>,
}

/// Every claim on every dataset of the study, in the order (dataset, claim).
pub fn evaluate(claims: &[Claim], paper: &[PaperValue], study: &Study) -> Vec<Outcome> {
    let mut out = Vec::new();
    for d in study.datasets {
        for c in claims {
            out.push(evaluate_one(c, d, paper, study));
        }
    }
    out
}

fn same_level(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        _ => false,
    }
}

fn evaluate_one(c: &Claim, d: &StudyDataset, paper: &[PaperValue], study: &Study) -> Outcome {
    let epoch = c.epoch.unwrap_or(study.last_epoch);
    let mut o = Outcome {
        dataset: d.name.clone(),
        paper_dataset: d.paper.clone(),
        claim: c.clone(),
        epoch,
        seeds: [0, 0],
        means: None,
        difference: None,
        paper_epoch: None,
        paper: [None, None],
        verdict: Verdict::NotEvaluated,
        notes: Vec::new(),
    };
    let sides = [(&c.a, c.metric), (&c.b, c.metric_b())];
    if o.paper_dataset.is_some() {
        o.paper_epoch = study.paper_epoch;
    }
    paper_side(&mut o, &sides, paper);
    // Why a side cannot be read, first the conditions (a profile choice), then the data.
    let absent: Vec<&str> = sides
        .iter()
        .map(|(cond, _)| cond.as_str())
        .filter(|cond| *cond != UNTRAINED && !study.conditions.iter().any(|k| k == cond))
        .collect();
    if !absent.is_empty() {
        o.notes.insert(0, format!("the profile has no condition {}", absent.join(", ")));
        return o;
    }
    let mut values: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let epochs = [epoch, c.epoch_b.unwrap_or(epoch)];
    for (k, (cond, metric)) in sides.iter().enumerate() {
        let at = if *cond == UNTRAINED { 0 } else { epochs[k] };
        let mut by_seed: BTreeMap<u64, f64> = BTreeMap::new();
        for ob in study.observations.iter().filter(|ob| {
            ob.dataset == d.name
                && ob.condition == **cond
                && ob.metric == *metric
                && ob.epoch == at
                && same_level(ob.p, c.p)
                && ob.value.is_finite()
        }) {
            by_seed.insert(ob.seed, ob.value);
        }
        if by_seed.is_empty() {
            let any = study.observations.iter().any(|ob| ob.dataset == d.name && ob.metric == *metric);
            o.notes.insert(
                0,
                if any {
                    format!("no {} for {cond} at epoch {at} in {}", metric.name(), metric.table())
                } else {
                    format!("no {} values ({} has none for {})", metric.name(), metric.table(), d.name)
                },
            );
            return o;
        }
        o.seeds[k] = by_seed.len();
        values[k] = by_seed.into_values().collect();
    }
    let diff = welch_difference(&values[0], &values[1]);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    o.means = Some([mean(&values[0]), mean(&values[1])]);
    o.verdict = Verdict::of(c.relation, c.margin, &diff);
    o.difference = Some(diff);
    if diff.interval.is_none() {
        o.notes.push("one seed on a side: the direction only, no interval".into());
    }
    if let Some(pe) = o.paper_epoch {
        if pe != epoch && sides.iter().any(|(cond, _)| *cond != UNTRAINED) {
            o.notes.insert(0, format!("epoch {epoch} here, {pe} in the paper"));
        }
    }
    o
}

/// The paper's values of both sides (where the dataset has a paper counterpart), with notes.
fn paper_side(o: &mut Outcome, sides: &[(&String, Metric); 2], paper: &[PaperValue]) {
    let Some(pd) = o.paper_dataset.clone() else {
        o.notes.push("no paper dataset for this one".into());
        return;
    };
    let mut plot = false;
    let mut missing = Vec::new();
    for (k, (cond, metric)) in sides.iter().enumerate() {
        let v = paper
            .iter()
            .find(|v| v.dataset == pd && v.condition == **cond && v.metric == *metric && same_level(v.p, o.claim.p));
        match v {
            Some(v) => {
                o.paper[k] = Some(v.mean);
                plot |= v.read_from_plot;
                if *cond != UNTRAINED && o.claim.epoch_b.is_none() {
                    o.paper_epoch = Some(v.epoch);
                }
            }
            None if paper.iter().any(|v| v.dataset == pd && v.metric == *metric) => missing.push(cond.to_string()),
            None => missing.push(format!("{} values", metric.name())),
        }
    }
    missing.dedup();
    if !missing.is_empty() {
        o.notes.push(format!("the paper prints no {}", missing.join(" or ")));
    } else if plot {
        o.notes.push("paper values read from a plot".into());
    }
}

/// The claims.csv header.
pub const COLUMNS: [&str; 21] = [
    "dataset",
    "paper_dataset",
    "claim",
    "metric",
    "a",
    "relation",
    "b",
    "epoch",
    "paper_epoch",
    "seeds_a",
    "seeds_b",
    "mean_a",
    "mean_b",
    "effect",
    "ci_low",
    "ci_high",
    "paper_a",
    "paper_b",
    "paper_effect",
    "verdict",
    "note",
];

/// claims.csv: one row per (dataset, claim), fixed formats.
pub fn table(outcomes: &[Outcome]) -> Table {
    let mut t = Table::new(&COLUMNS);
    for o in outcomes {
        let dec = o.claim.metric.decimals();
        let f = |x: Option<f64>| Cell::Float(x.unwrap_or(f64::NAN), dec);
        let (lo, hi) = o.difference.and_then(|d| d.interval).map_or((None, None), |(l, h)| (Some(l), Some(h)));
        let paper_effect = match o.paper {
            [Some(a), Some(b)] => Some(a - b),
            _ => None,
        };
        let opt_int = |x: Option<usize>| x.map_or(Cell::Text("NA".into()), |v| Cell::Int(v as i64));
        t.push(vec![
            Cell::Text(o.dataset.clone()),
            Cell::Text(o.paper_dataset.clone().unwrap_or_else(|| "NA".into())),
            Cell::Text(o.claim.id.clone()),
            Cell::Text(o.claim.metric_label()),
            Cell::Text(o.claim.a.clone()),
            Cell::Text(o.claim.relation.name().into()),
            Cell::Text(o.claim.b_label()),
            Cell::Int(o.epoch as i64),
            opt_int(o.paper_epoch),
            Cell::Int(o.seeds[0] as i64),
            Cell::Int(o.seeds[1] as i64),
            f(o.means.map(|m| m[0])),
            f(o.means.map(|m| m[1])),
            f(o.difference.map(|d| d.effect)),
            f(lo),
            f(hi),
            f(o.paper[0]),
            f(o.paper[1]),
            f(paper_effect),
            Cell::Text(o.verdict.text().into()),
            Cell::Text(o.notes.join("; ")),
        ]);
    }
    t
}

/// The summary.md section: the method, one table of verdicts, the claims' sentences.
pub fn markdown(outcomes: &[Outcome], claims: &[Claim], source: &str) -> String {
    let mut s = format!(
        "## The paper's claims ({source})\n\nEach claim compares two sides on one dataset at the profile's last epoch (the untrained networks at epoch 0). Ours: mean of a − mean of b over seeds, with Welch's 95% t-interval where both sides have two seeds or more (two seeds give a wide, fragile interval). Paper: its own numbers for both sides, where it prints them. Verdicts: **holds** (the whole interval lies in what the claim allows), **consistent** (the mean difference does, the interval does not exclude the contrary, or one seed gives no interval), **not seen** (the mean difference does not), **contradicted** (no difference in the interval does), **not evaluated** (a condition or a metric is missing). Also in claims.csv.\n\n"
    );
    let mut t =
        Table::new(&["claim", "dataset", "compared", "ours: a − b [95% CI]", "paper: a − b", "verdict", "note"]);
    for o in outcomes {
        let dec = o.claim.metric.decimals();
        let ours = match o.difference {
            None => "—".to_string(),
            Some(d) => {
                let m = o.means.unwrap_or([f64::NAN; 2]);
                let ci = d.interval.map(|(l, h)| format!(" [{l:+.dec$}, {h:+.dec$}]")).unwrap_or_default();
                format!("{:.dec$} vs {:.dec$}: {:+.dec$}{ci}", m[0], m[1], d.effect)
            }
        };
        let paper = match o.paper {
            [Some(a), Some(b)] => format!("{a:.dec$} vs {b:.dec$}: {:+.dec$}", a - b),
            _ => "—".to_string(),
        };
        let rel = o.claim.relation.sentence(&o.claim.a, &o.claim.b_label(), o.claim.margin, dec);
        t.push(vec![
            Cell::Text(o.claim.id.clone()),
            Cell::Text(o.dataset.clone()),
            Cell::Text(format!("{rel}, {}", o.claim.metric_label())),
            Cell::Text(ours),
            Cell::Text(paper),
            Cell::Text(format!("**{}**", o.verdict.text())),
            Cell::Text(o.notes.join("; ")),
        ]);
    }
    s += &t.to_markdown();
    s += "\nThe claims:\n\n";
    for c in claims {
        s += &format!("- `{}` ({}): {}\n", c.id, c.figure, c.text);
    }
    s + "\n"
}

/// Reads the observations of the tables a report writes (file name -> CSV text); tables that are
/// absent contribute nothing. Errors name the table and line.
pub fn observations(tables: &BTreeMap<String, String>) -> Result<Vec<Observation>, String> {
    let mut out = Vec::new();
    let reads: [(&str, &[(&str, Metric)]); 3] = [
        ("linear_probe.csv", &[("test_acc", Metric::Probe), ("ridge_acc", Metric::Ridge)]),
        ("occlusion.csv", &[("test_acc", Metric::OcclusionProbe), ("ridge_acc", Metric::OcclusionRidge)]),
        (
            "distances.csv",
            &[("ratio_intra_inter", Metric::IntraInter), ("ratio_occluded_inter", Metric::OccludedInter)],
        ),
    ];
    for (name, cols) in reads {
        let Some(text) = tables.get(name) else { continue };
        for row in rows(name, text)? {
            let level = if cols[0].1.has_level() { Some(row.num("p")?) } else { None };
            for (col, metric) in cols {
                out.push(row.observation(*metric, level, row.num(col)?)?);
            }
        }
    }
    if let Some(text) = tables.get("fid.csv") {
        for row in rows("fid.csv", text)? {
            let metric = match row.get("kind")? {
                "nrem" => Metric::FidNrem,
                "rem" => Metric::FidRem,
                // Other kinds (the real images against themselves) are no side of a claim.
                _ => continue,
            };
            out.push(row.observation(metric, None, row.num("fid")?)?);
        }
    }
    Ok(out)
}

/// A CSV row with its file and line, for errors.
struct Row<'a> {
    file: &'a str,
    line: u64,
    cells: BTreeMap<String, String>,
}

impl Row<'_> {
    fn get(&self, k: &str) -> Result<&str, String> {
        self.cells.get(k).map(String::as_str).ok_or_else(|| format!("{}: no column {k}", self.file))
    }

    /// A number; NA (a value not computed) reads as NaN and is left out of verdicts.
    fn num(&self, k: &str) -> Result<f64, String> {
        let v = self.get(k)?;
        if v == "NA" {
            return Ok(f64::NAN);
        }
        v.parse().map_err(|_| format!("{} line {}: {k} '{v}' is not a number", self.file, self.line))
    }

    fn int(&self, k: &str) -> Result<u64, String> {
        let v = self.get(k)?;
        v.parse().map_err(|_| format!("{} line {}: {k} '{v}' is not a whole number", self.file, self.line))
    }

    fn observation(&self, metric: Metric, p: Option<f64>, value: f64) -> Result<Observation, String> {
        Ok(Observation {
            dataset: self.get("dataset")?.to_string(),
            condition: self.get("condition")?.to_string(),
            seed: self.int("seed")?,
            epoch: self.int("epoch")? as usize,
            metric,
            p,
            value,
        })
    }
}

fn rows<'a>(file: &'a str, text: &str) -> Result<Vec<Row<'a>>, String> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = r.headers().map_err(|e| format!("{file}: {e}"))?.iter().map(String::from).collect();
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| format!("{file}: {e}"))?;
        let line = rec.position().map_or(0, |p| p.line());
        out.push(Row { file, line, cells: header.iter().cloned().zip(rec.iter().map(String::from)).collect() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(id: &str, a: &str, rel: Relation, b: &str, margin: f64) -> Claim {
        Claim {
            id: id.into(),
            figure: "Fig. 4".into(),
            text: format!("{a} vs {b}"),
            a: a.into(),
            b: b.into(),
            metric: Metric::Probe,
            metric_b: None,
            p: None,
            relation: rel,
            margin,
            epoch: None,
            epoch_b: None,
        }
    }

    fn obs(condition: &str, seed: u64, epoch: usize, metric: Metric, value: f64) -> Observation {
        Observation { dataset: "d".into(), condition: condition.into(), seed, epoch, metric, p: None, value }
    }

    /// Seeds of the probe at epoch 5 (untrained at 0) per condition.
    fn study_obs(per: &[(&str, &[f64])]) -> Vec<Observation> {
        let mut v = Vec::new();
        for (c, vals) in per {
            let epoch = if *c == UNTRAINED { 0 } else { 5 };
            for (s, x) in vals.iter().enumerate() {
                v.push(obs(c, s as u64, epoch, Metric::Probe, *x));
            }
        }
        v
    }

    fn run(
        claims: &[Claim],
        paper: &[PaperValue],
        observations: &[Observation],
        paper_ds: Option<&str>,
    ) -> Vec<Outcome> {
        let datasets = [StudyDataset { name: "d".into(), paper: paper_ds.map(String::from) }];
        let conditions: Vec<String> = ["pad", "wo_rem", "wo_nrem"].map(String::from).to_vec();
        evaluate(
            claims,
            paper,
            &Study { paper_epoch: Some(50), datasets: &datasets, conditions: &conditions, last_epoch: 5, observations },
        )
    }

    #[test]
    fn each_verdict_of_an_ordered_claim() {
        let c = [claim("x", "pad", Relation::Greater, "wo_rem", 0.0)];
        let verdict = |a: &[f64], b: &[f64]| run(&c, &[], &study_obs(&[("pad", a), ("wo_rem", b)]), None)[0].verdict;
        // Far apart with little spread: the interval is above 0.
        assert_eq!(verdict(&[50.0, 50.2, 49.9], &[40.0, 40.3, 40.1]), Verdict::Holds);
        // Above on average, the interval reaches below 0.
        assert_eq!(verdict(&[50.0, 44.0], &[46.0, 47.0]), Verdict::Consistent);
        // Below on average, the interval reaches above 0.
        assert_eq!(verdict(&[46.0, 47.0], &[50.0, 44.0]), Verdict::NotSeen);
        // Clearly below.
        assert_eq!(verdict(&[40.0, 40.3, 40.1], &[50.0, 50.2, 49.9]), Verdict::Contradicted);
        // One seed: the direction only.
        assert_eq!(verdict(&[51.0], &[50.0]), Verdict::Consistent);
        assert_eq!(verdict(&[49.0], &[50.0]), Verdict::NotSeen);
        let less = [claim("y", "pad", Relation::Less, "wo_rem", 0.0)];
        let o = &run(&less, &[], &study_obs(&[("pad", &[0.2, 0.21]), ("wo_rem", &[0.4, 0.41])]), None)[0];
        assert_eq!(o.verdict, Verdict::Holds);
        assert!(o.notes.iter().any(|n| n.contains("no paper dataset")), "{:?}", o.notes);
    }

    #[test]
    fn an_equivalence_claim_and_a_non_inferiority_claim() {
        let approx = [claim("eq", "wo_nrem", Relation::Approx, "pad", 2.0)];
        let verdict =
            |c: &[Claim], a: &[f64], b: &[f64]| run(c, &[], &study_obs(&[("wo_nrem", a), ("pad", b)]), None)[0].verdict;
        // Within ±2 with a tight interval.
        assert_eq!(verdict(&approx, &[50.0, 50.1, 50.2], &[49.5, 49.6, 49.4]), Verdict::Holds);
        // Within on average, the interval pokes out of the margin.
        assert_eq!(verdict(&approx, &[51.0, 49.0], &[49.0, 51.5]), Verdict::Consistent);
        // Outside on average, the interval reaches back in.
        assert_eq!(verdict(&approx, &[54.0, 48.0], &[48.0, 49.0]), Verdict::NotSeen);
        // Far outside: 5 points above pad is not "equal".
        assert_eq!(verdict(&approx, &[55.0, 55.1, 55.2], &[50.0, 50.1, 49.9]), Verdict::Contradicted);
        // "Equally good or better" holds for the same data.
        let at_least = [claim("ge", "wo_nrem", Relation::AtLeast, "pad", 2.0)];
        assert_eq!(verdict(&at_least, &[55.0, 55.1, 55.2], &[50.0, 50.1, 49.9]), Verdict::Holds);
        assert_eq!(verdict(&at_least, &[45.0, 45.1, 45.2], &[50.0, 50.1, 49.9]), Verdict::Contradicted);
    }

    #[test]
    fn a_missing_condition_or_metric_is_not_evaluated_with_the_reason() {
        let obs = study_obs(&[("pad", &[50.0, 51.0]), ("wo_rem", &[45.0, 46.0])]);
        let o = &run(&[claim("m", "pad", Relation::Greater, "wo_memory_mix", 0.0)], &[], &obs, None)[0];
        assert_eq!(o.verdict, Verdict::NotEvaluated);
        assert!(o.notes[0].contains("no condition wo_memory_mix"), "{:?}", o.notes);
        let mut fid = claim("f", "pad", Relation::Less, "pad", 0.0);
        (fid.metric, fid.metric_b) = (Metric::FidRem, Some(Metric::FidNrem));
        let o = &run(&[fid], &[], &obs, None)[0];
        assert_eq!(o.verdict, Verdict::NotEvaluated);
        assert!(o.notes[0].contains("no fid_rem values (fid.csv has none for d)"), "{:?}", o.notes);
        // A condition of the profile whose value is not computed yet (wo_nrem has no rows).
        let o = &run(&[claim("n", "wo_nrem", Relation::Greater, "pad", 0.0)], &[], &obs, None)[0];
        assert_eq!(o.verdict, Verdict::NotEvaluated);
        assert!(o.notes[0].contains("no probe for wo_nrem at epoch 5"), "{:?}", o.notes);
    }

    #[test]
    fn the_untrained_side_is_read_at_epoch_0_and_the_paper_beside_with_its_epoch() {
        let paper = |c: &str, mean, epoch| PaperValue {
            dataset: "cifar10".into(),
            condition: c.into(),
            metric: Metric::Probe,
            p: None,
            epoch,
            seeds: Some(4),
            mean,
            sem: Some(0.5),
            source: "Appendix 1-Table 1".into(),
            read_from_plot: c == UNTRAINED,
        };
        let values = [paper("pad", 58.25, 50), paper(UNTRAINED, 29.0, 0)];
        let obs = study_obs(&[("pad", &[43.0, 44.0]), (UNTRAINED, &[32.0, 32.5])]);
        let o = &run(&[claim("u", "pad", Relation::Greater, UNTRAINED, 0.0)], &values, &obs, Some("cifar10"))[0];
        assert_eq!(o.verdict, Verdict::Holds);
        assert_eq!((o.seeds, o.paper, o.paper_epoch), ([2, 2], [Some(58.25), Some(29.0)], Some(50)));
        assert_eq!(o.means, Some([43.5, 32.25]));
        assert!(o.notes.iter().any(|n| n == "epoch 5 here, 50 in the paper"), "{:?}", o.notes);
        assert!(o.notes.iter().any(|n| n.contains("read from a plot")), "{:?}", o.notes);
        let csv = table(std::slice::from_ref(o)).to_csv();
        let row = csv.lines().nth(1).unwrap();
        assert!(row.starts_with("d,cifar10,u,probe,pad,greater,untrained,5,50,2,2,43.50,32.25,11.25,"), "{row}");
        assert!(row.contains(",58.25,29.00,29.25,holds,"), "{row}");
    }

    #[test]
    fn a_claim_across_epochs_reads_side_b_at_its_own_epoch() {
        let mut c = claim("late", "pad", Relation::Less, "pad", 0.0);
        (c.metric, c.epoch_b) = (Metric::FidRem, Some(1));
        let obs = [
            obs("pad", 0, 1, Metric::FidRem, 120.0),
            obs("pad", 1, 1, Metric::FidRem, 125.0),
            obs("pad", 0, 5, Metric::FidRem, 80.0),
            obs("pad", 1, 5, Metric::FidRem, 82.0),
            obs("pad", 0, 5, Metric::FidNrem, 500.0),
        ];
        let o = &run(std::slice::from_ref(&c), &[], &obs, None)[0];
        assert_eq!((o.verdict, o.means), (Verdict::Holds, Some([81.0, 122.5])));
        assert!(table(std::slice::from_ref(o)).to_csv().contains(",pad,less,pad (epoch 1),5,"));
    }

    #[test]
    fn observations_are_read_from_the_report_tables_with_errors_naming_the_line() {
        let mut tables = BTreeMap::new();
        tables.insert(
            "occlusion.csv".to_string(),
            "dataset,condition,seed,epoch,p,test_acc,test_acc_ref,test_loss,ridge_acc
d,pad,0,5,0.6,30.00,30.01,2.0,35.50
"
            .to_string(),
        );
        tables.insert(
            "fid.csv".to_string(),
            "dataset,condition,seed,epoch,kind,fid,samples_real,samples_dreams
d,pad,1,5,rem,80.5,100,100
"
            .to_string(),
        );
        let o = observations(&tables).unwrap();
        assert_eq!(o.len(), 3);
        assert_eq!((o[0].metric, o[0].p, o[0].value), (Metric::OcclusionProbe, Some(0.6), 30.0));
        assert_eq!((o[1].metric, o[1].value), (Metric::OcclusionRidge, 35.5));
        assert_eq!((o[2].metric, o[2].seed, o[2].value), (Metric::FidRem, 1, 80.5));
        tables.insert(
            "distances.csv".into(),
            "dataset,condition,seed,epoch,ratio_intra_inter,ratio_occluded_inter
d,pad,0,5,0.9,abc
"
            .into(),
        );
        let e = observations(&tables).unwrap_err();
        assert!(e.contains("distances.csv line 2") && e.contains("ratio_occluded_inter 'abc'"), "{e}");
    }
}
