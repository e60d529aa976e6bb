//! The `virga` command line: a thin layer over the library.

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use virga::output::Target;
use virga::replay::{self, ReplayOptions};

/// Passive sensor for command-and-control traffic behind serverless platforms.
#[derive(Parser)]
#[command(name = "virga", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay pcap/pcapng files (or directories of them) and write EVE JSON.
    Replay {
        /// Configuration file (TOML).
        #[arg(short = 'c', long = "config", value_name = "FILE")]
        config: Option<String>,
        /// EVE output file; `-` is standard output. Default: the config's
        /// `output.eve_path` (`eve.json`).
        #[arg(short = 'o', long = "output", value_name = "FILE|-")]
        output: Option<String>,
        /// Log tls, quic, dns, http and flow events for all traffic, not only
        /// serverless names.
        #[arg(long = "log-all")]
        log_all: bool,
        /// Capture files or directories, replayed in order as one capture.
        #[arg(required = true, value_name = "PCAP")]
        inputs: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    match cli.command {
        Command::Replay {
            config,
            output,
            log_all,
            inputs,
        } => {
            let config = match config {
                Some(path) => match virga_config::load(&path) {
                    Ok(c) => c,
                    Err(errs) => {
                        eprint!("{errs}");
                        return ExitCode::from(2);
                    }
                },
                None => virga_config::Config::default(),
            };
            let output = match output {
                Some(o) => Target::parse(&o),
                None => match &config.output.eve {
                    virga_config::EveTarget::Stdout => Target::Stdout,
                    virga_config::EveTarget::File(p) => {
                        Target::File(p.to_string_lossy().into_owned())
                    }
                },
            };
            let opts = ReplayOptions {
                inputs,
                output,
                log_all,
                config,
                workers: None,
            };
            match replay::run(&opts) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("virga: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
