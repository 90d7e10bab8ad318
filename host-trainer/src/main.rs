//! `host-trainer`: the command line (see `host_trainer::cli`). Errors are printed as one
//! message with its causes, never as a backtrace.

use std::process::ExitCode;

fn main() -> ExitCode {
    match host_trainer::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
