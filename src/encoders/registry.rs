//! The preset encoders: the TOML specs in `encoders/`, built into the binary, found by name.

use std::path::Path;

use super::EncoderError;
use super::hf_config::spec_from_dir;
use super::spec::EncoderSpec;
use crate::weights::{hub, url};

/// Every preset spec, in the order `cambrian encoders` lists them.
pub(crate) const PRESET_FILES: &[(&str, &str)] = &[
    ("clip-vit-l-14-336", include_str!("../../encoders/clip-vit-l-14-336.toml")),
    ("dfn-clip-vit-l-14-224", include_str!("../../encoders/dfn-clip-vit-l-14-224.toml")),
    ("dfn-clip-vit-h-14-378", include_str!("../../encoders/dfn-clip-vit-h-14-378.toml")),
    ("eva02-clip-vit-l-14-336", include_str!("../../encoders/eva02-clip-vit-l-14-336.toml")),
    ("eva02-clip-vit-l-14-224", include_str!("../../encoders/eva02-clip-vit-l-14-224.toml")),
    ("siglip-vit-l-16-384", include_str!("../../encoders/siglip-vit-l-16-384.toml")),
    ("siglip-so400m-14-384", include_str!("../../encoders/siglip-so400m-14-384.toml")),
    ("convnext-l-512", include_str!("../../encoders/convnext-l-512.toml")),
    ("convnext-l-1024", include_str!("../../encoders/convnext-l-1024.toml")),
    ("convnext-xxl-1024", include_str!("../../encoders/convnext-xxl-1024.toml")),
    ("convnext-xxl-1024-multi-stage", include_str!("../../encoders/convnext-xxl-1024-multi-stage.toml")),
    ("siglip2-so400m-14-384", include_str!("../../encoders/siglip2-so400m-14-384.toml")),
    ("siglip2-vit-l-16-384", include_str!("../../encoders/siglip2-vit-l-16-384.toml")),
    ("siglip2-b-16-naflex", include_str!("../../encoders/siglip2-b-16-naflex.toml")),
    ("siglip2-so400m-16-naflex", include_str!("../../encoders/siglip2-so400m-16-naflex.toml")),
    ("pe-core-vit-l-14-336", include_str!("../../encoders/pe-core-vit-l-14-336.toml")),
    ("pe-lang-vit-l-14-448", include_str!("../../encoders/pe-lang-vit-l-14-448.toml")),
    ("pe-lang-vit-g-14-448", include_str!("../../encoders/pe-lang-vit-g-14-448.toml")),
    ("pe-spatial-vit-b-16-512", include_str!("../../encoders/pe-spatial-vit-b-16-512.toml")),
    ("pe-spatial-vit-l-14-448", include_str!("../../encoders/pe-spatial-vit-l-14-448.toml")),
    ("pe-spatial-vit-g-14-448", include_str!("../../encoders/pe-spatial-vit-g-14-448.toml")),
    ("aimv2-vit-l-14-224", include_str!("../../encoders/aimv2-vit-l-14-224.toml")),
    ("aimv2-vit-l-14-336", include_str!("../../encoders/aimv2-vit-l-14-336.toml")),
    ("aimv2-vit-l-14-448", include_str!("../../encoders/aimv2-vit-l-14-448.toml")),
    ("aimv2-vit-l-14-native", include_str!("../../encoders/aimv2-vit-l-14-native.toml")),
    ("internvit-300m-448", include_str!("../../encoders/internvit-300m-448.toml")),
    ("c-radiov3-b-16-512", include_str!("../../encoders/c-radiov3-b-16-512.toml")),
    ("c-radiov3-l-16-512", include_str!("../../encoders/c-radiov3-l-16-512.toml")),
    ("c-radiov3-h-16-512", include_str!("../../encoders/c-radiov3-h-16-512.toml")),
    ("c-radiov3-g-16-512", include_str!("../../encoders/c-radiov3-g-16-512.toml")),
    ("radio-v2.5-b-16-768", include_str!("../../encoders/radio-v2.5-b-16-768.toml")),
    ("radio-v2.5-l-16-768", include_str!("../../encoders/radio-v2.5-l-16-768.toml")),
    ("radio-v2.5-h-16-768", include_str!("../../encoders/radio-v2.5-h-16-768.toml")),
    ("radio-v2.5-g-14-896", include_str!("../../encoders/radio-v2.5-g-14-896.toml")),
    ("dinov2-vit-l-14-336", include_str!("../../encoders/dinov2-vit-l-14-336.toml")),
    ("dinov2-vit-l-14-518", include_str!("../../encoders/dinov2-vit-l-14-518.toml")),
    ("dinov2-vit-g-14-378", include_str!("../../encoders/dinov2-vit-g-14-378.toml")),
    ("dinov3-vit-l-16", include_str!("../../encoders/dinov3-vit-l-16.toml")),
    ("webssl-dino1b-full2b-224", include_str!("../../encoders/webssl-dino1b-full2b-224.toml")),
    ("webssl-dino2b-full2b-224", include_str!("../../encoders/webssl-dino2b-full2b-224.toml")),
    ("webssl-dino3b-full2b-224", include_str!("../../encoders/webssl-dino3b-full2b-224.toml")),
    ("webssl-dino5b-full2b-224", include_str!("../../encoders/webssl-dino5b-full2b-224.toml")),
    ("webssl-dino7b-full8b-224", include_str!("../../encoders/webssl-dino7b-full8b-224.toml")),
    ("webssl-dino7b-full8b-384", include_str!("../../encoders/webssl-dino7b-full8b-384.toml")),
    ("webssl-dino7b-full8b-518", include_str!("../../encoders/webssl-dino7b-full8b-518.toml")),
    ("moco-v3-vit-b-16", include_str!("../../encoders/moco-v3-vit-b-16.toml")),
    ("moco-v3-vit-l-16", include_str!("../../encoders/moco-v3-vit-l-16.toml")),
    ("ijepa-vit-h-14", include_str!("../../encoders/ijepa-vit-h-14.toml")),
    ("mae-vit-l-16", include_str!("../../encoders/mae-vit-l-16.toml")),
    ("mae-vit-h-14", include_str!("../../encoders/mae-vit-h-14.toml")),
    ("webssl-mae700m-full2b-224", include_str!("../../encoders/webssl-mae700m-full2b-224.toml")),
    ("webssl-mae1b-full2b-224", include_str!("../../encoders/webssl-mae1b-full2b-224.toml")),
    ("webssl-mae2b-full2b-224", include_str!("../../encoders/webssl-mae2b-full2b-224.toml")),
    ("webssl-mae3b-full2b-224", include_str!("../../encoders/webssl-mae3b-full2b-224.toml")),
    ("supvit-l-16-in21k", include_str!("../../encoders/supvit-l-16-in21k.toml")),
    ("supvit-h-14-in21k", include_str!("../../encoders/supvit-h-14-in21k.toml")),
    ("midas-dpt-large-384", include_str!("../../encoders/midas-dpt-large-384.toml")),
    ("midas-beit-large-512", include_str!("../../encoders/midas-beit-large-512.toml")),
    ("sam-vit-l-1024", include_str!("../../encoders/sam-vit-l-1024.toml")),
    ("sam-vit-h-1024", include_str!("../../encoders/sam-vit-h-1024.toml")),
    ("sd-2.1", include_str!("../../encoders/sd-2.1.toml")),
];

/// All presets, parsed. A preset that does not parse is a bug the test suite catches.
pub fn presets() -> Vec<EncoderSpec> {
    PRESET_FILES
        .iter()
        .map(|(name, text)| EncoderSpec::from_toml(text, &format!("encoders/{name}.toml")).unwrap_or_else(|err| panic!("{err}")))
        .collect()
}

pub fn preset(name: &str) -> Result<EncoderSpec, EncoderError> {
    presets().into_iter().find(|spec| spec.name == name).ok_or_else(|| EncoderError::Unknown {
        name: name.to_string(),
        closest: PRESET_FILES
            .iter()
            .map(|(preset, _)| (strsim::jaro_winkler(name, preset), *preset))
            .filter(|(score, _)| *score > 0.7)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, preset)| preset.to_string()),
    })
}

/// How the user named the encoder, and the folder relative weights are found in.
pub struct Resolved {
    pub spec: EncoderSpec,
    /// The spec file's folder, for a `weights_file` given relative to it.
    pub spec_dir: Option<std::path::PathBuf>,
}

impl Resolved {
    /// Where the spec's own checkpoint is: a file of a Hugging Face repository, an address
    /// (torch.hub cache) or a file beside the spec; none when the spec names none.
    pub fn origin(&self) -> Option<Origin<'_>> {
        let spec = &self.spec;
        match (&spec.hub, &spec.url, &spec.weights_file, &self.spec_dir) {
            (Some(repo), _, file, _) => Some(Origin::Hub { repo, file: file.as_deref().unwrap_or("model.safetensors") }),
            (None, Some(address), _, _) => Some(Origin::Url(address)),
            (None, None, Some(file), Some(dir)) => Some(Origin::File(dir.join(file))),
            _ => None,
        }
    }

    /// The spec's own checkpoint: its file in the Hugging Face cache (downloaded if missing,
    /// with the config files the architecture reads), at its address (torch.hub cache), or
    /// beside the spec file.
    pub fn pretrained_weights(&self) -> Result<std::path::PathBuf, EncoderError> {
        match self.origin() {
            Some(Origin::Hub { repo, file }) => {
                let path = hub::fetch_weights(repo, file)?;
                for other in self.spec.architecture.spec().hub_files() {
                    hub::fetch(repo, other)?;
                }
                Ok(path)
            }
            Some(Origin::Url(address)) => Ok(url::fetch(address)?),
            Some(Origin::File(path)) => Ok(path),
            None => Err(EncoderError::Config(format!(
                "encoder `{}` names no weights: pass --weights PATH or --init random (in a run file: weights = PATH or init = \"random\")",
                self.spec.name
            ))),
        }
    }
}

/// Where a spec's own checkpoint is; shown as `hub:REPO/FILE`, the address or the path.
pub enum Origin<'a> {
    Hub { repo: &'a str, file: &'a str },
    Url(&'a str),
    File(std::path::PathBuf),
}

impl std::fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Hub { repo, file } => write!(f, "hub:{repo}/{file}"),
            Origin::Url(address) => f.write_str(address),
            Origin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// `--encoder` as given: a preset name or a spec file; absent, the spec comes from a
/// transformers folder passed as `--weights`.
pub fn resolve(encoder: Option<&str>, weights: Option<&Path>) -> Result<Resolved, EncoderError> {
    match (encoder, weights) {
        (Some(name), _) if name.ends_with(".toml") || Path::new(name).is_file() => {
            let path = Path::new(name);
            Ok(Resolved { spec: EncoderSpec::from_file(path)?, spec_dir: path.parent().map(Path::to_path_buf) })
        }
        (Some(name), _) => Ok(Resolved { spec: preset(name)?, spec_dir: None }),
        (None, Some(dir)) if dir.join("config.json").is_file() => Ok(Resolved { spec: spec_from_dir(dir)?, spec_dir: None }),
        (None, Some(path)) => Err(EncoderError::Config(format!(
            "{} is not a transformers model folder (no config.json); name the encoder with --encoder",
            path.display()
        ))),
        (None, None) => {
            Err(EncoderError::Config("name an encoder with --encoder, or pass a transformers folder as --weights".into()))
        }
    }
}
