//! The command line: parse → resolve → dispatch. Errors surface as `anyhow` chains.

mod args;
mod bar;
mod benchmarks;
mod cvbench;
mod encode;
mod encoders;
mod eval;
mod init_llm;
mod llm;
mod plan;
mod plot;
mod pretrain;
mod score;
mod sweep;
mod synth;
mod train;

pub use args::Cli;
use args::{BenchCommand, Command};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let inference = || crate::device::open_in(cli.device, cli.dtype);
    let f32_only = |command| crate::device::open_f32(cli.device, cli.dtype, command);
    let device_name = cli.device.name();
    match cli.command {
        Command::Encoders(args) => encoders::run(&args),
        Command::Benchmarks(args) => benchmarks::run(&args),
        Command::Score(args) => score::run(&args),
        Command::Encode(args) => encode::run(&args, &inference()?, cli.quiet > 0),
        Command::Bench(BenchCommand::Encoders(args)) => {
            inference()?;
            crate::bench::encoders::run(&args, device_name, cli.dtype)
        }
        Command::Bench(BenchCommand::Generate(args)) => crate::bench::generate::run(&args, &inference()?, device_name, cli.dtype),
        Command::Bench(BenchCommand::Eval(args)) => crate::bench::eval::run(&args, &f32_only("bench eval")?, device_name),
        Command::Bench(BenchCommand::EncoderOnce(args)) => crate::bench::encoders::run_once(&args, &inference()?),
        Command::Bench(BenchCommand::FeatureCache(args)) => {
            crate::bench::feature_cache::run(&args, &f32_only("bench feature-cache")?)
        }
        Command::Bench(BenchCommand::Train(args)) => crate::bench::train::run(&args, &f32_only("bench train")?, device_name),
        Command::Bench(BenchCommand::TrainOnce(args)) => {
            crate::device::require_f32(cli.dtype, "bench train-once")?;
            crate::bench::train::run_once(&args, cli.device)
        }
        Command::Llm(args) => llm::run(&args, &inference()?),
        Command::Cvbench(args::CvbenchCommand::Build(args)) => cvbench::build(&args),
        Command::Synth(args) => synth::run(&args),
        Command::InitLlm(args) => init_llm::run(&args, &f32_only("init-llm")?),
        Command::Train(args) => train::run(&args, cli.device, cli.dtype, cli.quiet > 0),
        Command::Pretrain(args) => pretrain::run(&args, &f32_only("pretrain")?, cli.quiet > 0),
        Command::Eval(args) => eval::run(&args, &f32_only("eval")?, cli.quiet > 0),
        Command::Plot(args) => plot::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Sweep(args) => {
            crate::device::require_f32(cli.dtype, "sweep")?;
            sweep::run(&args, cli.device, cli.quiet > 0)
        }
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

/// An error with its causes, as `main` prints it: each cause after a colon, except one the
/// message before already says (many messages name their cause, which is also their source).
pub fn error_message(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: {source}")]
    struct Named {
        path: String,
        source: std::io::Error,
    }

    #[test]
    fn each_cause_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let err = anyhow::Error::new(Named { path: "/x.jsonl".into(), source: io }).context("reading the answers");
        assert_eq!(error_message(&err), "reading the answers: /x.jsonl: No such file or directory");
        let plain = anyhow::anyhow!("disk full").context("writing results.csv");
        assert_eq!(error_message(&plain), "writing results.csv: disk full");
    }
}
