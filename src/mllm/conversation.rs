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

#[cfg(test)]
mod tests {
    use super::*;

    /// A word-level tokenizer over the test's words, written where `LlmTokenizer` reads it.
    fn tokenizer(name: &str) -> LlmTokenizer {
        let dir = std::env::temp_dir().join(format!("cambrian-conversation-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let corpus = dir.join("corpus.txt");
        std::fs::write(&corpus, "What colour ? Sure Yes . A red square").unwrap();
        let llm = dir.join("llm");
        let shape = crate::llm::random_init::Shape {
            hidden_size: 8,
            intermediate_size: 8,
            layers: 1,
            heads: 2,
            kv_heads: 1,
            max_positions: 64,
        };
        crate::llm::random_init::create(
            &llm,
            &crate::data::corpus::read(&[corpus]).unwrap(),
            &shape,
            0,
            &burn::tensor::Device::flex(),
        )
        .unwrap();
        let tokenizer = LlmTokenizer::from_dir(&llm).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
        tokenizer
    }

    fn words(tokenizer: &LlmTokenizer, encoded: &Encoded, targets: bool) -> String {
        let ids: Vec<u32> = encoded.ids.iter().zip(&encoded.targets).filter(|(_, t)| **t == targets).map(|(id, _)| *id).collect();
        tokenizer.decode(&ids).unwrap()
    }

    #[test]
    fn answers_and_their_separators_are_the_only_targets() {
        let tokenizer = tokenizer("vicuna");
        let turns = [
            Turn { prompt: "What colour? <image>".into(), answer: "A".into() },
            Turn { prompt: "Sure?".into(), answer: "Yes.".into() },
        ];
        let encoded = encode(&tokenizer, Template::VicunaV1, &turns, true).unwrap();
        // `</s>` is a special token: `decode` leaves it out, so count it.
        assert_eq!(words(&tokenizer, &encoded, true), "A Yes .");
        assert_eq!(encoded.target_count(), 5, "A </s> Yes . </s>");
        // The placeholder moved to the head of the first prompt, right after "USER:".
        let at = encoded.image_at.unwrap();
        assert_eq!(tokenizer.decode(&encoded.ids[at - 2..at + 2]).unwrap(), "USER : What colour");
        assert!(words(&tokenizer, &encoded, false).ends_with("USER : What colour ? ASSISTANT : USER : Sure ? ASSISTANT :"));
    }

    #[test]
    fn plain_pretraining_keeps_only_the_image_and_the_caption() {
        let tokenizer = tokenizer("plain");
        let turns = [Turn { prompt: "<image>\nDescribe the image.".into(), answer: "A red square".into() }];
        let encoded = encode(&tokenizer, Template::Plain, &turns, true).unwrap();
        assert_eq!(encoded.image_at, Some(1), "after <s>");
        assert_eq!(encoded.ids.len(), 4, "<s> A red square");
        assert_eq!(encoded.targets, vec![false, true, true, true]);
        let text_only =
            encode(&tokenizer, Template::Plain, &[Turn { prompt: "Sure?".into(), answer: "Yes".into() }], false).unwrap();
        assert_eq!(text_only.image_at, None);
    }
}
