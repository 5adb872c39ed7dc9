//! One progress display for many stages at once: a line per running stage (with its elapsed
//! time) under a line of totals with an ETA. Hidden when not asked for. When stderr is not a
//! terminal (a run under nohup or in a batch job, its stderr in a log file) the bars would draw
//! nothing, so each start and finish is a plain line instead, with the totals and an ETA.
//!
//! The ETA weighs what is left by the time stages of the same kind took so far (in this run, else
//! as the cache's records of complete stages say): in a grid a training takes an hour and a probe
//! seconds, so a count of stages alone would be off by hours. Kinds with no time yet are not
//! guessed; the line says how many such stages are left.
use super::jobs::Event;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Display {
    multi: MultiProgress,
    total: ProgressBar,
    /// Running stages: kind, label, spinner, start.
    lines: Mutex<Vec<(&'static str, String, ProgressBar, Instant)>>,
    /// Plain lines for a log.
    plain: bool,
    start: Instant,
    pace: Mutex<Pace>,
}

impl Display {
    /// A display for stages of these kinds (one entry per stage); `before` holds the kind and
    /// seconds of stages computed earlier (their records), to time kinds not yet seen.
    pub fn new(
        show: bool,
        kinds: impl IntoIterator<Item = &'static str>,
        before: impl IntoIterator<Item = (&'static str, f64)>,
    ) -> Display {
        let pace = Pace::new(kinds, before);
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
            Event::Started { kind, label, .. } => {
                let line = self.multi.add(ProgressBar::new_spinner());
                line.set_style(
                    ProgressStyle::with_template("  {spinner} {elapsed:>4} {msg}").expect("a valid template"),
                );
                line.set_message(label.to_string());
                line.enable_steady_tick(Duration::from_secs(1));
                lines.push((kind, label.to_string(), line, Instant::now()));
                if self.plain {
                    say(format!("{} start {label}", self.counts()));
                }
            }
            Event::Finished { kind, label, ok, skipped } => {
                let mut took = Duration::ZERO;
                if let Some(k) = lines.iter().position(|(_, l, ..)| l == label) {
                    let (_, _, line, start) = lines.remove(k);
                    took = start.elapsed();
                    line.finish_and_clear();
                    self.multi.remove(&line);
                }
                self.total.inc(1 + skipped as u64);
                let mut pace = self.pace.lock().unwrap_or_else(|p| p.into_inner());
                pace.finished(kind, took);
                if self.plain {
                    let what = if ok { "done " } else { "FAILED" };
                    let elapsed = self.start.elapsed();
                    let eta = pace.eta(elapsed, &running(&lines)).map(|e| format!(", ETA {}", e.text()));
                    let eta = eta.unwrap_or_default();
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
        let eta = self.pace.lock().unwrap_or_else(|p| p.into_inner()).eta(self.start.elapsed(), &running(&lines));
        let eta = eta.map(|e| format!(", ETA {} as of the last finish", e.text())).unwrap_or_default();
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

/// Time spent per stage kind and stages left of each.
#[derive(Debug, Default)]
struct Pace {
    left: BTreeMap<&'static str, usize>,
    spent: BTreeMap<&'static str, (Duration, usize)>,
    /// Mean seconds per kind in earlier runs.
    before: BTreeMap<&'static str, f64>,
}

/// Time left, and stages of kinds never timed (not in it).
#[derive(Debug, PartialEq)]
struct Eta {
    left: Duration,
    untimed: usize,
}

impl Eta {
    fn text(&self) -> String {
        match (self.untimed, self.left.is_zero()) {
            (0, _) => clock(self.left),
            (n, true) => format!("not known until more kinds have run ({n} stage(s) of kinds not timed yet)"),
            (n, false) => format!("{} + {n} stage(s) of kinds not timed yet", clock(self.left)),
        }
    }
}

impl Pace {
    fn new(
        kinds: impl IntoIterator<Item = &'static str>,
        before: impl IntoIterator<Item = (&'static str, f64)>,
    ) -> Pace {
        let mut pace = Pace::default();
        for k in kinds {
            *pace.left.entry(k).or_default() += 1;
        }
        let mut sums: BTreeMap<&'static str, (f64, usize)> = BTreeMap::new();
        for (k, s) in before {
            let e = sums.entry(k).or_default();
            *e = (e.0 + s, e.1 + 1);
        }
        pace.before = sums.into_iter().map(|(k, (s, n))| (k, s / n as f64)).collect();
        pace
    }

    fn finished(&mut self, kind: &'static str, took: Duration) {
        if let Some(n) = self.left.get_mut(kind) {
            *n = n.saturating_sub(1);
        }
        let e = self.spent.entry(kind).or_default();
        *e = (e.0 + took, e.1 + 1);
    }

    /// Time left: `elapsed` scaled by the estimated work left over the work done (so it holds
    /// for any number of jobs), each stage costing the mean of its kind in this run, else in
    /// earlier runs. The `running` stages (kind, time so far) count as done for the time they
    /// have run and as left for the rest of their kind's mean. None before the first finish and
    /// after the last.
    fn eta(&self, elapsed: Duration, running: &[(&'static str, Duration)]) -> Option<Eta> {
        let finished: f64 = self.spent.values().map(|(t, _)| t.as_secs_f64()).sum();
        let done = finished + running.iter().map(|(_, d)| d.as_secs_f64()).sum::<f64>();
        if self.spent.is_empty() || finished <= 0.0 || self.left.values().all(|&n| n == 0) {
            return None;
        }
        let mean = |k: &str| match self.spent.get(k) {
            Some((t, n)) => Some(t.as_secs_f64() / *n as f64),
            None => self.before.get(k).copied(),
        };
        let (mut left, mut untimed) = (0.0, 0);
        for (k, &n) in &self.left {
            match mean(k) {
                Some(m) => left += n as f64 * m,
                None => untimed += n,
            }
        }
        for (k, d) in running {
            if let Some(m) = mean(k) {
                left -= m.min(d.as_secs_f64());
            }
        }
        Some(Eta { left: elapsed.mul_f64(left.max(0.0) / done), untimed })
    }
}

/// A line to stderr. A log that went away (a closed pipe, a full disk) must not stop the stages.
fn say(line: String) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The running stages' kinds and times so far.
fn running(lines: &[(&'static str, String, ProgressBar, Instant)]) -> Vec<(&'static str, Duration)> {
    lines.iter().map(|(kind, _, _, start)| (*kind, start.elapsed())).collect()
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
    use super::{clock, Eta, Pace};
    use std::time::Duration;

    #[test]
    fn clock_reads_like_a_person_would_write_it() {
        let c = |s| clock(Duration::from_secs(s));
        assert_eq!((c(9).as_str(), c(75).as_str(), c(3725).as_str()), ("9s", "1m 15s", "1h 02m"));
    }

    #[test]
    fn eta_weighs_what_is_left_by_the_time_of_its_kind() {
        let kinds = ["train", "train", "probe", "probe"];
        let mut pace = Pace::new(kinds, []);
        assert_eq!(pace.eta(Duration::ZERO, &[]), None);
        let eta = |left, untimed| Some(Eta { left: Duration::from_secs(left), untimed });
        // One training of 100 s is done, on one job: one training is left, and two probes nothing
        // has timed yet (a guess from the training would say 200 s for them).
        pace.finished("train", Duration::from_secs(100));
        assert_eq!(pace.eta(Duration::from_secs(100), &[]), eta(100, 2));
        let text = pace.eta(Duration::from_secs(100), &[]).unwrap().text();
        assert_eq!(text, "1m 40s + 2 stage(s) of kinds not timed yet");
        // With a probe of 2 s done, the rest is 102 s of work, as much as was done.
        pace.finished("probe", Duration::from_secs(2));
        assert_eq!(pace.eta(Duration::from_secs(102), &[]), eta(102, 0));
        // On two jobs the same work took half the wall time, and so will the rest.
        assert_eq!(pace.eta(Duration::from_secs(51), &[]), eta(51, 0));
        // A count of stages (one of four left) would say a third of the elapsed time.
        pace.finished("train", Duration::from_secs(100));
        assert_eq!(pace.eta(Duration::from_secs(202), &[]), eta(2, 0));
        pace.finished("probe", Duration::from_secs(2));
        assert_eq!(pace.eta(Duration::from_secs(204), &[]), None);
    }

    #[test]
    fn kinds_not_timed_in_this_run_take_their_time_from_earlier_runs() {
        let pace = |before| {
            let mut p = Pace::new(["train", "probe"], before);
            p.finished("train", Duration::from_secs(100));
            p.eta(Duration::from_secs(100), &[])
        };
        let secs = |s| Some(Eta { left: Duration::from_secs(s), untimed: 0 });
        assert_eq!(pace(vec![("probe", 3.0), ("probe", 5.0)]), secs(4));
        // This run's own times win over earlier ones.
        assert_eq!(pace(vec![("train", 900.0), ("probe", 4.0)]), secs(4));
    }

    #[test]
    fn running_stages_count_as_done_for_the_time_they_have_run() {
        // Two jobs: a 100 s training finished while another ran alongside it; one more waits.
        let mut pace = Pace::new(["train", "train", "train"], []);
        pace.finished("train", Duration::from_secs(100));
        let at = |ran| pace.eta(Duration::from_secs(100), &[("train", Duration::from_secs(ran))]);
        // 200 s of work done in 100 s; 100 s left for the waiting one and 0 for the running one.
        assert_eq!(at(100), Some(Eta { left: Duration::from_secs(50), untimed: 0 }));
        // A stage running longer than its kind's mean is not counted as negative work.
        assert_eq!(at(150), Some(Eta { left: Duration::from_secs(40), untimed: 0 }));
    }

    #[test]
    fn an_eta_with_only_untimed_stages_left_says_it_is_not_known() {
        let mut pace = Pace::new(["data", "train"], []);
        pace.finished("data", Duration::from_millis(300));
        let text = pace.eta(Duration::from_millis(300), &[]).unwrap().text();
        assert_eq!(text, "not known until more kinds have run (1 stage(s) of kinds not timed yet)");
    }
}
