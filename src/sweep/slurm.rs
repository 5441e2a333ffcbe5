//! `--emit-slurm`: an sbatch script that runs the sweep as a job array, one task per shard,
//! all writing into the same results folder (the per-run locks keep them apart).

use std::path::Path;

/// The script for `shards` tasks running `sweep` into `results` with `binary`.
pub fn script(binary: &Path, sweep: &Path, results: &Path, shards: usize, device: &str) -> String {
    format!(
        "#!/bin/bash\n\
         #SBATCH --job-name=cambrian-sweep\n\
         #SBATCH --array=0-{last}\n\
         #SBATCH --output=cambrian-sweep-%A_%a.log\n\
         # Adjust the resources to the sweep (GPUs, memory, time) before submitting.\n\
         set -euo pipefail\n\
         exec {binary} --device {device} sweep {sweep} --results {results} --shard \"${{SLURM_ARRAY_TASK_ID}}/{shards}\"\n",
        last = shards.saturating_sub(1),
        binary = quote(binary),
        sweep = quote(sweep),
        results = quote(results),
    )
}

fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}
