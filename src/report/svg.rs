//! A small SVG plotter: line charts with shaded bands, scatter plots and bar charts, panels side
//! by side. Enough for the paper's figures, viewable in any browser, no plotting crate.
//! Every series is one `<g class="series">` element, so tests can count them.
use std::fmt::Write;

/// matplotlib's tab10 colours, the default cycle of the authors' figures.
pub const PALETTE: [&str; 10] =
    ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

pub fn color(i: usize) -> String {
    PALETTE[i % PALETTE.len()].to_string()
}

#[derive(Clone, Debug)]
pub struct Axis {
    pub label: String,
    pub min: f64,
    pub max: f64,
}

impl Axis {
    /// A range covering `values` with 5% margin (or exactly [lo, hi] if given).
    pub fn fit(label: &str, values: impl IntoIterator<Item = f64>, fixed: Option<(f64, f64)>) -> Axis {
        if let Some((min, max)) = fixed {
            return Axis { label: label.into(), min, max };
        }
        let (lo, hi) = values
            .into_iter()
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        let (lo, hi) = if lo > hi {
            (0.0, 1.0)
        } else if lo == hi {
            (lo - 0.5, hi + 0.5)
        } else {
            (lo, hi)
        };
        let m = 0.05 * (hi - lo);
        Axis { label: label.into(), min: lo - m, max: hi + m }
    }

    /// Round tick values (steps of 1, 2 or 5 times a power of ten), about five of them.
    pub fn ticks(&self) -> Vec<f64> {
        let span = self.max - self.min;
        if !(span > 0.0 && span.is_finite()) {
            return vec![self.min];
        }
        let raw = span / 5.0;
        let mag = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
        let first = (self.min / step).ceil() as i64;
        let last = (self.max / step).floor() as i64;
        (first..=last).map(|k| k as f64 * step).collect()
    }
}

#[derive(Clone, Debug)]
pub struct Line {
    pub name: String,
    pub color: String,
    pub points: Vec<(f64, f64)>,
    /// (x, low, high) of a shaded band, e.g. mean ± SEM; empty for none.
    pub band: Vec<(f64, f64, f64)>,
}

#[derive(Clone, Debug)]
pub struct Points {
    pub name: String,
    pub color: String,
    pub points: Vec<(f64, f64)>,
    /// Outlined circles instead of filled dots (the authors' style for occluded codes).
    pub hollow: bool,
}

#[derive(Clone, Debug)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// Half-height of the error bar; 0 for none.
    pub err: f64,
    pub color: String,
}

#[derive(Clone, Debug)]
pub enum Content {
    Lines(Vec<Line>),
    Scatter(Vec<Points>),
    /// Categorical x axis; the panel's x axis is ignored.
    Bars(Vec<Bar>),
}

#[derive(Clone, Debug)]
pub struct Panel {
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub content: Content,
}

const W: f64 = 500.0;
const H: f64 = 340.0;
const LEFT: f64 = 62.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 48.0;

/// Escapes text for SVG.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Title font size, and the width of one of its characters as this file estimates it (Helvetica
/// averages about 0.55 em; a little more keeps wide letters inside).
const TITLE_PX: f64 = 14.0;
const TITLE_CHAR_PX: f64 = 0.6 * TITLE_PX;
/// Height of one title line.
const TITLE_LINE: f64 = 17.0;

/// The words of `text` in lines of at most `max` characters (a longer word gets a line of its own).
pub fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(l) if l.chars().count() + 1 + word.chars().count() <= max => {
                l.push(' ');
                l.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// A panel's title in lines that fit its width: a title wider than the panel would be cut at both
/// edges of the figure.
fn title_lines(title: &str) -> Vec<String> {
    wrap(title, ((W - 16.0) / TITLE_CHAR_PX) as usize)
}

/// Pixel mapping of one panel's plot area.
struct Frame<'a> {
    x: &'a Axis,
    y: &'a Axis,
    /// Top of the plot area: below the title, however many lines it has.
    top: f64,
}

impl Frame<'_> {
    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x.min) / (self.x.max - self.x.min) * (W - LEFT - RIGHT)
    }
    fn py(&self, y: f64) -> f64 {
        H - BOTTOM - (y - self.y.min) / (self.y.max - self.y.min) * (H - self.top - BOTTOM)
    }
}

/// The panels side by side as one SVG document.
pub fn render(panels: &[Panel]) -> String {
    let width = W * panels.len().max(1) as f64;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{H}" viewBox="0 0 {width} {H}" font-family="Helvetica, Arial, sans-serif" font-size="12">"#
    );
    s.push_str(&format!(r#"<rect width="{width}" height="{H}" fill="white"/>"#));
    for (i, p) in panels.iter().enumerate() {
        let _ = write!(s, r#"<g transform="translate({},0)">"#, i as f64 * W);
        panel(&mut s, p);
        s.push_str("</g>");
    }
    s.push_str("</svg>\n");
    s
}

fn panel(s: &mut String, p: &Panel) {
    let lines = title_lines(&p.title);
    for (k, l) in lines.iter().enumerate() {
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle" font-size="{TITLE_PX}">{}</text>"#,
            W / 2.0,
            20.0 + TITLE_LINE * k as f64,
            esc(l)
        );
    }
    let f = Frame { x: &p.x, y: &p.y, top: TOP + TITLE_LINE * lines.len().saturating_sub(1) as f64 };
    y_axis(s, &f);
    let names: Vec<(String, String, bool)> = match &p.content {
        Content::Lines(lines) => {
            x_axis(s, &f);
            lines.iter().for_each(|l| line(s, &f, l));
            lines.iter().map(|l| (l.name.clone(), l.color.clone(), false)).collect()
        }
        Content::Scatter(sets) => {
            x_axis(s, &f);
            sets.iter().for_each(|set| scatter(s, &f, set));
            sets.iter().map(|p| (p.name.clone(), p.color.clone(), p.hollow)).collect()
        }
        Content::Bars(bars) => self::bars(s, &f, bars),
    };
    legend(s, f.top, &names);
}

fn y_axis(s: &mut String, f: &Frame) {
    let (x0, x1) = (LEFT, W - RIGHT);
    for t in f.y.ticks() {
        let y = f.py(t);
        let _ = write!(
            s,
            r##"<line x1="{x0}" y1="{y:.1}" x2="{x1}" y2="{y:.1}" stroke="#e6e6e6"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            x0 - 6.0,
            y + 4.0,
            tick_label(t)
        );
    }
    let _ = write!(s, r##"<line x1="{x0}" y1="{}" x2="{x0}" y2="{}" stroke="black"/>"##, f.top, H - BOTTOM);
    let _ = write!(
        s,
        r#"<text transform="translate(16,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        (f.top + H - BOTTOM) / 2.0,
        esc(&f.y.label)
    );
}

fn x_axis(s: &mut String, f: &Frame) {
    let y0 = H - BOTTOM;
    for t in f.x.ticks() {
        let x = f.px(t);
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{y0}" x2="{x:.1}" y2="{}" stroke="black"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
            y0 + 5.0,
            y0 + 18.0,
            tick_label(t)
        );
    }
    let _ = write!(s, r##"<line x1="{LEFT}" y1="{y0}" x2="{}" y2="{y0}" stroke="black"/>"##, W - RIGHT);
    let _ = write!(
        s,
        r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 10.0,
        esc(&f.x.label)
    );
}

fn tick_label(t: f64) -> String {
    if t != 0.0 && t.abs() < 1e-3 {
        // Tiny scales (e.g. FIDs of near-identical sets) keep their digits.
        return format!("{t:.1e}");
    }
    let r = (t * 1e6).round() / 1e6;
    if r == r.trunc() && r.abs() < 1e6 {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

fn path(f: &Frame, pts: impl Iterator<Item = (f64, f64)>) -> String {
    let mut d = String::new();
    for (k, (x, y)) in pts.filter(|(x, y)| x.is_finite() && y.is_finite()).enumerate() {
        let _ = write!(d, "{}{:.1},{:.1}", if k == 0 { "M" } else { " L" }, f.px(x), f.py(y));
    }
    d
}

fn line(s: &mut String, f: &Frame, l: &Line) {
    let _ = write!(s, r#"<g class="series" data-name="{}">"#, esc(&l.name));
    if !l.band.is_empty() {
        let upper = path(f, l.band.iter().map(|&(x, _, hi)| (x, hi)));
        let lower = path(f, l.band.iter().rev().map(|&(x, lo, _)| (x, lo))).replacen('M', " L", 1);
        let _ = write!(s, r#"<path d="{upper}{lower} Z" fill="{}" fill-opacity="0.25" stroke="none"/>"#, l.color);
    }
    let _ = write!(
        s,
        r#"<path d="{}" fill="none" stroke="{}" stroke-width="2"/>"#,
        path(f, l.points.iter().copied()),
        l.color
    );
    if let ([_], [(x, lo, hi)]) = (l.points.as_slice(), l.band.as_slice()) {
        // A band at one x has no area: draw it as an error bar.
        let (x, lo, hi) = (f.px(*x), f.py(*lo), f.py(*hi));
        if lo.is_finite() && hi.is_finite() {
            let _ = write!(s, r#"<path d="M{x:.1},{lo:.1} L{x:.1},{hi:.1}" stroke="{}" stroke-width="1.5"/>"#, l.color);
        }
    }
    if l.points.len() <= 25 {
        // A lone point is a marker of its own: larger, so it is seen beside the lines.
        let r = if l.points.len() == 1 { 4.5 } else { 2.5 };
        for &(x, y) in l.points.iter().filter(|(x, y)| x.is_finite() && y.is_finite()) {
            let _ = write!(s, r#"<circle cx="{:.1}" cy="{:.1}" r="{r}" fill="{}"/>"#, f.px(x), f.py(y), l.color);
        }
    }
    s.push_str("</g>");
}

fn scatter(s: &mut String, f: &Frame, p: &Points) {
    let _ = write!(s, r#"<g class="series" data-name="{}">"#, esc(&p.name));
    for &(x, y) in p.points.iter().filter(|(x, y)| x.is_finite() && y.is_finite()) {
        let style = if p.hollow {
            format!(r#"r="4.5" fill="none" stroke="{}" stroke-width="1.2""#, p.color)
        } else {
            format!(r#"r="2.5" fill="{}""#, p.color)
        };
        let _ = write!(s, r#"<circle cx="{:.1}" cy="{:.1}" {style}/>"#, f.px(x), f.py(y));
    }
    s.push_str("</g>");
}

/// Draws the bars; returns the legend (one entry per colour). Names go under the bars only when
/// the longest fits its slot (about 7 px per character at 12 px): with many conditions the
/// legend alone names them, instead of labels running into each other.
fn bars(s: &mut String, f: &Frame, bars: &[Bar]) -> Vec<(String, String, bool)> {
    let y0 = H - BOTTOM;
    let _ = write!(s, r##"<line x1="{LEFT}" y1="{y0}" x2="{}" y2="{y0}" stroke="black"/>"##, W - RIGHT);
    let slot = (W - LEFT - RIGHT) / bars.len().max(1) as f64;
    let labels_fit = bars.iter().map(|b| b.label.chars().count()).max().unwrap_or(0) as f64 * 7.0 <= slot;
    let base = f.py(f.y.min.max(0.0).min(f.y.max));
    for (i, b) in bars.iter().enumerate() {
        let cx = LEFT + (i as f64 + 0.5) * slot;
        let top = f.py(b.value);
        let _ = write!(s, r#"<g class="series" data-name="{}">"#, esc(&b.label));
        let _ = write!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
            cx - 0.35 * slot,
            top.min(base),
            0.7 * slot,
            (base - top).abs(),
            b.color
        );
        if b.err > 0.0 {
            let (hi, lo) = (f.py(b.value + b.err), f.py(b.value - b.err));
            let _ = write!(
                s,
                r#"<path d="M{cx:.1},{hi:.1} L{cx:.1},{lo:.1} M{:.1},{hi:.1} L{:.1},{hi:.1} M{:.1},{lo:.1} L{:.1},{lo:.1}" stroke="black" fill="none"/>"#,
                cx - 5.0,
                cx + 5.0,
                cx - 5.0,
                cx + 5.0
            );
        }
        if labels_fit {
            let _ = write!(s, r#"<text x="{cx:.1}" y="{}" text-anchor="middle">{}</text>"#, y0 + 18.0, esc(&b.label));
        }
        s.push_str("</g>");
    }
    let mut legend: Vec<(String, String, bool)> = Vec::new();
    for b in bars {
        if !legend.iter().any(|(_, c, _)| *c == b.color) {
            legend.push((b.label.clone(), b.color.clone(), false));
        }
    }
    legend
}

fn legend(s: &mut String, top: f64, items: &[(String, String, bool)]) {
    let x = W - RIGHT + 12.0;
    for (i, (name, color, hollow)) in items.iter().enumerate() {
        let y = top + 8.0 + 18.0 * i as f64;
        let mark = if *hollow {
            format!(r#"fill="none" stroke="{color}" stroke-width="1.5""#)
        } else {
            format!(r#"fill="{color}""#)
        };
        let _ = write!(
            s,
            r#"<circle cx="{}" cy="{y:.1}" r="5" {mark}/><text x="{}" y="{:.1}">{}</text>"#,
            x + 5.0,
            x + 16.0,
            y + 4.0,
            esc(name)
        );
    }
}

/// Number of series in an SVG written by `render`.
pub fn count_series(svg: &str) -> usize {
    svg.matches(r#"<g class="series""#).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize) -> Panel {
        let ls = (0..n)
            .map(|i| Line {
                name: format!("s{i} <&>"),
                color: color(i),
                points: vec![(0.0, i as f64), (1.0, 2.0)],
                band: vec![(0.0, -1.0, 1.0), (1.0, 1.0, 3.0)],
            })
            .collect();
        Panel {
            title: "t".into(),
            x: Axis::fit("x", [0.0, 1.0], None),
            y: Axis::fit("y", [0.0, 3.0], None),
            content: Content::Lines(ls),
        }
    }

    #[test]
    fn svg_has_one_group_per_series_and_escapes_names() {
        let bars = Panel {
            title: "b".into(),
            x: Axis::fit("", [], None),
            y: Axis::fit("r", [], Some((0.0, 1.0))),
            content: Content::Bars(vec![Bar { label: "a".into(), value: 0.5, err: 0.1, color: color(0) }]),
        };
        let svg = render(&[lines(3), bars]);
        assert_eq!(count_series(&svg), 4);
        assert!(svg.contains("s0 &lt;&amp;&gt;") && !svg.contains("<&>"));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(count_series(&render(&[lines(0)])), 0);
    }

    #[test]
    fn bar_names_go_under_bars_only_when_they_fit_and_always_into_the_legend() {
        let panel = |n: usize, label: &str| Panel {
            title: "t".into(),
            x: Axis::fit("", [], None),
            y: Axis::fit("r", [], Some((0.0, 1.0))),
            content: Content::Bars(
                (0..n).map(|i| Bar { label: format!("{label}{i}"), value: 0.5, err: 0.0, color: color(i) }).collect(),
            ),
        };
        let under = |svg: &str, name: &str| svg.contains(&format!(r#"text-anchor="middle">{name}</text>"#));
        let legend = |svg: &str, name: &str| {
            svg.contains(&format!(r#"">{name}</text>"#)) && svg.matches(&format!(">{name}<")).count() >= 1
        };
        let few = render(&[panel(2, "pad")]);
        assert!(under(&few, "pad0") && under(&few, "pad1") && legend(&few, "pad1"));
        let many = render(&[panel(10, "rem_before_nrem")]);
        assert!(!under(&many, "rem_before_nrem3"), "long names would overlap");
        assert!(legend(&many, "rem_before_nrem3") && many.matches("<circle").count() == 10);
        assert_eq!(count_series(&many), 10);
    }

    #[test]
    fn long_titles_wrap_inside_the_panel_and_push_the_plot_down() {
        assert_eq!(wrap("a bb ccc dddd", 6), vec!["a bb", "ccc", "dddd"]);
        assert_eq!(wrap("averyveryverylongword x", 5), vec!["averyveryverylongword", "x"]);
        let long = "fashion-demo wake_only seed 0 epoch 4: clean (dots), 30% occluded (circles), and more words";
        let mut p = lines(1);
        p.title = long.into();
        let svg = render(&[p]);
        let titles: Vec<&str> =
            svg.split(r#"font-size="14">"#).skip(1).map(|t| t.split("</text>").next().unwrap()).collect();
        assert!(titles.len() >= 2, "{titles:?}");
        assert_eq!(titles.join(" "), long);
        // Each line, at the estimated width per character, fits the panel with its margins.
        assert!(titles.iter().all(|t| t.chars().count() as f64 * TITLE_CHAR_PX <= W - 16.0), "{titles:?}");
        // The y axis starts below the last title line.
        assert!(svg.contains(&format!(r#"y1="{}" x2="{LEFT}""#, TOP + TITLE_LINE * (titles.len() - 1) as f64)));
    }

    #[test]
    fn tiny_tick_values_keep_their_digits() {
        assert_eq!(tick_label(2e-6), "2.0e-6");
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(0.25), "0.25");
    }

    #[test]
    fn ticks_are_round_and_inside_the_axis() {
        let a = Axis { label: String::new(), min: 0.0, max: 100.0 };
        assert_eq!(a.ticks(), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        let b = Axis { label: String::new(), min: 0.013, max: 0.061 };
        assert!(b.ticks().iter().all(|&t| (0.013..=0.061).contains(&t)) && b.ticks().len() >= 3);
        let c = Axis::fit("", [2.0, 2.0], None);
        assert!(c.min < 2.0 && c.max > 2.0);
    }
}
