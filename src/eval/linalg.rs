//! Dense symmetric linear algebra in f64, on nalgebra: the eigendecompositions of PCA and FID and
//! the Cholesky solve of the ridge read-out. One solver of each kind for the whole layer.
use super::error::EvalError;
use nalgebra::{DMatrix, Dyn, SymmetricEigen};

/// Eigendecomposition of a symmetric matrix (symmetrised first, so rounding cannot break it).
/// `what` names the matrix in the error.
pub fn symmetric_eigen(m: DMatrix<f64>, what: &str) -> Result<SymmetricEigen<f64, Dyn>, EvalError> {
    let n = m.nrows();
    let sym = (&m + m.transpose()) * 0.5;
    sym.try_symmetric_eigen(f64::EPSILON, 1000 * n.max(10))
        .ok_or_else(|| EvalError::Linalg(format!("the eigendecomposition of {what} did not converge")))
}

/// Eigenvalues of a symmetric matrix, largest first, with their unit eigenvectors. The solver
/// leaves order and sign open; fixing both (each vector signed so that its largest-magnitude entry
/// is positive) makes projections comparable between runs and networks.
pub fn principal_axes(m: DMatrix<f64>, what: &str) -> Result<(Vec<f64>, Vec<Vec<f64>>), EvalError> {
    let e = symmetric_eigen(m, what)?;
    let mut order: Vec<usize> = (0..e.eigenvalues.len()).collect();
    // Stable: equal eigenvalues keep the solver's order.
    order.sort_by(|&a, &b| e.eigenvalues[b].total_cmp(&e.eigenvalues[a]));
    let values = order.iter().map(|&c| e.eigenvalues[c]).collect();
    let vectors = order.iter().map(|&c| canonical_sign(e.eigenvectors.column(c).iter().copied().collect())).collect();
    Ok((values, vectors))
}

/// `v` or `-v`, whichever has its largest-magnitude entry (the first of equal ones) positive.
fn canonical_sign(mut v: Vec<f64>) -> Vec<f64> {
    let big = v.iter().copied().fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
    if big < 0.0 {
        v.iter_mut().for_each(|x| *x = -*x);
    }
    v
}

/// X with A X = B, for a symmetric positive definite A (Cholesky). `what` names A in the error.
pub fn cholesky_solve(a: DMatrix<f64>, b: &DMatrix<f64>, what: &str) -> Result<DMatrix<f64>, EvalError> {
    let chol = nalgebra::Cholesky::new(a)
        .ok_or_else(|| EvalError::Linalg(format!("{what} is not positive definite (Cholesky failed)")))?;
    Ok(chol.solve(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigenpairs_of_a_known_matrix_come_sorted_and_signed() {
        // [[2,1],[1,2]]: eigenvalues 3 and 1, axes (1,1)/sqrt2 and (1,-1)/sqrt2 (first entry
        // positive: the two entries tie in magnitude, the first counts).
        let (vals, vecs) = principal_axes(DMatrix::from_row_slice(2, 2, &[2.0, 1.0, 1.0, 2.0]), "m").unwrap();
        let h = 0.5f64.sqrt();
        assert!((vals[0] - 3.0).abs() < 1e-12 && (vals[1] - 1.0).abs() < 1e-12, "{vals:?}");
        for (v, want) in vecs.iter().zip([[h, h], [h, -h]]) {
            assert!(v.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12), "{v:?} vs {want:?}");
        }
        // A diagonal matrix: the axes are the unit vectors, by decreasing value, signs positive.
        let (vals, vecs) =
            principal_axes(DMatrix::from_row_slice(3, 3, &[1.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 2.0]), "d").unwrap();
        assert_eq!(vals, vec![5.0, 2.0, 1.0]);
        assert_eq!(vecs, vec![vec![0.0, 1.0, 0.0], vec![0.0, 0.0, 1.0], vec![1.0, 0.0, 0.0]]);
    }

    #[test]
    fn cholesky_solves_and_refuses_indefinite_matrices() {
        let a = DMatrix::from_row_slice(2, 2, &[4.0, 2.0, 2.0, 3.0]);
        let x = cholesky_solve(a.clone(), &DMatrix::from_row_slice(2, 1, &[8.0, 7.0]), "a").unwrap();
        // 4x + 2y = 8, 2x + 3y = 7: x = 1.25, y = 1.5.
        assert!((x[(0, 0)] - 1.25).abs() < 1e-12 && (x[(1, 0)] - 1.5).abs() < 1e-12, "{x}");
        let e = cholesky_solve(DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 2.0, 1.0]), &x, "the normal matrix");
        assert!(e.unwrap_err().to_string().contains("the normal matrix is not positive definite"));
    }
}
