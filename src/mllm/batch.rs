//! Splicing: every example's text embeddings with its image's embeddings inserted where the
//! placeholder was (Cambrian's `prepare_inputs_labels_for_multimodal`), truncated to the
//! model's maximum length, padded to the longest example (or its length bucket, `buckets`).
//! Right padding (training, scoring continuations) needs no attention mask: under the causal
//! mask no real position sees a pad, and pads are no targets. Left padding (prompts that
//! generation or several continuations go on from) puts every row's last token in the last
//! column; the LLM's cache masks the pads (`LlmModel::new_padded_cache` with `Inputs::pads`).

use burn::tensor::{Device, Int, Tensor, TensorData};
use image::RgbImage;

use super::buckets::Buckets;
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
    /// The supervised positions (those whose next token is a target), example by example in
    /// position order, as [targets] rows of the flattened batch: b · positions + t.
    pub target_rows: Tensor<1, Int>,
    /// [targets]: the token each supervised position should predict.
    pub target_ids: Tensor<1, Int>,
    /// [targets]: the example each supervised position belongs to.
    pub target_examples: Tensor<1, Int>,
    /// Target tokens left after truncation, per example.
    pub targets: Vec<usize>,
    /// Positions before padding, summed over the examples.
    pub positions: usize,
    /// What the SVA's in-LLM samplers re-query, for the batch's images.
    pub vision: Option<SvaContext>,
    /// Where each wholly shown image sits (an image cut by truncation is not re-queried
    /// inside the LLM; Cambrian's fixed slice would fail on it).
    pub spans: Vec<ImageSpan>,
    /// Per row, the pads before its first position (left padding); empty when right-padded.
    pub pads: Vec<usize>,
}

/// Where a batch's shorter rows get their padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Right,
    Left,
}

/// One example's positions: a text token (id, is target) or an image token.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Slot {
    Text(u32, bool),
    Image,
}

/// Target tokens of `encoded` left once its image (if shown) is spliced in and the whole is
/// truncated to `max_length`: what the loss of a global batch is normalised by.
pub fn targets_within(encoded: &Encoded, image_tokens: usize, max_length: usize) -> usize {
    slots(encoded, image_tokens, max_length).iter().skip(1).filter(|s| matches!(s, Slot::Text(_, true))).count()
}

/// The first `max_length` positions of `encoded` with its image spliced in; only those are
/// built, however long the text.
pub(crate) fn slots(encoded: &Encoded, image_tokens: usize, max_length: usize) -> Vec<Slot> {
    let text = encoded.ids.iter().zip(&encoded.targets).map(|(id, t)| Slot::Text(*id, *t));
    let (at, image) = match encoded.image_at {
        Some(at) => (at, image_tokens),
        None => (encoded.ids.len(), 0),
    };
    text.clone().take(at).chain(std::iter::repeat_n(Slot::Image, image)).chain(text.skip(at)).take(max_length).collect()
}

/// LLM positions of the image an example shows (`image`, an index into `vision`), if any.
pub(crate) fn shown_tokens(image: Option<usize>, vision: Option<&ImageEmbeddings>) -> usize {
    match (image, vision) {
        (Some(k), Some(vision)) => vision.lengths[k],
        _ => 0,
    }
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
    /// so that several batches over the same images encode them once: right-padded, in the
    /// device's default length buckets.
    pub fn splice(&self, examples: &[Example], vision: Option<&ImageEmbeddings>, max_length: usize, device: &Device) -> Inputs {
        self.splice_padded(examples, vision, max_length, Side::Right, Buckets::for_device(device), device)
    }

    /// [`Mllm::splice`], padded on `side` to the length `buckets` gives.
    pub fn splice_padded(
        &self,
        examples: &[Example],
        vision: Option<&ImageEmbeddings>,
        max_length: usize,
        side: Side,
        buckets: Buckets,
        device: &Device,
    ) -> Inputs {
        let image_embeds = vision.map(|v| &v.embeds);
        let mut spans = Vec::new();
        let layouts: Vec<Vec<Slot>> =
            examples.iter().map(|e| slots(e.encoded, shown_tokens(e.image, vision), max_length)).collect();
        let longest = layouts.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let positions = buckets.length(longest, max_length.max(longest));
        let batch = examples.len();

        // [batch, longest kept text] token ids → embeddings; row b holds example b's text up to
        // where truncation cuts it (what lies beyond is never embedded).
        let text_lens: Vec<usize> = layouts.iter().map(|l| l.iter().filter(|s| matches!(s, Slot::Text(..))).count()).collect();
        let longest_text = text_lens.iter().copied().max().unwrap_or(0).max(1);
        let mut ids = vec![0i64; batch * longest_text];
        for (b, e) in examples.iter().enumerate() {
            for (i, id) in e.encoded.ids[..text_lens[b]].iter().enumerate() {
                ids[b * longest_text + i] = *id as i64;
            }
        }
        let text = self.llm.embed(Tensor::from_data(TensorData::new(ids, [batch, longest_text]), device));
        let hidden = text.dims()[2];

        let mut rows = Vec::with_capacity(batch);
        let (mut target_rows, mut target_ids, mut target_examples) = (Vec::new(), Vec::new(), Vec::new());
        let mut targets = Vec::with_capacity(batch);
        let mut pads = Vec::with_capacity(batch);
        for (b, ((example, layout), &text_len)) in examples.iter().zip(&layouts).zip(&text_lens).enumerate() {
            let row = text.clone().narrow(0, b, 1);
            let length = layout.len().max(1);
            let pad = if side == Side::Left { positions - length } else { 0 };
            let mut pieces = Vec::new();
            if pad > 0 {
                pieces.push(Tensor::zeros([1, pad, hidden], device));
            }
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
                    if shown == shown_tokens(Some(k), vision) {
                        spans.push(ImageSpan { row: b, start: pad + before, image: k });
                    }
                    if text_len > before {
                        pieces.push(row.narrow(1, before, text_len - before));
                    }
                }
                _ => pieces.push(row.narrow(1, 0, text_len.max(1))),
            }
            if pad + length < positions {
                pieces.push(Tensor::zeros([1, positions - pad - length, hidden], device));
            }
            rows.push(Tensor::cat(pieces, 1));
            pads.push(pad);
            let before = target_rows.len();
            for (t, next) in layout.iter().skip(1).enumerate() {
                if let Slot::Text(id, true) = next {
                    target_rows.push((b * positions + pad + t) as i64);
                    target_ids.push(*id as i64);
                    target_examples.push(b as i64);
                }
            }
            targets.push(target_rows.len() - before);
        }
        let count = target_rows.len();
        let int = |values: Vec<i64>| Tensor::from_data(TensorData::new(values, [count]), device);
        Inputs {
            embeds: Tensor::cat(rows, 0),
            target_rows: int(target_rows),
            target_ids: int(target_ids),
            target_examples: int(target_examples),
            targets,
            positions: layouts.iter().map(Vec::len).sum(),
            vision: vision.and_then(|v| v.context.clone()),
            spans,
            pads: if side == Side::Left { pads } else { Vec::new() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::{ConcatConnector, Connector, ProjectorKind};
    use crate::llm::random_init::{Shape, create};

    /// A text-only MLLM over a tiny random LLM, made in a folder of the test's own `name`.
    fn text_model(name: &str, device: &Device) -> Mllm {
        let scratch = crate::test_dir::TestDir::new(&format!("batch-{name}"));
        let dir = scratch.join("llm");
        let shape = Shape { hidden_size: 8, intermediate_size: 8, layers: 1, heads: 2, kv_heads: 1, max_positions: 64 };
        create(&dir, "a b c", &shape, 0, device).unwrap();
        let llm = crate::llm::Llm::load(&dir, device).unwrap();
        let connector = Connector::Concat(ConcatConnector::new(ProjectorKind::Linear, 4, 8, [1, 1], false, device));
        Mllm { encoders: Vec::new(), connector, llm: llm.model }
    }

    /// Images of different lengths: each example's image takes its own positions, and the
    /// text after it and the targets move with it.
    #[test]
    fn images_of_their_own_lengths_are_spliced_each_at_its_length() {
        let device = Device::flex();
        let model = text_model("spliced", &device);
        let encoded = Encoded { ids: vec![1, 2, 3], targets: vec![false, true, true], image_at: Some(1) };
        let embeds = Tensor::<3>::random([2, 3, 8], burn::tensor::Distribution::Default, &device);
        let vision = ImageEmbeddings { embeds: embeds.clone(), lengths: vec![3, 1], context: None };
        let examples = [Example { encoded: &encoded, image: Some(0) }, Example { encoded: &encoded, image: Some(1) }];
        let inputs = model.splice(&examples, Some(&vision), 16, &device);
        assert_eq!(inputs.embeds.dims(), [2, 6, 8], "1 + 3 + 2 positions, and 1 + 1 + 2 padded");
        assert_eq!(inputs.positions, 6 + 4);
        assert_eq!(inputs.targets, [2, 2]);
        assert_eq!(inputs.target_rows.into_data().convert::<i64>().try_into_vec::<i64>().unwrap(), [3, 4, 6 + 1, 6 + 2]);
        let at = |row: usize, start: usize, len: usize| inputs.embeds.clone().narrow(0, row, 1).narrow(1, start, len);
        let same = |a: Tensor<3>, b: Tensor<3>| (a - b).abs().max().into_scalar::<f32>() == 0.0;
        assert!(same(at(0, 1, 3), embeds.clone().narrow(0, 0, 1)), "the first image whole");
        assert!(same(at(1, 1, 1), embeds.clone().narrow(0, 1, 1).narrow(1, 0, 1)), "the second image's one position");
        let text = model.llm.embed(Tensor::from_data(TensorData::new(vec![2i64, 3], [1, 2]), &device));
        assert!(same(at(0, 4, 2), text.clone()) && same(at(1, 2, 2), text), "the text after each image");
    }

    /// A long answer costs what `max_length` keeps of it: the ids past the cut are outside the
    /// vocabulary here, so embedding a single one of them would fail.
    #[test]
    fn text_past_max_length_is_never_embedded() {
        let device = Device::flex();
        let model = text_model("past-max-length", &device);
        let mut ids: Vec<u32> = (0..8).map(|i| 1 + i % 3).collect();
        ids.extend(std::iter::repeat_n(1_000_000, 100_000));
        let encoded = Encoded { targets: vec![true; ids.len()], ids, image_at: None };
        let short = Encoded { ids: vec![1, 2, 3], targets: vec![false, true, true], image_at: None };
        let examples = [Example { encoded: &encoded, image: None }, Example { encoded: &short, image: None }];
        let inputs = model.splice(&examples, None, 8, &device);
        assert_eq!(inputs.embeds.dims(), [2, 8, 8]);
        assert_eq!(inputs.targets, [7, 2]);
        assert_eq!(inputs.target_rows.into_data().convert::<i64>().try_into_vec::<i64>().unwrap(), [0, 1, 2, 3, 4, 5, 6, 8, 9]);
        assert_eq!(inputs.positions, 8 + 3);
        assert_eq!(targets_within(&encoded, 0, 8), 7);
    }
}
