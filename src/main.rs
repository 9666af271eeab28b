//! The `portcullis` binary: parse the command line, load the configuration,
//! start logging, dispatch.

use std::process::ExitCode;

use clap::Parser as _;
use portcullis::cli::{self, Cli, Command};
use portcullis::config::LogFormat;

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
    let serving = matches!(cli.command, Command::Serve);
    let filter = if serving {
        config.log_filter.clone()
    } else {
        format!("warn,{}", config.log_filter.replace("info", "warn"))
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json if serving => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        _ => builder.compact().init(),
    }
    match cli::run(cli, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portcullis: {e:#}");
            ExitCode::FAILURE
        }
    }
}
