//! The `host-trainer` command line: its arguments (`args.rs`, clap) and what each command runs
//! (`commands.rs`). With no arguments it runs the default job. `main.rs` only calls [`run`] and
//! prints its error.

mod args;
mod commands;

pub use args::Cli;
pub use commands::run;
