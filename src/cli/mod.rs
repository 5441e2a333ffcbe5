//! The command line: parse → resolve → dispatch. Errors surface as `anyhow` chains.

mod args;
mod bar;
mod bench;
mod bench_generate;
mod bench_cache;
mod bench_train;
mod cvbench;
mod encode;
mod encoders;
mod eval;
mod init_llm;
mod llm;
mod plot;
mod sweep;
mod synth;
mod train;

pub use args::Cli;
use args::{BenchCommand, Command};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Encoders(args) => encoders::run(&args),
        Command::Encode(args) => {
            let device = crate::device::open(cli.device)?;
            encode::run(&args, &device, cli.quiet > 0)
        }
        Command::Bench(BenchCommand::Encoders(args)) => {
            crate::device::open(cli.device)?;
            bench::run_encoders(&args, cli.device.name())
        }
        Command::Bench(BenchCommand::Generate(args)) => {
            let device = crate::device::open(cli.device)?;
            bench_generate::run(&args, &device, cli.device.name())
        }
        Command::Bench(BenchCommand::EncoderOnce(args)) => {
            let device = crate::device::open(cli.device)?;
            bench::run_once(&args, &device)
        }
        Command::Bench(BenchCommand::FeatureCache(args)) => bench_cache::run(&args, &crate::device::open(cli.device)?),
        Command::Bench(BenchCommand::Train(args)) => bench_train::run(&args, &crate::device::open(cli.device)?, cli.device.name()),
        Command::Bench(BenchCommand::TrainOnce(args)) => bench_train::run_once(&args, &crate::device::open(cli.device)?),
        Command::Llm(args) => {
            let device = crate::device::open(cli.device)?;
            llm::run(&args, &device)
        }
        Command::Cvbench(args::CvbenchCommand::Build(args)) => cvbench::build(&args),
        Command::Synth(args) => synth::run(&args),
        Command::InitLlm(args) => init_llm::run(&args, &crate::device::open(cli.device)?),
        Command::Train(args) => train::run(&args, &crate::device::open(cli.device)?, cli.quiet > 0),
        Command::Eval(args) => eval::run(&args, &crate::device::open(cli.device)?, cli.quiet > 0),
        Command::Plot(args) => plot::run(&args),
        Command::Sweep(args) => sweep::run(&args, cli.device, cli.quiet > 0),
    }
}

/// Logs go to stderr: warnings by default, `-v` info, `-vv` debug, `-q` errors only;
/// `RUST_LOG` overrides.
pub fn init_logging(verbose: u8, quiet: u8) {
    let level = match (quiet, verbose) {
        (q, _) if q > 0 => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        (_, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("cambrian={level},warn")));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}
