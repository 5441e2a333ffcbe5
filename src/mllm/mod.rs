//! The multimodal LLM of the probe: vision encoder(s) → connector → LLM, as Cambrian-1's
//! `CambrianMetaForCausalLM` wires them. Images are preprocessed per encoder (each tower has
//! its own transform), encoded, brought to the connector's grid, projected and spliced into
//! the LLM's input embeddings at the `<image>` placeholder (`batch`); the loss is the
//! next-token negative log-likelihood of the answer tokens only.

pub mod batch;
pub mod conversation;

use burn::module::Module;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor};
use image::RgbImage;

use crate::connectors::ConcatConnector;
use crate::encoders::Encoder;
use crate::features::{FeatureError, FeatureSource};
use crate::llm::LlmModel;
pub use batch::{Example, Inputs};

pub struct Mllm {
    pub encoders: Vec<Encoder>,
    pub connector: ConcatConnector,
    pub llm: LlmModel,
}

impl Mllm {
    /// Images → LLM input embeddings [images, image tokens, hidden], each encoder's features
    /// taken from `features` (computed, or read from the frozen-feature cache).
    pub fn image_embeddings(&self, images: &[&RgbImage], features: &dyn FeatureSource, device: &Device) -> Result<Tensor<3>, FeatureError> {
        Ok(self.connector.forward(features.features(&self.encoders, images, device)?))
    }

    /// The model as evaluation runs it: off the autodiff graph, on the plain device.
    pub fn valid(&self) -> Mllm {
        Mllm {
            encoders: self.encoders.iter().map(|e| Encoder { spec: e.spec.clone(), model: e.model.valid() }).collect(),
            connector: self.connector.valid(),
            llm: self.llm.valid(),
        }
    }

    /// Per example, the summed negative log-likelihood of its target tokens: [batch].
    pub fn target_nll(&self, inputs: &Inputs) -> Tensor<1> {
        let [batch, positions, _] = inputs.embeds.dims();
        let hidden = self.llm.decode(inputs.embeds.clone(), &mut self.llm.new_cache());
        // [batch, positions, vocab] → the log-probability of each position's next token
        let log_probs = log_softmax(self.llm.logits(hidden), 2);
        let picked = log_probs.gather(2, inputs.next_ids.clone().unsqueeze_dim::<3>(2)).reshape([batch, positions]);
        (picked * inputs.next_mask.clone()).sum_dim(1).reshape([batch]).neg()
    }
}
