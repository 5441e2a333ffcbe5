//! `cambrian sweep`: a study's matrix (see `crate::sweep`), its dry run, its Slurm script,
//! and a summary table of results.csv at the end. Runs left unfinished because another
//! process holds them make the command fail, naming them, after results.csv and the figures.

use anyhow::Context;

use super::args::SweepArgs;
use super::bar::Bar;
use crate::device::DeviceArg;
use crate::sweep::{Sweep, slurm};

pub fn run(args: &SweepArgs, device: DeviceArg, quiet: bool) -> anyhow::Result<()> {
    let sweep = Sweep::load(&args.spec, &args.results)?;
    if args.dry_run {
        println!("{} runs of sweep `{}` into {}", sweep.cells.len(), sweep.spec.name(), sweep.dir.display());
        for (i, cell) in sweep.cells.iter().enumerate() {
            let status = if sweep.trained(cell) { "done" } else { "to run" };
            // The planned peak; the LLM folder a sweep prepares exists only once it ran.
            let memory = match crate::train::plan::plan(&cell.config, &burn::tensor::Device::flex()) {
                Ok(plan) => plan.summary(),
                Err(err) => format!("no memory plan: {err}"),
            };
            println!("{i:>4}  {:<48} {status:<7} {memory}", cell.id);
        }
        return Ok(());
    }
    if let Some(path) = &args.emit_slurm {
        let binary = std::env::current_exe().context("locating the cambrian binary")?;
        // Absolute, so that the array's tasks find them from whatever folder they start in.
        let absolute = |p: &std::path::Path| std::path::absolute(p).with_context(|| format!("resolving {}", p.display()));
        let (spec, results) = (absolute(&args.spec)?, absolute(&args.results)?);
        let text = slurm::script(&binary, &spec, &results, args.shards as usize, device.name());
        crate::atomic::refuse_special(path)
            .and_then(|()| crate::atomic::write(path, text.as_bytes()))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {} ({} array tasks); submit with `sbatch {}`", path.display(), args.shards, path.display());
        return Ok(());
    }
    let device = crate::device::open(device)?;
    let bars = Bar::stacked(quiet, 2);
    let outcome = sweep.run(args.shard, &device, &bars[0], &bars[1])?;
    let rows = &outcome.table.rows;
    println!(
        "sweep `{}`: {} runs finished now, {} already done, {} busy in another process; {}",
        sweep.spec.name(),
        outcome.finished.len(),
        outcome.skipped_done.len(),
        outcome.busy.len(),
        sweep.dir.join("results.csv").display()
    );
    for note in &outcome.table.left_out {
        println!("left out of results.csv: {note}");
    }
    println!(
        "{:<40} {:<11} {:<14} {:>10} {:>10} {:>10} {:>7}",
        "encoder", "connector", "benchmark", "generation", "likelihood", "no image", "chance"
    );
    let optional = |value: Option<f64>| value.map_or("-".to_string(), |v| format!("{v:.3}"));
    for row in rows {
        // Without the image: the likelihood where the benchmark has it, else the generation.
        let blind = row.likelihood_blind.or(row.generation_blind);
        println!(
            "{:<40} {:<11} {:<14} {:>10.3} {:>10} {:>10} {:>7}",
            row.encoder,
            row.connector,
            row.benchmark,
            row.generation,
            optional(row.likelihood),
            optional(blind),
            optional(row.chance)
        );
    }
    let pending = sweep.cells.iter().filter(|c| !rows.iter().any(|r| r.run == c.id)).count();
    if !args.no_plots && !rows.is_empty() {
        let out = args.plots.clone().unwrap_or_else(|| std::path::Path::new("plots").join(sweep.spec.name()));
        let plotted = crate::plot::plot(&sweep.dir, &out).with_context(|| format!("plotting into {}", out.display()))?;
        let partial = if pending > 0 { format!(" ({pending} runs not finished yet)") } else { String::new() };
        println!("{} figures and {}{partial}", plotted.figures.len(), plotted.report.display());
    }
    if !outcome.busy.is_empty() {
        anyhow::bail!(
            "{} runs not finished: another process holds them ({}); run the sweep again when it is done",
            outcome.busy.len(),
            outcome.busy.join(", ")
        );
    }
    Ok(())
}
