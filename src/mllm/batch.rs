//! Splicing: every example's text embeddings with its image's embeddings inserted where the
//! placeholder was (Cambrian's `prepare_inputs_labels_for_multimodal`), truncated to the
//! model's maximum length, right-padded to the longest example. Right padding needs no
//! attention mask: under the causal mask no real position sees a pad, and pads are no targets.

use burn::tensor::{Device, Int, Tensor, TensorData};
use image::RgbImage;

use super::conversation::Encoded;
use super::{ImageEmbeddings, Mllm, MllmError};
use crate::connectors::SvaContext;
use crate::connectors::sva::aggregate::ImageSpan;
use crate::features::FeatureSource;

pub struct Example<'a> {
    pub encoded: &'a Encoded,
    /// Index into the batch's images.
    pub image: Option<usize>,
}

pub struct Inputs {
    /// [batch, positions, hidden]
    pub embeds: Tensor<3>,
    /// [batch, positions]: the token each position should predict (0 where there is none).
    pub next_ids: Tensor<2, Int>,
    /// [batch, positions]: 1 where that next token is a target, else 0.
    pub next_mask: Tensor<2>,
    /// Target tokens left after truncation, per example.
    pub targets: Vec<usize>,
    /// Positions before padding, summed over the examples.
    pub positions: usize,
    /// What the SVA's in-LLM samplers re-query, for the batch's images.
    pub vision: Option<SvaContext>,
    /// Where each wholly shown image sits (an image cut by truncation is not re-queried
    /// inside the LLM; Cambrian's fixed slice would fail on it).
    pub spans: Vec<ImageSpan>,
}

/// One example's positions: a text token (id, is target) or an image token.
#[derive(Clone, Copy)]
enum Slot {
    Text(u32, bool),
    Image,
}

/// Target tokens of `encoded` left once its image (if shown) is spliced in and the whole is
/// truncated to `max_length`: what the loss of a global batch is normalised by.
pub fn targets_within(encoded: &Encoded, image_tokens: usize, max_length: usize) -> usize {
    slots(encoded, image_tokens, max_length).iter().skip(1).filter(|s| matches!(s, Slot::Text(_, true))).count()
}

fn slots(encoded: &Encoded, image_tokens: usize, max_length: usize) -> Vec<Slot> {
    let text = encoded.ids.iter().zip(&encoded.targets).map(|(id, t)| Slot::Text(*id, *t));
    let mut slots: Vec<Slot> = match encoded.image_at {
        Some(at) => {
            let (before, after): (Vec<_>, Vec<_>) = text.enumerate().partition(|(i, _)| *i < at);
            let image = std::iter::repeat_n(Slot::Image, image_tokens);
            before.into_iter().map(|(_, s)| s).chain(image).chain(after.into_iter().map(|(_, s)| s)).collect()
        }
        None => text.collect(),
    };
    slots.truncate(max_length);
    slots
}

impl Mllm {
    /// Builds the inputs of `examples`; `images` holds each distinct image once, and their
    /// features come from `features`.
    pub fn assemble(
        &self,
        examples: &[Example],
        images: &[&RgbImage],
        features: &dyn FeatureSource,
        max_length: usize,
        device: &Device,
    ) -> Result<Inputs, MllmError> {
        let vision = match images.is_empty() {
            true => None,
            false => Some(self.image_embeddings(images, features, device)?),
        };
        Ok(self.splice(examples, vision.as_ref(), max_length, device))
    }

    /// Builds the inputs of `examples` from images already embedded ([`Mllm::image_embeddings`]),
    /// so that several batches over the same images encode them once.
    pub fn splice(&self, examples: &[Example], vision: Option<&ImageEmbeddings>, max_length: usize, device: &Device) -> Inputs {
        let image_tokens = self.connector.image_tokens();
        let (image_embeds, vision) = match vision {
            Some((embeds, context)) => (Some(embeds), context.clone()),
            None => (None, None),
        };
        let mut spans = Vec::new();
        let layouts: Vec<Vec<Slot>> =
            examples.iter().map(|e| slots(e.encoded, if e.image.is_some() { image_tokens } else { 0 }, max_length)).collect();
        let positions = layouts.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let batch = examples.len();

        // [batch, longest text] token ids → embeddings; row b holds example b's text in order.
        let longest_text = examples.iter().map(|e| e.encoded.ids.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![0i64; batch * longest_text];
        for (b, e) in examples.iter().enumerate() {
            for (i, id) in e.encoded.ids.iter().enumerate() {
                ids[b * longest_text + i] = *id as i64;
            }
        }
        let text = self.llm.embed(Tensor::from_data(TensorData::new(ids, [batch, longest_text]), device));
        let hidden = text.dims()[2];

        let mut rows = Vec::with_capacity(batch);
        let (mut next_ids, mut next_mask) = (vec![0i64; batch * positions], vec![0f32; batch * positions]);
        let mut targets = Vec::with_capacity(batch);
        for (b, (example, layout)) in examples.iter().zip(&layouts).enumerate() {
            let row = text.clone().narrow(0, b, 1);
            let text_len = layout.iter().filter(|s| matches!(s, Slot::Text(..))).count();
            let mut pieces = Vec::new();
            match (example.encoded.image_at, example.image, image_embeds) {
                (Some(at), Some(k), Some(embeds)) => {
                    let before = at.min(text_len);
                    let shown = layout.len() - text_len;
                    if before > 0 {
                        pieces.push(row.clone().narrow(1, 0, before));
                    }
                    if shown > 0 {
                        pieces.push(embeds.clone().narrow(0, k, 1).narrow(1, 0, shown));
                    }
                    if shown == image_tokens {
                        spans.push(ImageSpan { row: b, start: before, image: k });
                    }
                    if text_len > before {
                        pieces.push(row.narrow(1, before, text_len - before));
                    }
                }
                _ => pieces.push(row.narrow(1, 0, text_len.max(1))),
            }
            let mut sequence = Tensor::cat(pieces, 1);
            let length = sequence.dims()[1];
            if length < positions {
                sequence = Tensor::cat(vec![sequence, Tensor::zeros([1, positions - length, hidden], device)], 1);
            }
            rows.push(sequence);
            for (t, next) in layout.iter().skip(1).enumerate() {
                if let Slot::Text(id, target) = next {
                    next_ids[b * positions + t] = *id as i64;
                    next_mask[b * positions + t] = f32::from(u8::from(*target));
                }
            }
            targets.push(layout.iter().skip(1).filter(|s| matches!(s, Slot::Text(_, true))).count());
        }
        Inputs {
            embeds: Tensor::cat(rows, 0),
            next_ids: Tensor::from_data(TensorData::new(next_ids, [batch, positions]), device),
            next_mask: Tensor::from_data(TensorData::new(next_mask, [batch, positions]), device),
            targets,
            positions: layouts.iter().map(Vec::len).sum(),
            vision,
            spans,
        }
    }
}
