//! Reporting: tidy tables and summaries (mean ± SEM). Knows nothing of how results were made.
pub mod tables;
