//! The `portcullis` binary: parse the command line, load the configuration,
//! start logging, dispatch (the commands are in `portcullis::cli`).

use std::process::ExitCode;

use clap::Parser as _;
use portcullis::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli::load_config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("portcullis: {e}");
            return ExitCode::from(2);
        }
    };
    cli::init_logging(&cli, &config);
    match cli::run(cli, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portcullis: {e:#}");
            ExitCode::FAILURE
        }
    }
}
