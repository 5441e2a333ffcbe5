//! A conversation as the LLM sees it: normalised as LLaVA's `preprocess_multimodal` (and, for
//! the plain template, `preprocess_plain`) does, rendered with the run's template, and
//! tokenized around the `<image>` placeholder as Cambrian's `tokenizer_image_token` does,
//! with the tokens the loss covers marked.
//!
//! Cambrian finds those tokens by subtracting tokenized lengths of the rounds (the source of
//! its "tokenization mismatch" warnings); here a token is a target when its text overlaps an
//! answer or the separator that ends it, which is what that arithmetic intends.

use std::ops::Range;

use crate::data::llava::{IMAGE_PLACEHOLDER, Turn};
use crate::llm::LlmError;
use crate::llm::chat::{self, Template};
use crate::llm::tokenizer::LlmTokenizer;

#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    /// Text token ids; the image is not among them.
    pub ids: Vec<u32>,
    /// Per id: whether the loss covers it.
    pub targets: Vec<bool>,
    /// The image tokens go before `ids[at]`; `None` without an image.
    pub image_at: Option<usize>,
}

impl Encoded {
    pub fn target_count(&self) -> usize {
        self.targets.iter().filter(|t| **t).count()
    }
}

/// Encodes `turns` (the last answer may be missing: a prompt to continue). With an image, the
/// placeholder is moved to the head of the first prompt (`<image>\n` + the rest), or for the
/// plain template the first prompt becomes the placeholder alone.
pub fn encode(tokenizer: &LlmTokenizer, template: Template, turns: &[Turn], image: bool) -> Result<Encoded, LlmError> {
    let users: Vec<String> = turns
        .iter()
        .enumerate()
        .map(|(i, turn)| match (image, i, template) {
            (true, 0, Template::Plain) => IMAGE_PLACEHOLDER.to_string(),
            (true, 0, _) => format!("{IMAGE_PLACEHOLDER}\n{}", turn.prompt.replace(IMAGE_PLACEHOLDER, "").trim()),
            _ => turn.prompt.replace(IMAGE_PLACEHOLDER, "").trim().to_string(),
        })
        .collect();
    let chat_turns: Vec<chat::Turn> = users
        .iter()
        .zip(turns)
        .map(|(user, turn)| chat::Turn { user, assistant: (!turn.answer.is_empty()).then_some(turn.answer.as_str()) })
        .collect();
    let (text, answers) = template.render_with_answers(&chat_turns);
    let (before, after) = match text.find(IMAGE_PLACEHOLDER) {
        Some(at) => (&text[..at], Some((at + IMAGE_PLACEHOLDER.len(), &text[at + IMAGE_PLACEHOLDER.len()..]))),
        None => (text.as_str(), None),
    };
    // The first chunk carries the tokenizer's special tokens (Llama's `<s>`); the chunk after
    // the image does not (Cambrian strips that chunk's `<s>`).
    let mut encoded = Encoded { ids: Vec::new(), targets: Vec::new(), image_at: None };
    push_chunk(&mut encoded, tokenizer.encode_with_offsets(before, true)?, 0, &answers);
    if let Some((offset, rest)) = after {
        encoded.image_at = Some(encoded.ids.len());
        push_chunk(&mut encoded, tokenizer.encode_with_offsets(rest, false)?, offset, &answers);
    }
    Ok(encoded)
}

fn push_chunk(encoded: &mut Encoded, (ids, offsets): (Vec<u32>, Vec<(usize, usize)>), shift: usize, answers: &[Range<usize>]) {
    for (id, (start, end)) in ids.into_iter().zip(offsets) {
        let (start, end) = (start + shift, end + shift);
        encoded.ids.push(id);
        encoded.targets.push(end > start && answers.iter().any(|a| start < a.end && a.start < end));
    }
}
