//! Reporting: tidy tables and summaries (mean ± SEM), and figures viewable without Python (a small
//! SVG plotter and the paper's figures built on it). Knows nothing of how results were made.
pub mod claims;
pub mod error;
pub mod figures;
pub mod grids;
pub mod stats;
pub mod svg;
pub mod tables;

pub use error::ReportError;
