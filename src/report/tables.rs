//! Tidy tables: one row per observation, a fixed column order and fixed float formats, so that
//! `git diff` of results/ across commits shows only real changes. Summaries as mean ± SEM.

/// Mean and standard error of the mean (sample std with n - 1, as scipy.stats.sem), the one used
/// by tables and figures. The SEM of fewer than two values is undefined: NaN, which tables print
/// as the mean alone (`pm`) or NA (`Cell::Float`) and figures draw with zero width.
pub fn mean_sem(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, f64::NAN);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

/// A CSV table built row by row with fixed formatting.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// One cell: text, integer, or a float with a fixed number of decimals.
pub enum Cell {
    Text(String),
    Int(i64),
    Float(f64, usize),
}

impl Table {
    pub fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|s| s.to_string()).collect(), rows: Vec::new() }
    }

    pub fn push(&mut self, cells: Vec<Cell>) {
        assert_eq!(cells.len(), self.header.len(), "row width");
        self.rows.push(
            cells
                .into_iter()
                .map(|c| match c {
                    Cell::Text(s) => s,
                    Cell::Int(i) => i.to_string(),
                    Cell::Float(x, _) if x.is_nan() => "NA".to_string(),
                    Cell::Float(x, d) => format!("{x:.d$}"),
                })
                .collect(),
        );
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn to_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&self.header).expect("in-memory write");
        for r in &self.rows {
            w.write_record(r).expect("in-memory write");
        }
        String::from_utf8(w.into_inner().expect("flush")).expect("utf-8")
    }

    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "| {} |\n|{}|\n",
            self.header.join(" | "),
            self.header.iter().map(|_| "---").collect::<Vec<_>>().join("|")
        );
        for r in &self.rows {
            s.push_str(&format!("| {} |\n", r.join(" | ")));
        }
        s
    }
}

/// "mean ± sem" with `d` decimals ("mean" alone for one value).
pub fn pm(mean: f64, sem: f64, d: usize) -> String {
    if sem.is_nan() {
        format!("{mean:.d$}")
    } else {
        format!("{mean:.d$} ± {sem:.d$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sem_matches_the_textbook_value() {
        let (m, s) = mean_sem(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert!((s - (1.6666666666666667f64 / 4.0).sqrt()).abs() < 1e-15);
        assert!(mean_sem(&[3.0]).1.is_nan());
    }

    #[test]
    fn tables_have_fixed_formats() {
        let mut t = Table::new(&["a", "b", "c"]);
        t.push(vec![Cell::Text("x,y".into()), Cell::Int(3), Cell::Float(1.0 / 3.0, 4)]);
        t.push(vec![Cell::Text("z".into()), Cell::Int(-1), Cell::Float(f64::NAN, 4)]);
        assert_eq!(t.to_csv(), "a,b,c\n\"x,y\",3,0.3333\nz,-1,NA\n");
        assert!(t.to_markdown().contains("| z | -1 | NA |"));
        assert_eq!(pm(1.0, 0.25, 2), "1.00 ± 0.25");
    }
}
