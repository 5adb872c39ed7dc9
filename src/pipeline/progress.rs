//! One progress display for many stages at once: a line per running stage (with its elapsed
//! time) under a line of totals with an ETA. Hidden when not asked for. When stderr is not a
//! terminal (a run under nohup or in a batch job, its stderr in a log file) the bars would draw
//! nothing, so each start and finish is a plain line instead, with the totals and an ETA.
//!
//! The ETA weighs what is left by the time stages of the same kind took so far: in a grid a
//! training takes an hour and a probe seconds, so a count of stages alone would be off by hours.
use super::jobs::Event;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Display {
    multi: MultiProgress,
    total: ProgressBar,
    /// Running stages: label, spinner, start.
    lines: Mutex<Vec<(String, ProgressBar, Instant)>>,
    /// Plain lines for a log.
    plain: bool,
    start: Instant,
    pace: Mutex<Pace>,
}

impl Display {
    /// A display for the stages of these labels ("train demo/pad/seed0", ...).
    pub fn new<'a>(show: bool, labels: impl IntoIterator<Item = &'a str>) -> Display {
        let pace = Pace::new(labels);
        let plain = show && !std::io::stderr().is_terminal();
        let target = if show && !plain { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let multi = MultiProgress::with_draw_target(target);
        let bar = multi.add(ProgressBar::new(pace.left.values().sum::<usize>() as u64));
        let style = "stages {pos}/{len} [{bar:30}] {elapsed_precise}  {msg}";
        bar.set_style(ProgressStyle::with_template(style).expect("a valid template").progress_chars("=> "));
        bar.enable_steady_tick(Duration::from_secs(1));
        let (lines, pace) = (Mutex::new(Vec::new()), Mutex::new(pace));
        Display { multi, total: bar, lines, plain, start: Instant::now(), pace }
    }

    pub fn event(&self, e: Event) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::Started { label, .. } => {
                let line = self.multi.add(ProgressBar::new_spinner());
                line.set_style(
                    ProgressStyle::with_template("  {spinner} {elapsed:>4} {msg}").expect("a valid template"),
                );
                line.set_message(label.to_string());
                line.enable_steady_tick(Duration::from_secs(1));
                lines.push((label.to_string(), line, Instant::now()));
                if self.plain {
                    say(format!("{} start {label}", self.counts()));
                }
            }
            Event::Finished { label, ok, skipped } => {
                let mut took = Duration::ZERO;
                if let Some(k) = lines.iter().position(|(l, ..)| l == label) {
                    let (_, line, start) = lines.remove(k);
                    took = start.elapsed();
                    line.finish_and_clear();
                    self.multi.remove(&line);
                }
                self.total.inc(1 + skipped as u64);
                let mut pace = self.pace.lock().unwrap_or_else(|p| p.into_inner());
                pace.finished(label, took);
                if self.plain {
                    let what = if ok { "done " } else { "FAILED" };
                    let elapsed = self.start.elapsed();
                    let eta = pace.eta(elapsed).map(|t| format!(", ETA {}", clock(t))).unwrap_or_default();
                    say(format!(
                        "{} {what} {label} in {}; elapsed {}{eta}",
                        self.counts(),
                        clock(took),
                        clock(elapsed)
                    ));
                }
                if !ok {
                    let _ = self.multi.println(format!("failed: {label} (its {skipped} dependant(s) skipped)"));
                }
            }
        }
        let eta = self.pace.lock().unwrap_or_else(|p| p.into_inner()).eta(self.start.elapsed());
        let eta = eta.map(|t| format!(", ETA {} as of the last finish", clock(t))).unwrap_or_default();
        self.total.set_message(format!("{} running{eta}", lines.len()));
    }

    /// "[ 12/97]": stages finished (or skipped) of all.
    fn counts(&self) -> String {
        let len = self.total.length().unwrap_or(0);
        let width = len.to_string().len();
        format!("[{:>width$}/{len}]", self.total.position())
    }

    pub fn finish(&self) {
        self.total.finish_and_clear();
    }
}

/// Time spent per stage kind (a label's first word) and stages left of each.
#[derive(Debug, Default)]
struct Pace {
    left: BTreeMap<String, usize>,
    spent: BTreeMap<String, (Duration, usize)>,
}

impl Pace {
    fn new<'a>(labels: impl IntoIterator<Item = &'a str>) -> Pace {
        let mut pace = Pace::default();
        for l in labels {
            *pace.left.entry(kind_of(l).to_string()).or_default() += 1;
        }
        pace
    }

    fn finished(&mut self, label: &str, took: Duration) {
        let kind = kind_of(label);
        if let Some(n) = self.left.get_mut(kind) {
            *n = n.saturating_sub(1);
        }
        let e = self.spent.entry(kind.to_string()).or_default();
        *e = (e.0 + took, e.1 + 1);
    }

    /// Time left: `elapsed` scaled by the estimated work left over the work done, each stage
    /// costing the mean of its kind so far (of all stages, for a kind not seen yet). None before
    /// the first finish.
    fn eta(&self, elapsed: Duration) -> Option<Duration> {
        let (done, count) = self.spent.values().fold((0.0, 0), |(d, c), (t, n)| (d + t.as_secs_f64(), c + n));
        if count == 0 || done <= 0.0 {
            return None;
        }
        let overall = done / count as f64;
        let mean = |k: &str| self.spent.get(k).map_or(overall, |(t, n)| t.as_secs_f64() / *n as f64);
        let left: f64 = self.left.iter().map(|(k, &n)| n as f64 * mean(k)).sum();
        Some(elapsed.mul_f64(left / done))
    }
}

/// A line to stderr. A log that went away (a closed pipe, a full disk) must not stop the stages.
fn say(line: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// "train" of "train demo/pad/seed0".
fn kind_of(label: &str) -> &str {
    label.split_whitespace().next().unwrap_or(label)
}

/// 75 s -> "1m 15s", 3725 s -> "1h 02m", 9 s -> "9s".
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::{clock, Pace};
    use std::time::Duration;

    #[test]
    fn clock_reads_like_a_person_would_write_it() {
        let c = |s| clock(Duration::from_secs(s));
        assert_eq!((c(9).as_str(), c(75).as_str(), c(3725).as_str()), ("9s", "1m 15s", "1h 02m"));
    }

    #[test]
    fn eta_weighs_what_is_left_by_the_time_of_its_kind() {
        let labels = ["train a/pad/seed0", "train a/pad/seed1", "probe a/pad/seed0", "probe a/pad/seed1"];
        let mut pace = Pace::new(labels);
        assert_eq!(pace.eta(Duration::ZERO), None);
        // One training of 100 s and one probe of 2 s are done, on one job: one of each is left,
        // 102 s of work, as much as was done.
        pace.finished("train a/pad/seed0", Duration::from_secs(100));
        pace.finished("probe a/pad/seed0", Duration::from_secs(2));
        assert_eq!(pace.eta(Duration::from_secs(102)), Some(Duration::from_secs(102)));
        // On two jobs the same work took half the wall time, and so will the rest.
        assert_eq!(pace.eta(Duration::from_secs(51)), Some(Duration::from_secs(51)));
        // A count of stages would say the same here; it differs once the trainings are done.
        pace.finished("train a/pad/seed1", Duration::from_secs(100));
        assert_eq!(pace.eta(Duration::from_secs(202)), Some(Duration::from_secs(2)));
    }
}
