//! host-trainer: train, evaluate and report Fashion-MNIST classifiers with burn.
//!
//! Data flows one way: IDX files ([`data`]) → burn models ([`model`], [`training`]) →
//! test-set evaluation ([`evaluation`]) → reports and pictures ([`report`], [`plots`]).

pub mod arg_values;
pub mod backend;
pub mod cli;
pub mod committee;
pub mod config;
pub mod data;
pub mod evaluation;
pub mod export;
pub mod gan;
pub mod grid;
pub mod job;
pub mod metrics;
pub mod model;
pub mod nadam;
pub mod optimizer;
pub mod plots;
pub mod predict;
pub mod publish;
pub mod quantize;
pub mod report;
pub mod rng;
pub mod run_dir;
pub mod study;
pub mod training;
