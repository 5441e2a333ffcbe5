//! `cambrian encode`: images → the patch tokens an encoder hands to the connector.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use burn::tensor::Device;

use super::args::{EncodeArgs, Init};
use super::bar::Bar;
use crate::encoders::encode::{encode_pixels, preprocess_files, write_features};
use crate::encoders::registry::{Resolved, resolve};
use crate::encoders::{Encoder, WeightsSource};

pub fn run(args: &EncodeArgs, device: &Device, quiet: bool) -> anyhow::Result<()> {
    let mut resolved = resolve(args.encoder.as_deref(), args.weights.as_deref())?;
    if let Some(tokens) = args.tokens {
        resolved.spec.feature_tokens = Some(tokens as usize);
    }
    let weights = weights_path(args, &resolved)?;
    refuse_overwriting_inputs(&args.out, &args.images, weights.as_deref())?;
    let source = match (&weights, args.init) {
        (Some(path), _) => WeightsSource::Path(path),
        (None, Some(Init::Random)) => WeightsSource::Random { seed: args.seed },
        (None, None) => unreachable!("weights_path returns a path unless --init is given"),
    };
    let pixels = preprocess_files(&resolved.spec.preprocess, &args.images)?;
    let name = resolved.spec.name.clone();
    let encoder = Encoder::build(resolved.spec, source, device).with_context(|| format!("building encoder `{name}`"))?;
    let bar = Bar::new(quiet);
    let encoded = encode_pixels(&encoder, &pixels, args.layer, args.batch_size as usize, device, &bar)?;

    let images: Vec<String> = args.images.iter().map(|p| p.display().to_string()).collect();
    let layer = args.layer.or(encoder.spec.feature_layer).map_or("final".to_string(), |l| l.to_string());
    let metadata = BTreeMap::from([
        ("images".to_string(), serde_json::to_string(&images)?),
        ("encoder".to_string(), name),
        ("layer".to_string(), layer),
        ("native_grid".to_string(), format!("{:?}", encoder.spec.native_grid())),
    ]);
    write_features(&args.out, &encoded, metadata)?;
    let [n, tokens, hidden] = encoded.shape;
    tracing::info!("wrote {} ({n} images × {tokens} tokens × {hidden})", args.out.display());
    Ok(())
}

/// The checkpoint to load: `--weights` (a file, or a folder holding the spec's file), else
/// the spec's own weights; `None` only for `--init random`.
fn weights_path(args: &EncodeArgs, resolved: &Resolved) -> anyhow::Result<Option<PathBuf>> {
    let spec = &resolved.spec;
    if let Some(path) = &args.weights {
        let named = spec.weights_file.as_ref().map(|file| path.join(file));
        return Ok(Some(named.filter(|p| path.is_dir() && p.exists()).unwrap_or(path.clone())));
    }
    if args.init.is_some() {
        return Ok(None);
    }
    Ok(Some(resolved.pretrained_weights()?))
}

/// `--out` must not be one of the images, the weights file, or a file already in the weights
/// folder: the atomic rename would replace an input. Paths are compared canonical (links, `..`).
fn refuse_overwriting_inputs(out: &Path, images: &[PathBuf], weights: Option<&Path>) -> anyhow::Result<()> {
    let canonical = |path: &Path| path.canonicalize().ok();
    // The output may not exist yet: its folder does, or the write fails with its own error.
    let Some(target) = out.parent().map(|dir| if dir.as_os_str().is_empty() { Path::new(".") } else { dir }).and_then(canonical)
    else {
        return Ok(());
    };
    let target = out.file_name().map_or(target.clone(), |name| target.join(name));
    if let Some(image) = images.iter().find(|image| canonical(image).as_deref() == Some(&target)) {
        anyhow::bail!("--out {} is the input image {}: choose another output file", out.display(), image.display());
    }
    let replaces = |weights: &Path| *weights == target || (weights.is_dir() && target.starts_with(weights) && target.exists());
    if let Some(weights) = weights.and_then(|w| canonical(w).map(|c| (w, c))).filter(|(_, c)| replaces(c)) {
        anyhow::bail!("--out {} would overwrite the weights {}: choose another output file", out.display(), weights.0.display());
    }
    Ok(())
}
