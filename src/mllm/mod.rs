//! The multimodal LLM of the probe: vision encoder(s) → connector → LLM, as Cambrian-1's
//! `CambrianMetaForCausalLM` wires them. Images are preprocessed per encoder (each tower has
//! its own transform), encoded, brought to the connector's grid, projected and spliced into
//! the LLM's input embeddings at the `<image>` placeholder (`batch`); the loss is the
//! next-token negative log-likelihood of the answer tokens only.

pub mod batch;
pub mod buckets;
pub mod conversation;

use burn::module::Module;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, IndexingUpdateOp, Int, Tensor};
use image::RgbImage;

use crate::connectors::sva::aggregate::Aggregation;
use crate::connectors::{Connector, ConnectorError, SvaContext};
use crate::encoders::{Encoder, EncoderError, Features};
use crate::features::{FeatureError, FeatureSource};
use crate::llm::{KvCache, LayerHook, LlmModel};
pub use batch::{Example, Inputs};

/// What `[connector] native` needs, said where it is refused.
pub const OWN_GRIDS_NEED: &str = "[connector] native = true takes one native-resolution encoder (resize = \"max-patches\") through the concatenation, the Perceiver or the LDP";

#[derive(Debug, thiserror::Error)]
pub enum MllmError {
    #[error(transparent)]
    Encoder(#[from] EncoderError),
    #[error(transparent)]
    Features(#[from] FeatureError),
    #[error(transparent)]
    Connector(#[from] ConnectorError),
}

/// A batch's images as the LLM takes them.
pub struct ImageEmbeddings {
    /// [images, positions, hidden]: image k's first `lengths[k]` positions, zeros after.
    pub embeds: Tensor<3>,
    /// LLM positions each image takes: the connector's fixed count, or with own grids each
    /// image's.
    pub lengths: Vec<usize>,
    /// For the SVA, what its in-LLM samplers re-query.
    pub context: Option<SvaContext>,
}

pub struct Mllm {
    pub encoders: Vec<Encoder>,
    pub connector: Connector,
    pub llm: LlmModel,
}

impl Mllm {
    /// Images → LLM input embeddings, each encoder's features from `features` (computed, or
    /// read from the frozen-feature cache).
    pub fn image_embeddings(
        &self,
        images: &[&RgbImage],
        features: &dyn FeatureSource,
        device: &Device,
    ) -> Result<ImageEmbeddings, MllmError> {
        if self.own_grids()? {
            let per_encoder = features.own_grid_features(&self.encoders, images, device)?;
            let images = per_encoder.into_iter().next().expect("own grids have one encoder");
            let (embeds, lengths) = self.connector.forward_own_grids(images)?;
            return Ok(ImageEmbeddings { embeds, lengths, context: None });
        }
        let features = features.features(&self.encoders, images, device)?;
        let sizes: Vec<[usize; 2]> = images.iter().map(|image| [image.width() as usize, image.height() as usize]).collect();
        self.embed_features(features, &sizes)
    }

    /// Each encoder's features [images, tokens_i, channels_i] of images of `sizes` (width,
    /// height) through the connector, every image at the connector's one grid.
    pub fn embed_features(&self, features: Vec<Features>, sizes: &[[usize; 2]]) -> Result<ImageEmbeddings, MllmError> {
        let (embeds, context) = self.connector.forward(features, sizes)?;
        Ok(ImageEmbeddings { embeds, lengths: vec![self.connector.image_tokens(); sizes.len()], context })
    }

    /// LLM positions an image of `width × height` takes.
    pub fn image_tokens_of(&self, width: u32, height: u32) -> Result<usize, MllmError> {
        if let Some(tokens) = self.connector.fixed_image_tokens() {
            return Ok(tokens);
        }
        self.own_grids()?;
        let grid = self.encoders[0].spec.own_grid(width as usize, height as usize)?;
        Ok(self.connector.tokens_at(grid))
    }

    /// Whether the connector takes each image at its own grid; refused unless the model has
    /// the one native-resolution encoder that needs.
    fn own_grids(&self) -> Result<bool, MllmError> {
        match (self.connector.takes_own_grids(), self.encoders.as_slice()) {
            (false, _) => Ok(false),
            (true, [encoder]) if encoder.spec.is_native() => Ok(true),
            (true, _) => Err(ConnectorError::Config(OWN_GRIDS_NEED.into()).into()),
        }
    }

    /// The SVA's aggregation inside the LLM for `inputs`, when the connector has one.
    pub fn aggregation(&self, inputs: &Inputs) -> Option<Aggregation<'_>> {
        match (&self.connector, &inputs.vision) {
            (Connector::Sva(sva), Some(context)) => sva.aggregation(context, &inputs.spans),
            _ => None,
        }
    }

    /// The LLM's final-norm hidden states over `inputs` [batch, positions, hidden].
    pub fn decode(&self, inputs: &Inputs) -> Tensor<3> {
        self.prefill(inputs).0
    }

    /// [`Mllm::decode`], and the cache it leaves (its pads those of `inputs`), for going on
    /// from `inputs` without the SVA's hook: its images all lie in `inputs`.
    pub fn prefill(&self, inputs: &Inputs) -> (Tensor<3>, KvCache) {
        let hook = self.aggregation(inputs);
        let mut cache = self.llm.new_padded_cache(inputs.pads.clone());
        let hidden = self.llm.decode_hooked(inputs.embeds.clone(), &mut cache, hook.as_ref().map(|h| h as &dyn LayerHook));
        (hidden, cache)
    }

    /// The model as evaluation runs it: off the autodiff graph, on the plain device.
    pub fn valid(&self) -> Mllm {
        Mllm {
            encoders: self.encoders.iter().map(|e| Encoder { spec: e.spec.clone(), model: e.model.valid() }).collect(),
            connector: self.connector.valid(),
            llm: self.llm.valid(),
        }
    }

    /// Per example, the summed negative log-likelihood of its target tokens: [batch]. Only the
    /// supervised positions go through the LM head and the log-softmax: the logits of the
    /// others would be thrown away, and with a vocabulary of 32,000 to 152,064 they are most
    /// of a step's work. Equal to the whole-vocabulary pass at every position to float
    /// rounding (tests/targets_only.rs).
    pub fn target_nll(&self, inputs: &Inputs) -> Tensor<1> {
        self.nll_at(self.decode(inputs), &inputs.target_rows, &inputs.target_ids, &inputs.target_examples)
    }

    /// Per row of `hidden` [batch, positions, width], the summed negative log-likelihood of
    /// `ids` [targets] predicted at the flattened positions `rows` (b · positions + t) of the
    /// rows `examples`: [batch]. The LM head and log-softmax see those positions only.
    pub fn nll_at(&self, hidden: Tensor<3>, rows: &Tensor<1, Int>, ids: &Tensor<1, Int>, examples: &Tensor<1, Int>) -> Tensor<1> {
        let [batch, positions, width] = hidden.dims();
        let device = hidden.device();
        let count = ids.dims()[0];
        if count == 0 {
            return Tensor::zeros([batch], &device);
        }
        // [batch × positions, width] → the supervised rows [targets, width] → [targets, vocab]
        let hidden = hidden.reshape([batch * positions, width]).select(0, rows.clone());
        let log_probs = log_softmax(self.llm.logits(hidden), 1);
        let picked = log_probs.gather(1, ids.clone().unsqueeze_dim::<2>(1)).reshape([count]);
        // [targets] summed into their examples' entries [batch]
        let zeros = Tensor::zeros([batch], &device);
        zeros.select_assign(0, examples.clone(), picked, IndexingUpdateOp::Add).neg()
    }
}
