//! A results table read for comparison: which columns identify a row (keys) and which carry
//! numbers (values), generically, so tables may gain or lose columns between commits.
//!
//! The rule: a column is a key if its name is one of the report's identifiers (`KEY_NAMES`) or if
//! none of its cells is a number (a text label); every other column is a value column, whose cells
//! must all be numbers or missing (empty, NA, NaN). A value column with a word in it is a malformed
//! table, not a new key, so a corrupted number is an error naming its line.
use super::error::DiffError;
use std::collections::BTreeMap;

/// Columns that identify a row whatever their cells look like (seeds, epochs and occlusion levels
/// are numbers, but they say which observation a row is).
pub const KEY_NAMES: &[&str] = &["dataset", "condition", "seed", "epoch", "p", "definition", "kind", "stage"];

/// One cell of a value column: as written, and as a number (None: missing).
#[derive(Debug, Clone, PartialEq)]
pub struct Num {
    pub text: String,
    pub value: Option<f64>,
}

impl Num {
    /// Digits after the decimal point as written (the precision the table was printed with).
    pub fn decimals(&self) -> usize {
        let t = self.text.trim();
        let mantissa = t.split(['e', 'E']).next().unwrap_or(t);
        mantissa.split_once('.').map(|(_, f)| f.len()).unwrap_or(0)
    }

    /// Whether two cells hold different numbers (two missing cells are the same).
    pub fn differs(&self, other: &Num) -> bool {
        self.value != other.value
    }
}

/// A row: its key (one text per key column) and its value cells (one per value column).
#[derive(Debug, Clone)]
pub struct Row {
    /// The line of the file it was read from (1 is the header).
    pub line: u64,
    pub key: Vec<String>,
    pub values: Vec<Num>,
}

/// A parsed table.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// Key column names, in file order.
    pub keys: Vec<String>,
    /// Value column names, in file order.
    pub values: Vec<String>,
    pub rows: Vec<Row>,
}

impl Parsed {
    /// Index of a value column.
    pub fn value_index(&self, name: &str) -> Option<usize> {
        self.values.iter().position(|v| v == name)
    }

    /// Row index by key.
    pub fn index(&self) -> BTreeMap<&[String], usize> {
        self.rows.iter().enumerate().map(|(i, r)| (r.key.as_slice(), i)).collect()
    }
}

/// A cell as a number: Some(None) if missing, None if it is not a number.
fn number(cell: &str) -> Option<Option<f64>> {
    let t = cell.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("na") {
        return Some(None);
    }
    t.parse::<f64>().ok().map(|x| (!x.is_nan()).then_some(x))
}

/// Reads a CSV table; `file` names it in errors ("HEAD~1:results/demo/occlusion.csv").
pub fn parse(bytes: &[u8], file: &str) -> Result<Parsed, DiffError> {
    let bad = |msg: String| DiffError::Malformed { file: file.into(), msg };
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes);
    let header: Vec<String> = reader.headers().map_err(|e| bad(e.to_string()))?.iter().map(String::from).collect();
    if header.iter().all(|h| h.trim().is_empty()) {
        return Err(bad("empty: no header row".into()));
    }
    for (i, h) in header.iter().enumerate() {
        if header[..i].contains(h) {
            return Err(bad(format!("column '{h}' appears twice in the header")));
        }
    }
    let mut records = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| bad(e.to_string()))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        records.push((line, rec));
    }
    let is_key: Vec<bool> = (0..header.len())
        .map(|c| {
            // A table without rows says nothing about its cells: only the names decide.
            let text = !records.is_empty() && records.iter().all(|(_, r)| number(&r[c]).is_none());
            KEY_NAMES.contains(&header[c].as_str()) || text
        })
        .collect();
    if !is_key.contains(&true) {
        return Err(bad(format!("no column to match rows by (one of {} or a text column)", KEY_NAMES.join(", "))));
    }
    let pick = |want: bool| (0..header.len()).filter(|&c| is_key[c] == want).collect::<Vec<_>>();
    let (key_cols, value_cols) = (pick(true), pick(false));
    let mut rows = Vec::with_capacity(records.len());
    let mut seen: BTreeMap<Vec<String>, u64> = BTreeMap::new();
    for (line, rec) in &records {
        let key: Vec<String> = key_cols.iter().map(|&c| rec[c].to_string()).collect();
        let mut values = Vec::with_capacity(value_cols.len());
        for &c in &value_cols {
            let value = number(&rec[c]).ok_or_else(|| {
                bad(format!(
                    "line {line}, column {}: '{}' is not a number (the column's other cells are)",
                    header[c], &rec[c]
                ))
            })?;
            values.push(Num { text: rec[c].to_string(), value });
        }
        if let Some(first) = seen.insert(key.clone(), *line) {
            let named: Vec<String> = key_cols.iter().zip(&key).map(|(&c, v)| format!("{}={v}", header[c])).collect();
            return Err(bad(format!("line {line} repeats the key of line {first} ({})", named.join(", "))));
        }
        rows.push(Row { line: *line, key, values });
    }
    let names = |cols: &[usize]| cols.iter().map(|&c| header[c].clone()).collect();
    Ok(Parsed { keys: names(&key_cols), values: names(&value_cols), rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_identifiers_and_text_columns_values_the_numbers() {
        let t = parse(b"dataset,condition,seed,epoch,note,test_acc,loss\nd,pad,0,4,x,54.70,NA\n", "t.csv").unwrap();
        assert_eq!(t.keys, ["dataset", "condition", "seed", "epoch", "note"]);
        assert_eq!(t.values, ["test_acc", "loss"]);
        assert_eq!(t.rows[0].values[0], Num { text: "54.70".into(), value: Some(54.7) });
        assert_eq!(t.rows[0].values[1].value, None);
        assert_eq!(t.rows[0].values[0].decimals(), 2);
    }

    #[test]
    fn a_word_in_a_number_column_a_ragged_row_and_a_repeated_key_are_errors_naming_the_line() {
        let e = parse(b"dataset,acc\nd,1.0\ne,abc\n", "t.csv").unwrap_err().to_string();
        assert!(e.contains("t.csv") && e.contains("line 3") && e.contains("acc") && e.contains("'abc'"), "{e}");
        let e = parse(b"dataset,acc\nd,1.0\ne,2.0,3\n", "t.csv").unwrap_err().to_string();
        assert!(e.contains("t.csv") && e.contains("line: 3"), "{e}");
        let e = parse(b"dataset,acc\nd,1.0\nd,2.0\n", "t.csv").unwrap_err().to_string();
        assert!(e.contains("line 3 repeats the key of line 2") && e.contains("dataset=d"), "{e}");
        let e = parse(b"a,b\n1,2\n", "t.csv").unwrap_err().to_string();
        assert!(e.contains("no column to match rows by"), "{e}");
        assert!(parse(b"", "t.csv").unwrap_err().to_string().contains("no header"));
    }
}
