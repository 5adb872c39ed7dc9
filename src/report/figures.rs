//! The paper's figures as SVG documents: accuracy vs epoch with SEM bands (Fig. 4c,d), accuracy vs
//! occlusion (Fig. 5c,d), distance-ratio bars (Fig. 6e,f), losses per epoch (Appendix 1-Figs 1-2),
//! the PCA scatter (Fig. 6b-d) and labelled dream grids (Fig. 3). Bands and error bars are mean ±
//! SEM over runs (seeds), SEM with ddof = 1 as scipy.stats.sem.
//!
//! A condition has one colour in every figure (`Colors`), the untrained networks grey.
//!
//! Inputs are plain data (curves of points, ratios, projected points, PNG images): whoever holds
//! evaluation results converts them, so the report knows nothing of how results were made.
use super::error::ReportError;
use super::svg::{color, render, Axis, Bar, Content, Line, Panel, Points, PALETTE};
use super::tables::mean_sem;
use std::path::Path;

/// A named condition and one curve (x, y) per run.
pub type Runs = (String, Vec<Vec<(f64, f64)>>);

/// One panel of curves: its title and its conditions' runs.
pub type CurvePanel = (String, Vec<Runs>);

/// The name of the untrained networks wherever they are drawn.
pub const UNTRAINED: &str = "untrained";

/// One colour per condition, the same in every figure of a report: the untrained networks in
/// tab10's grey, the conditions in the other tab10 colours in the order given (a profile's order).
#[derive(Clone, Debug, Default)]
pub struct Colors {
    conditions: Vec<String>,
}

impl Colors {
    pub fn new<S: AsRef<str>>(conditions: &[S]) -> Colors {
        let conditions = conditions.iter().map(|c| c.as_ref().to_string()).filter(|c| c != UNTRAINED).collect();
        Colors { conditions }
    }

    /// The colour of `name` (black for a name the report was not told about).
    pub fn of(&self, name: &str) -> String {
        const GREY: usize = 7;
        if name == UNTRAINED {
            return PALETTE[GREY].to_string();
        }
        let others: Vec<&str> = PALETTE.iter().enumerate().filter(|(i, _)| *i != GREY).map(|(_, c)| *c).collect();
        match self.conditions.iter().position(|c| c == name) {
            Some(i) => others[i % others.len()].to_string(),
            None => "#000000".to_string(),
        }
    }
}

/// One bar of FID values: (condition, epoch, values over seeds).
pub type FidBar = (String, usize, Vec<f64>);

/// One run's latent distance ratios (Fig. 6e,f).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DistanceRatios {
    /// Mean intra-class over mean inter-class distance.
    pub intra_inter: f64,
    /// Mean clean-to-occluded over mean inter-class distance.
    pub occluded_inter: f64,
}

/// Codes projected on two principal axes (Fig. 6b-d): clean and occluded, point k of class
/// `labels[k]`, and the share of variance each axis explains.
#[derive(Clone, Copy, Debug)]
pub struct Projection<'a> {
    pub labels: &'a [u8],
    pub clean: &'a [[f64; 2]],
    pub occluded: &'a [[f64; 2]],
    pub explained: [f64; 2],
}

/// Mean and SEM (tables::mean_sem) as drawn: the SEM of a single run, undefined, is drawn as a
/// band or error bar of zero width (tables print the mean alone there).
fn drawn_mean_sem(v: &[f64]) -> (f64, f64) {
    let (m, s) = mean_sem(v);
    (m, if s.is_nan() { 0.0 } else { s })
}

/// Per x (in increasing order), mean and SEM over the runs that have a point at x (SEM 0 where
/// one run has a point: see `drawn_mean_sem`).
pub fn curve_mean_sem(runs: &[Vec<(f64, f64)>]) -> Vec<(f64, f64, f64)> {
    let mut xs: Vec<f64> = runs.iter().flatten().map(|p| p.0).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    xs.into_iter()
        .map(|x| {
            let ys: Vec<f64> = runs.iter().flatten().filter(|p| p.0 == x).map(|p| p.1).collect();
            let (m, s) = drawn_mean_sem(&ys);
            (x, m, s)
        })
        .collect()
}

fn sem_lines(conditions: &[Runs], colors: &Colors) -> Vec<Line> {
    conditions
        .iter()
        .map(|(name, runs)| {
            let c = curve_mean_sem(runs);
            Line {
                name: name.clone(),
                color: colors.of(name),
                points: c.iter().map(|&(x, m, _)| (x, m)).collect(),
                band: c.iter().map(|&(x, m, s)| (x, m - s, m + s)).collect(),
            }
        })
        .collect()
}

/// A number of the paper drawn on a curve figure: a marker with its SEM, in its condition's
/// colour, named "<condition> (paper)" in the legend.
#[derive(Clone, Debug, PartialEq)]
pub struct PaperMark {
    pub condition: String,
    pub x: f64,
    pub y: f64,
    /// 0 where the paper gives none.
    pub sem: f64,
}

fn sem_panel_marked(
    title: &str,
    xlabel: &str,
    ylabel: &str,
    conditions: &[Runs],
    marks: &[PaperMark],
    colors: &Colors,
) -> Panel {
    let mut lines = sem_lines(conditions, colors);
    lines.extend(marks.iter().map(|m| Line {
        name: format!("{} (paper)", m.condition),
        color: colors.of(&m.condition),
        points: vec![(m.x, m.y)],
        band: vec![(m.x, m.y - m.sem, m.y + m.sem)],
    }));
    let x = Axis::fit(xlabel, lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)), None);
    let y = Axis::fit(ylabel, [], Some((0.0, 100.0)));
    Panel { title: title.into(), x, y, content: Content::Lines(lines) }
}

/// Fig. 4c,d: test accuracy (%) of a linear read-out per training epoch, one panel per read-out,
/// one line per condition (a condition that is one point, as the untrained networks at epoch 0,
/// is a marker with an error bar).
pub fn accuracy_vs_epoch(panels: &[CurvePanel], colors: &Colors) -> String {
    accuracy_vs_epoch_with_paper(panels, &[], colors)
}

/// `accuracy_vs_epoch` with the paper's numbers marked: `marks[k]` on panel k (none where
/// `marks` is shorter).
pub fn accuracy_vs_epoch_with_paper(panels: &[CurvePanel], marks: &[Vec<PaperMark>], colors: &Colors) -> String {
    let panels: Vec<Panel> = panels
        .iter()
        .enumerate()
        .map(|(k, (title, conds))| {
            let m = marks.get(k).map_or(&[][..], |v| v.as_slice());
            let (x, y) = ("epoch (mean ± SEM over seeds)", "linear separability (% test accuracy)");
            sem_panel_marked(title, x, y, conds, m, colors)
        })
        .collect();
    render(&panels)
}

/// Fig. 5c,d: test accuracy (%) against the occlusion probability (curves of (p, accuracy)), one
/// panel per read-out, one line per condition.
pub fn accuracy_vs_occlusion(panels: &[CurvePanel], colors: &Colors) -> String {
    accuracy_vs_occlusion_with_paper(panels, &[], colors)
}

/// `accuracy_vs_occlusion` with the paper's numbers marked, as `accuracy_vs_epoch_with_paper`.
pub fn accuracy_vs_occlusion_with_paper(panels: &[CurvePanel], marks: &[Vec<PaperMark>], colors: &Colors) -> String {
    let panels: Vec<Panel> = panels
        .iter()
        .enumerate()
        .map(|(k, (title, conds))| {
            let m = marks.get(k).map_or(&[][..], |v| v.as_slice());
            let (x, y) = ("occlusion probability (mean ± SEM over seeds)", "test accuracy (%)");
            sem_panel_marked(title, x, y, conds, m, colors)
        })
        .collect();
    render(&panels)
}

/// A panel of bars, mean ± SEM of each group's values, each in its condition's colour.
fn bar_panel(title: &str, ylabel: &str, groups: &[(String, Vec<f64>)], colors: &Colors) -> Panel {
    let bars: Vec<Bar> = groups
        .iter()
        .map(|(name, v)| {
            let (m, s) = drawn_mean_sem(v);
            Bar { label: name.clone(), value: m, err: s, color: colors.of(name) }
        })
        .collect();
    let top = bars.iter().map(|b| b.value + b.err).filter(|v| v.is_finite()).fold(0.0f64, f64::max);
    Panel {
        title: title.into(),
        x: Axis::fit("", [], None),
        y: Axis::fit(ylabel, [], Some((0.0, (1.15 * top).max(1e-9)))),
        content: Content::Bars(bars),
    }
}

/// Fig. 6e,f: intra/inter and clean-occluded/inter distance ratios, one bar per condition.
pub fn distance_ratio_bars(conditions: &[(String, Vec<DistanceRatios>)], colors: &Colors) -> String {
    let groups = |pick: fn(&DistanceRatios) -> f64| -> Vec<(String, Vec<f64>)> {
        conditions.iter().map(|(n, ds)| (n.clone(), ds.iter().map(pick).collect())).collect()
    };
    render(&[
        bar_panel("intra-class / inter-class distance", "ratio", &groups(|d| d.intra_inter), colors),
        bar_panel("clean-occluded / inter-class distance", "ratio", &groups(|d| d.occluded_inter), colors),
    ])
}

/// Fig. 3d: FID of NREM and REM dreams, one panel per (kind, epoch) in the order given, one bar
/// per condition (mean ± SEM over seeds). `panels`: kind -> bars.
pub fn fid_bars(title: &str, panels: &[(String, Vec<FidBar>)], colors: &Colors) -> String {
    let mut rendered = Vec::new();
    for (kind, bars) in panels {
        let mut epochs: Vec<usize> = bars.iter().map(|b| b.1).collect();
        epochs.sort_unstable();
        epochs.dedup();
        for e in epochs {
            let here: Vec<&FidBar> = bars.iter().filter(|b| b.1 == e).collect();
            let groups: Vec<(String, Vec<f64>)> = here.iter().map(|(c, _, v)| (c.clone(), v.clone())).collect();
            rendered.push(bar_panel(
                &format!("{title}: {kind} dreams, epoch {e}"),
                "FID (lower = more realistic)",
                &groups,
                colors,
            ));
        }
    }
    render(&rendered)
}

/// The trainer's losses.csv (epoch,iterations,L_img,L_KL,L_real,L_NREM,L_fake,d_real,d_fake):
/// one panel of losses and one of the discriminator's mean outputs, per epoch.
pub fn losses_per_epoch(csv_text: &str, path: &Path) -> Result<String, ReportError> {
    let bad = |msg: String| ReportError::Parse { path: path.to_path_buf(), msg };
    let mut lines = csv_text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().ok_or_else(|| bad("empty file".into()))?.split(',').map(str::trim).collect();
    let col = |name: &str| {
        header.iter().position(|h| *h == name).ok_or_else(|| bad(format!("no column {name} in header {header:?}")))
    };
    let epoch = col("epoch")?;
    let mut rows: Vec<Vec<f64>> = Vec::new();
    for (k, l) in lines.enumerate() {
        let r: Result<Vec<f64>, _> = l.split(',').map(|v| v.trim().parse::<f64>()).collect();
        let r = r.map_err(|e| bad(format!("row {}: {e}", k + 2)))?;
        if r.len() != header.len() {
            return Err(bad(format!("row {} has {} fields, the header {}", k + 2, r.len(), header.len())));
        }
        rows.push(r);
    }
    let series = |names: &[&str]| -> Result<Vec<Line>, ReportError> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let c = col(n)?;
                Ok(Line {
                    name: n.to_string(),
                    color: color(i),
                    points: rows.iter().map(|r| (r[epoch], r[c])).collect(),
                    band: Vec::new(),
                })
            })
            .collect()
    };
    let panel = |title: &str, ylabel: &str, lines: Vec<Line>, y: Option<(f64, f64)>| {
        let x = Axis::fit("epoch", rows.iter().map(|r| r[epoch]), None);
        let y = Axis::fit(ylabel, lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)), y);
        Panel { title: title.into(), x, y, content: Content::Lines(lines) }
    };
    Ok(render(&[
        panel("losses", "loss", series(&["L_img", "L_KL", "L_real", "L_NREM", "L_fake"])?, None),
        panel("discriminator output", "mean d", series(&["d_real", "d_fake"])?, Some((0.0, 1.0))),
    ]))
}

/// Fig. 6b-d: clean codes as dots and occluded codes as circles, coloured by class; at most
/// `max_classes` classes (the authors show 4) for legibility.
pub fn pca_scatter(title: &str, p: &Projection, class_names: &[String], max_classes: usize) -> String {
    let mut sets = Vec::new();
    for (pts, hollow, suffix) in [(p.clean, false, ""), (p.occluded, true, " occl.")] {
        for (k, class) in class_names.iter().enumerate().take(max_classes) {
            let points =
                pts.iter().zip(p.labels).filter(|(_, &l)| l as usize == k).map(|(q, _)| (q[0], q[1])).collect();
            sets.push(Points { name: format!("{class}{suffix}"), color: color(k), points, hollow });
        }
    }
    let all = || sets.iter().flat_map(|s| s.points.iter().copied());
    let x = Axis::fit(&format!("PC1 ({:.0}% of variance)", 100.0 * p.explained[0]), all().map(|q| q.0), None);
    let y = Axis::fit(&format!("PC2 ({:.0}%)", 100.0 * p.explained[1]), all().map(|q| q.1), None);
    render(&[Panel { title: title.into(), x, y, content: Content::Scatter(sets) }])
}

/// Writes an SVG document atomically.
pub fn write_svg(path: &Path, svg: &str) -> Result<(), ReportError> {
    Ok(crate::files::atomic::write_atomic(path, svg.as_bytes())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::svg::count_series;

    #[test]
    fn mean_and_sem_match_hand_values() {
        let (m, s) = drawn_mean_sem(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert!((s - (5.0f64 / 3.0 / 4.0).sqrt()).abs() < 1e-12);
        assert_eq!(drawn_mean_sem(&[7.0]), (7.0, 0.0));
        let c = curve_mean_sem(&[vec![(0.0, 1.0), (1.0, 2.0)], vec![(0.0, 3.0), (1.0, 2.0)]]);
        assert_eq!(c, vec![(0.0, 2.0, 1.0), (1.0, 2.0, 0.0)]);
    }

    /// The colour of each series of an SVG written by `render`, by name.
    fn series_colors(svg: &str) -> Vec<(String, String)> {
        svg.split(r#"<g class="series" data-name=""#)
            .skip(1)
            .map(|g| {
                let name = g.split('"').next().unwrap().to_string();
                let color = g.split('#').nth(1).unwrap()[..6].to_string();
                (name, color)
            })
            .collect()
    }

    #[test]
    fn a_condition_has_one_colour_in_every_figure_and_untrained_is_grey() {
        let colors = Colors::new(&["pad", "wo_rem", "wo_nrem"]);
        assert_eq!(colors.of(UNTRAINED), "#7f7f7f");
        assert_eq!(colors.of("pad"), "#1f77b4");
        assert!(["pad", "wo_rem", "wo_nrem"].iter().all(|c| colors.of(c) != colors.of(UNTRAINED)));
        // Curves listed in another order, and bars, keep each condition's colour.
        let run = vec![vec![(0.0, 10.0), (1.0, 20.0)]];
        let acc = accuracy_vs_epoch(
            &[("t".into(), vec![(UNTRAINED.into(), vec![vec![(0.0, 10.0)]]), ("pad".into(), run.clone())])],
            &colors,
        );
        let occ = accuracy_vs_occlusion(
            &[(
                "t".into(),
                vec![("wo_nrem".into(), run.clone()), ("pad".into(), run.clone()), (UNTRAINED.into(), run)],
            )],
            &colors,
        );
        let d = DistanceRatios { intra_inter: 0.5, occluded_inter: 0.25 };
        let bars = distance_ratio_bars(&[(UNTRAINED.into(), vec![d]), ("pad".into(), vec![d])], &colors);
        for svg in [&acc, &occ, &bars] {
            for (name, c) in series_colors(svg) {
                assert_eq!(format!("#{c}"), colors.of(&name), "{name}");
            }
        }
        // "untrained" is drawn with a legend entry wherever it is drawn.
        for svg in [&acc, &occ, &bars] {
            assert!(svg.contains(">untrained</text>"));
        }
        assert_eq!(colors.of("not told"), "#000000");
    }

    #[test]
    fn figures_have_one_series_per_condition_or_column() {
        let runs = |k: f64| vec![vec![(1.0, 10.0 * k), (2.0, 20.0 * k)], vec![(1.0, 12.0 * k), (2.0, 21.0 * k)]];
        let conds: Vec<Runs> = (1..=3).map(|k| (format!("c{k}"), runs(k as f64))).collect();
        let colors = Colors::new(&["c1", "c2", "c3"]);
        assert_eq!(count_series(&accuracy_vs_epoch(&[("t".into(), conds.clone())], &colors)), 3);
        assert_eq!(
            count_series(&accuracy_vs_occlusion(&[("a".into(), conds.clone()), ("b".into(), conds)], &colors)),
            6
        );
        let csv = "epoch,iterations,L_img,L_KL,L_real,L_NREM,L_fake,d_real,d_fake\n1,10,0.5,0.1,0.6,0.2,0.7,0.6,0.4\n2,10,0.4,0.1,0.5,0.2,0.6,0.7,0.3\n";
        assert_eq!(count_series(&losses_per_epoch(csv, Path::new("l.csv")).unwrap()), 7);
        assert!(losses_per_epoch("epoch,L_img\n1,x\n", Path::new("l.csv")).is_err());
        assert!(losses_per_epoch("epoch,iterations\n1,2\n", Path::new("l.csv"))
            .unwrap_err()
            .to_string()
            .contains("l.csv"));
        let d = DistanceRatios { intra_inter: 0.5, occluded_inter: 0.25 };
        assert_eq!(count_series(&distance_ratio_bars(&[("a".into(), vec![d]), ("b".into(), vec![d])], &colors)), 4);
        let fid = vec![
            ("pad".to_string(), 1, vec![80.0, 90.0]),
            ("pad".to_string(), 50, vec![40.0, 44.0]),
            ("wo_rem".to_string(), 50, vec![60.0]),
        ];
        assert_eq!(
            count_series(&fid_bars("cifar10", &[("NREM".into(), fid.clone()), ("REM".into(), fid)], &colors)),
            6
        );
        let p = Projection {
            labels: &[0, 1],
            clean: &[[0.0, 1.0], [1.0, 0.0]],
            occluded: &[[0.1, 1.0], [1.0, 0.2]],
            explained: [0.5, 0.2],
        };
        assert_eq!(count_series(&pca_scatter("p", &p, &["a".into(), "b".into(), "c".into()], 4)), 6);
    }
}
