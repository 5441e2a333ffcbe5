use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cambrian::cli::Cli::parse();
    cambrian::cli::init_logging(cli.verbose, cli.quiet);
    match cambrian::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", cambrian::cli::error_message(&err));
            ExitCode::FAILURE
        }
    }
}
