//! Checkpoint key tables of the ViT layouts (see `weights::keymap`). Left: the checkpoint's
//! key after its prefix (found through the anchor); right: the `VisionTransformer` path.
//! `#` is the block index. LayerNorm `weight`/`bias` become burn's `gamma`/`beta` and Linear
//! weights are transposed by burn-store's PyTorch adapter, so the rows name modules only.

use super::vit::VitLayout;
use crate::weights::keymap::{KeyMap, Rule::*};

/// transformers CLIPVisionModel / CLIPModel: keys under `vision_model.`. `post_layernorm`
/// acts on the pooled class token only, so the token output never uses it.
static HF_CLIP: KeyMap = KeyMap {
    layout: "transformers CLIP",
    anchor: "embeddings.class_embedding",
    rules: &[
        Rename("embeddings.patch_embedding", "patch_embed"),
        Squeeze("embeddings.class_embedding", "cls_token", 1),
        Squeeze("embeddings.position_embedding.weight", "pos_embed", 2),
        Rename("pre_layrnorm", "norm_pre"),
        Rename("encoder.layers.#.layer_norm1", "blocks.#.norm1"),
        Fuse(
            ["encoder.layers.#.self_attn.q_proj", "encoder.layers.#.self_attn.k_proj", "encoder.layers.#.self_attn.v_proj"],
            "blocks.#.attn.qkv",
        ),
        Rename("encoder.layers.#.self_attn.out_proj", "blocks.#.attn.proj"),
        Rename("encoder.layers.#.layer_norm2", "blocks.#.norm2"),
        Rename("encoder.layers.#.mlp.fc1", "blocks.#.mlp.fc1"),
        Rename("encoder.layers.#.mlp.fc2", "blocks.#.mlp.fc2"),
    ],
};

/// transformers SiglipVisionModel / SiglipModel: keys under `vision_model.`; the attention
/// pooling `head` is not part of the token output.
static HF_SIGLIP: KeyMap = KeyMap {
    layout: "transformers SigLIP",
    anchor: "embeddings.patch_embedding.weight",
    rules: &[
        Rename("embeddings.patch_embedding", "patch_embed"),
        Squeeze("embeddings.position_embedding.weight", "pos_embed", 2),
        Rename("encoder.layers.#.layer_norm1", "blocks.#.norm1"),
        Fuse(
            ["encoder.layers.#.self_attn.q_proj", "encoder.layers.#.self_attn.k_proj", "encoder.layers.#.self_attn.v_proj"],
            "blocks.#.attn.qkv",
        ),
        Rename("encoder.layers.#.self_attn.out_proj", "blocks.#.attn.proj"),
        Rename("encoder.layers.#.layer_norm2", "blocks.#.norm2"),
        Rename("encoder.layers.#.mlp.fc1", "blocks.#.mlp.fc1"),
        Rename("encoder.layers.#.mlp.fc2", "blocks.#.mlp.fc2"),
        Rename("post_layernorm", "norm"),
    ],
};

/// transformers Dinov2Model / Dinov2WithRegistersModel (MLP or SwiGLU feed-forward).
static HF_DINOV2: KeyMap = KeyMap {
    layout: "transformers DINOv2",
    anchor: "embeddings.mask_token",
    rules: &[
        Rename("embeddings.patch_embeddings.projection", "patch_embed"),
        Squeeze("embeddings.cls_token", "cls_token", 1),
        Squeeze("embeddings.register_tokens", "reg_tokens", 2),
        Squeeze("embeddings.position_embeddings", "pos_embed", 2),
        Rename("encoder.layer.#.norm1", "blocks.#.norm1"),
        Fuse(
            [
                "encoder.layer.#.attention.attention.query",
                "encoder.layer.#.attention.attention.key",
                "encoder.layer.#.attention.attention.value",
            ],
            "blocks.#.attn.qkv",
        ),
        Rename("encoder.layer.#.attention.output.dense", "blocks.#.attn.proj"),
        Rename("encoder.layer.#.layer_scale1.lambda1", "blocks.#.ls1.gamma"),
        Rename("encoder.layer.#.norm2", "blocks.#.norm2"),
        Rename("encoder.layer.#.mlp.fc1", "blocks.#.mlp.fc1"),
        Rename("encoder.layer.#.mlp.weights_in", "blocks.#.mlp.fc1"),
        Rename("encoder.layer.#.mlp.fc2", "blocks.#.mlp.fc2"),
        Rename("encoder.layer.#.mlp.weights_out", "blocks.#.mlp.fc2"),
        Rename("encoder.layer.#.layer_scale2.lambda1", "blocks.#.ls2.gamma"),
        Rename("layernorm", "norm"),
    ],
};

/// transformers ViTModel and ViTMAEModel (keys under `vit.` in their task models), and the ViT
/// of DPTForDepthEstimation (under `dpt.`; its `neck.` and `head.` are not part of the tokens).
static HF_VIT: KeyMap = KeyMap {
    layout: "transformers ViT",
    anchor: "embeddings.patch_embeddings.projection.weight",
    rules: &[
        Rename("embeddings.patch_embeddings.projection", "patch_embed"),
        Squeeze("embeddings.cls_token", "cls_token", 1),
        Squeeze("embeddings.position_embeddings", "pos_embed", 2),
        Rename("encoder.layer.#.layernorm_before", "blocks.#.norm1"),
        Fuse(
            [
                "encoder.layer.#.attention.attention.query",
                "encoder.layer.#.attention.attention.key",
                "encoder.layer.#.attention.attention.value",
            ],
            "blocks.#.attn.qkv",
        ),
        Rename("encoder.layer.#.attention.output.dense", "blocks.#.attn.proj"),
        Rename("encoder.layer.#.layernorm_after", "blocks.#.norm2"),
        Rename("encoder.layer.#.intermediate.dense", "blocks.#.mlp.fc1"),
        Rename("encoder.layer.#.output.dense", "blocks.#.mlp.fc2"),
        Rename("layernorm", "norm"),
    ],
};

/// timm VisionTransformer, bare or as open_clip's `visual.trunk.`.
static TIMM: KeyMap = KeyMap {
    layout: "timm VisionTransformer",
    anchor: "patch_embed.proj.weight",
    rules: &[
        Rename("patch_embed.proj", "patch_embed"),
        Squeeze("cls_token", "cls_token", 1),
        Squeeze("reg_token", "reg_tokens", 2),
        Squeeze("pos_embed", "pos_embed", 2),
        Rename("norm_pre", "norm_pre"),
        Rename("blocks.#.norm1", "blocks.#.norm1"),
        Rename("blocks.#.attn.qkv", "blocks.#.attn.qkv"),
        Rename("blocks.#.attn.proj", "blocks.#.attn.proj"),
        Rename("blocks.#.ls1", "blocks.#.ls1"),
        Rename("blocks.#.norm2", "blocks.#.norm2"),
        Rename("blocks.#.mlp.fc1", "blocks.#.mlp.fc1"),
        Rename("blocks.#.mlp.fc2", "blocks.#.mlp.fc2"),
        Rename("blocks.#.ls2", "blocks.#.ls2"),
        Rename("norm", "norm"),
    ],
};

/// open_clip's own VisionTransformer, under `visual.` (`proj` maps to the joint embedding
/// and is not part of the token output).
static OPEN_CLIP: KeyMap = KeyMap {
    layout: "open_clip VisionTransformer",
    anchor: "class_embedding",
    rules: &[
        Rename("conv1", "patch_embed"),
        Squeeze("class_embedding", "cls_token", 1),
        Squeeze("positional_embedding", "pos_embed", 2),
        Rename("ln_pre", "norm_pre"),
        Rename("transformer.resblocks.#.ln_1", "blocks.#.norm1"),
        Rename("transformer.resblocks.#.attn.in_proj_weight", "blocks.#.attn.qkv.weight"),
        Rename("transformer.resblocks.#.attn.in_proj_bias", "blocks.#.attn.qkv.bias"),
        Rename("transformer.resblocks.#.attn.out_proj", "blocks.#.attn.proj"),
        Rename("transformer.resblocks.#.ls_1", "blocks.#.ls1"),
        Rename("transformer.resblocks.#.ln_2", "blocks.#.norm2"),
        Rename("transformer.resblocks.#.mlp.c_fc", "blocks.#.mlp.fc1"),
        Rename("transformer.resblocks.#.mlp.c_proj", "blocks.#.mlp.fc2"),
        Rename("transformer.resblocks.#.ls_2", "blocks.#.ls2"),
        Rename("ln_post", "norm"),
    ],
};

/// OpenGVLab's InternVisionModel (InternViT-300M-448px; under `vision_model.` in InternVL
/// chat checkpoints); `ls1`/`ls2` are bare [hidden] parameters.
static INTERN_VIT: KeyMap = KeyMap {
    layout: "InternViT",
    anchor: "embeddings.patch_embedding.weight",
    rules: &[
        Rename("embeddings.patch_embedding", "patch_embed"),
        Squeeze("embeddings.class_embedding", "cls_token", 1),
        Squeeze("embeddings.position_embedding", "pos_embed", 2),
        Rename("encoder.layers.#.norm1", "blocks.#.norm1"),
        Rename("encoder.layers.#.attn.qkv", "blocks.#.attn.qkv"),
        Rename("encoder.layers.#.attn.proj", "blocks.#.attn.proj"),
        Rename("encoder.layers.#.ls1", "blocks.#.ls1.gamma"),
        Rename("encoder.layers.#.norm2", "blocks.#.norm2"),
        Rename("encoder.layers.#.mlp.fc1", "blocks.#.mlp.fc1"),
        Rename("encoder.layers.#.mlp.fc2", "blocks.#.mlp.fc2"),
        Rename("encoder.layers.#.ls2", "blocks.#.ls2.gamma"),
    ],
};

pub fn key_map(layout: VitLayout) -> &'static KeyMap {
    match layout {
        VitLayout::HfClip => &HF_CLIP,
        VitLayout::HfSiglip => &HF_SIGLIP,
        VitLayout::HfDinov2 => &HF_DINOV2,
        VitLayout::HfVit | VitLayout::HfVitMae | VitLayout::HfDpt => &HF_VIT,
        VitLayout::Timm => &TIMM,
        VitLayout::OpenClip => &OPEN_CLIP,
        VitLayout::InternVit => &INTERN_VIT,
    }
}
