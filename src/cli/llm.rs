//! `cambrian llm`: a prompt → the model's greedy continuation on stdout.

use std::collections::BTreeMap;

use anyhow::Context;
use burn::tensor::Device;

use super::args::LlmArgs;
use crate::llm::Llm;
use crate::llm::generate::{greedy, write_logits};
use crate::llm::tokenizer::LlmTokenizer;

pub fn run(args: &LlmArgs, device: &Device) -> anyhow::Result<()> {
    if let Some(path) = &args.dump_logits {
        // before the model runs, not after
        crate::atomic::refuse_special(path).with_context(|| format!("--dump-logits {}", path.display()))?;
    }
    let dir = &args.model;
    let llm = Llm::load(dir, device).with_context(|| format!("loading the language model in {}", dir.display()))?;
    let tokenizer = LlmTokenizer::from_dir(dir)?;
    let prompt = match args.template {
        Some(template) => template.prompt(&args.prompt),
        None => args.prompt.clone(),
    };
    let ids = tokenizer.encode(&prompt)?;
    tracing::info!("{} prompt tokens", ids.len());
    let keep_logits = args.dump_logits.is_some();
    let generation = greedy(&llm.model, &ids, args.max_new_tokens, &llm.config.eos_token_ids, keep_logits, device)?;
    let text = tokenizer.decode(&generation.generated_ids)?;
    println!("{text}");
    if let Some(path) = &args.dump_logits {
        let metadata = BTreeMap::from([
            ("model".to_string(), dir.display().to_string()),
            ("prompt".to_string(), prompt),
            ("text".to_string(), text),
        ]);
        write_logits(path, &generation, metadata).with_context(|| format!("writing {}", path.display()))?;
        tracing::info!("wrote {}", path.display());
    }
    Ok(())
}
