//! Observation: what the director reports about itself (listings, rates, metrics).

pub mod estimator;
