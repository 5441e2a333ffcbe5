//! `cambrian plot`: figures and a report from a sweep's results; notes go to stderr.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::args::PlotArgs;

pub fn run(args: &PlotArgs) -> anyhow::Result<()> {
    let sweep = args.sweep.as_path();
    let out = args.out.clone().unwrap_or_else(|| default_out(sweep));
    let outcome = crate::plot::plot(sweep, &out).with_context(|| format!("plotting {}", sweep.display()))?;
    for note in &outcome.notes {
        eprintln!("note: {note}");
    }
    for figure in &outcome.figures {
        println!("{}", figure.png.display());
    }
    println!("{}", outcome.report.display());
    Ok(())
}

/// `plots/<sweep>`, after the sweep folder's own name.
fn default_out(sweep: &Path) -> PathBuf {
    let name = sweep.canonicalize().ok().and_then(|p| p.file_name().map(|n| n.to_os_string()));
    Path::new("plots").join(name.unwrap_or_else(|| "sweep".into()))
}
