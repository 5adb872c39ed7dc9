//! Figures, viewable without Python: a small SVG plotter and the paper's figures built on it.
pub mod figures;
pub mod svg;
