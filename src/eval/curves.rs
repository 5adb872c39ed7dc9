//! Linear separability over training (Fig. 4c,d): the probe of every checkpoint of a run, and the
//! per-run CSV tables that the accuracy-vs-epoch figure averages over seeds.
use super::error::EvalError;
use super::probe::{linear_probe, ProbeConfig, ProbeEpoch};
use crate::data::Images;
use crate::files::At;
use std::path::{Path, PathBuf};

/// The run's epoch-NNNN.safetensors files (0 = untrained), in epoch order.
pub fn run_checkpoints(dir: &Path) -> Result<Vec<(usize, PathBuf)>, EvalError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let path = entry.at(dir)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(epoch) =
            name.strip_prefix("epoch-").and_then(|r| r.strip_suffix(".safetensors")).and_then(|n| n.parse().ok())
        {
            out.push((epoch, path));
        }
    }
    out.sort();
    Ok(out)
}

/// The final probe epoch for every `every`-th checkpoint of the run in `dir`.
pub fn probe_run(
    dir: &Path,
    every: usize,
    train: (Images, &[u8]),
    test: (Images, &[u8]),
    classes: usize,
    cfg: &ProbeConfig,
) -> Result<Vec<(usize, ProbeEpoch)>, EvalError> {
    let mut rows = Vec::new();
    for (epoch, path) in run_checkpoints(dir)?.into_iter().filter(|(e, _)| e % every.max(1) == 0) {
        let enc = crate::model::checkpoint::read_file(&path)?.encoder(&path)?;
        let (ftr, fte) = (super::encode(&enc, train.0, None), super::encode(&enc, test.0, None));
        let (_, hist) = linear_probe(ftr.view(), train.1, fte.view(), test.1, classes, cfg);
        if let Some(last) = hist.last() {
            rows.push((epoch, *last));
        }
    }
    Ok(rows)
}

pub const CURVE_HEADER: &str = "epoch,train_loss,train_acc,test_loss,test_acc,test_acc_ref";

pub fn curve_csv(rows: &[(usize, ProbeEpoch)]) -> String {
    let mut s = format!("{CURVE_HEADER}\n");
    for (e, h) in rows {
        s.push_str(&format!(
            "{e},{:.4},{:.2},{:.4},{:.2},{:.2}\n",
            h.train_loss, h.train_acc, h.test_loss, h.test_acc, h.test_acc_ref
        ));
    }
    s
}

/// (epoch, test_acc) from a table written by `curve_csv`.
pub fn read_curve(path: &Path) -> Result<Vec<(f64, f64)>, EvalError> {
    let text = std::fs::read_to_string(path).at(path)?;
    let bad = |msg: String| EvalError::Parse { path: path.to_path_buf(), msg };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |n: &str| header.iter().position(|h| h.trim() == n).ok_or_else(|| bad(format!("no column {n}")));
    let (e, a) = (col("epoch")?, col("test_acc")?);
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Vec<&str> = l.split(',').collect();
            let num = |i: usize| {
                v.get(i).and_then(|x| x.trim().parse::<f64>().ok()).ok_or_else(|| bad(format!("bad row {l:?}")))
            };
            Ok((num(e)?, num(a)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_are_found_in_epoch_order_and_curves_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "epoch-0010.safetensors",
            "epoch-0002.safetensors",
            "state.safetensors",
            "losses.csv",
            "epoch-x.safetensors",
        ] {
            std::fs::write(dir.path().join(f), b"").unwrap();
        }
        let found: Vec<usize> = run_checkpoints(dir.path()).unwrap().into_iter().map(|c| c.0).collect();
        assert_eq!(found, vec![2, 10]);
        let h = ProbeEpoch {
            epoch: 20,
            train_loss: 1.0,
            train_acc: 50.0,
            test_loss: 1.1,
            test_acc: 45.5,
            test_acc_ref: 45.4,
        };
        let path = dir.path().join("curve.csv");
        std::fs::write(&path, curve_csv(&[(2, h), (10, h)])).unwrap();
        assert_eq!(read_curve(&path).unwrap(), vec![(2.0, 45.5), (10.0, 45.5)]);
        assert!(read_curve(&dir.path().join("losses.csv")).is_err());
        assert!(run_checkpoints(&dir.path().join("missing")).unwrap_err().to_string().contains("missing"));
    }
}
