//! Checkpoints published at a plain address (MoCo v3, I-JEPA on dl.fbaipublicfiles.com),
//! kept where `torch.hub.load_state_dict_from_url` keeps them: `$TORCH_HOME/hub/checkpoints`
//! (default `~/.cache/torch/hub/checkpoints`), so a file PyTorch already fetched is reused.
//! Downloads go to a temporary file that is renamed when complete.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use super::WeightsError;
use super::hub::offline;

fn checkpoints_dir() -> PathBuf {
    let torch_home = std::env::var_os("TORCH_HOME").map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
        cache.join("torch")
    });
    torch_home.join("hub").join("checkpoints")
}

/// The local path of the file at `url`, downloading it unless offline.
pub fn fetch(url: &str) -> Result<PathBuf, WeightsError> {
    let name = url
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| WeightsError::Hub(format!("`{url}` does not end in a file name")))?;
    let dir = checkpoints_dir();
    let path = dir.join(name);
    if path.is_file() {
        return Ok(path);
    }
    let how = format!("download {url} into {} on a machine with network access, or pass --weights PATH", dir.display());
    if offline() {
        return Err(WeightsError::Hub(format!("{name} is not in the torch.hub cache and HF_HUB_OFFLINE is set: {how}")));
    }
    download(url, &path).map_err(|err| WeightsError::Hub(format!("cannot download {url} ({err}): {how}")))?;
    Ok(path)
}

fn download(url: &str, path: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let response = ureq::get(url).call()?;
    let length = response.header("Content-Length").and_then(|v| v.parse::<u64>().ok());
    let dir = path.parent().ok_or("no parent folder")?;
    std::fs::create_dir_all(dir)?;
    let partial = dir.join(format!(".{}.{}.partial", path.file_name().unwrap_or_default().to_string_lossy(), std::process::id()));
    let bar = if std::io::stderr().is_terminal() { ProgressBar::new(length.unwrap_or(0)) } else { ProgressBar::hidden() };
    bar.set_style(ProgressStyle::with_template("{bytes}/{total_bytes} {bar:30} {bytes_per_sec}")?);
    let result = (|| -> std::io::Result<()> {
        let mut reader = response.into_reader();
        let mut file = std::fs::File::create(&partial)?;
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let read = reader.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            file.write_all(&buffer[..read])?;
            bar.inc(read as u64);
        }
        file.sync_all()
    })();
    bar.finish_and_clear();
    if let Err(err) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(err.into());
    }
    std::fs::rename(&partial, path)?;
    Ok(())
}
