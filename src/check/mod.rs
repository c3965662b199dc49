//! `dynq check`: runs a PyTorch reference case and compares every variant with PyTorch.

mod reference;

pub use reference::{CheckReport, ReferenceCase, Tolerance, VariantCheck, VariantExpectation};
