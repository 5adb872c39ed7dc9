//! One progress display for many stages at once: a line per running stage (with its elapsed
//! time) under a line of totals with an ETA. Hidden when not asked for.
use super::jobs::Event;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Mutex;
use std::time::Duration;

pub struct Display {
    multi: MultiProgress,
    total: ProgressBar,
    lines: Mutex<Vec<(String, ProgressBar)>>,
}

impl Display {
    pub fn new(show: bool, total: usize) -> Display {
        let target = if show { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let multi = MultiProgress::with_draw_target(target);
        let bar = multi.add(ProgressBar::new(total as u64));
        let style = "stages {pos}/{len} [{bar:30}] {elapsed_precise}, ETA {eta}  {msg}";
        bar.set_style(ProgressStyle::with_template(style).expect("a valid template").progress_chars("=> "));
        bar.enable_steady_tick(Duration::from_secs(1));
        Display { multi, total: bar, lines: Mutex::new(Vec::new()) }
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
                lines.push((label.to_string(), line));
            }
            Event::Finished { label, ok, skipped } => {
                if let Some(k) = lines.iter().position(|(l, _)| l == label) {
                    let (_, line) = lines.remove(k);
                    line.finish_and_clear();
                    self.multi.remove(&line);
                }
                self.total.inc(1 + skipped as u64);
                if !ok {
                    let _ = self.multi.println(format!("failed: {label} (its {skipped} dependant(s) skipped)"));
                }
            }
        }
        self.total.set_message(format!("{} running", lines.len()));
    }

    pub fn finish(&self) {
        self.total.finish_and_clear();
    }
}
