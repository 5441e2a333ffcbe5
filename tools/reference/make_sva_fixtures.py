"""Parity fixtures for Cambrian-1's Spatial Vision Aggregator (tests/sva_parity.rs).

The released module code is run, not copied: the files below are read from a Cambrian
checkout at the pinned commit (fetched into a temporary folder, never committed) and
imported with stubs for what a test does not need (the vision towers, whose features are
given directly; `ezcolorlog`; `torch_xla`, whose presence selects the training path):

    cambrian/model/vision_sampler.py          VisionTokenSampler and its layers
    cambrian/model/cambrian_arch.py           CambrianMetaModel, prepare_inputs_labels_for_multimodal
    cambrian/model/language_model/cambrian_llama.py   CambrianLlamaModel.forward (in-LLM SVA)
    cambrian/train/train_fsdp.py              prepare_multimodal_data (the padding masks)

`CambrianLlamaModel.forward` was written for transformers 4.4x on TPUs; shims let it run
on 5.x on a CPU: the removed `modeling_attn_mask_utils` (its causal-mask helper returns the
explicit additive causal mask), decoder layers that take the old call (`layer(h,
attention_mask, position_ids, ...)`, returning a tuple) and compute their rotary tables from
`position_ids`, and one edit of the fetched file: the image tokens' hidden states, a strided
slice, are flattened with `.reshape` where the XLA path says `.view` (XLA tensors have no
strides; eager PyTorch refuses the view; the values are the same).

Cases (tests/fixtures/sva/<case>/, weights rounded to bf16 and stored so, the reference run
in float32 on the rounded weights):

- `connector`: four encoders (4×4, 8×8, 4×4, 4×4 maps, so m = 1, 2, 1, 1 on the 4×4 query
  grid), two query groups (4×4 and 2×2, the second resized bilinearly), depth 2, width 32,
  three images (square, wide with windows of padding alone, tall); saved as the stage-1
  adapter `mm_projector.bin` (keys as `safe_save_model_for_hf_trainer` keeps them).
  `reference.safetensors`: the encoder features (`features_{i}`), the images' (width,
  height) before padding (`image_sizes`), the masks of `prepare_multimodal_data`
  (`masks_{i}`, 1 where the image is), and the image embeddings with their newlines as
  spliced into the LLM input (`image_embeds`).
- `in-llm`: two encoders (4×4 and 8×8), one group, depth 1, `connector_only = False` with
  two samplers after decoder layers 0 and 2 of a 3-layer Llama (hidden 32); saved as a full
  checkpoint `model.safetensors` + `config.json` in Cambrian's key names. The reference also
  holds the text ids before and after the image (`text_before`, `text_after`) and the
  logits of `CambrianLlamaModel.forward` (XLA path) over the whole sequence (`logits`).

    python3 tools/reference/make_sva_fixtures.py [--cambrian REPO] [--commit SHA]

REPO: a local git repository of cambrian-mllm/cambrian (bare or not) or a URL (default
GitHub). Made with torch 2.15.0 and transformers 5.24.0. CI never runs this.
"""

import argparse
import ast
import importlib.util
import json
import logging
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "sva"
URL = "https://github.com/cambrian-mllm/cambrian"
COMMIT = "539ffc3254bba004e5d012b65c0ad6cb308897c5"
FILES = [
    "cambrian/constants.py",
    "cambrian/model/vision_sampler.py",
    "cambrian/model/cambrian_arch.py",
    "cambrian/model/language_model/cambrian_llama.py",
    "cambrian/train/train_fsdp.py",
]
# safe_save_model_for_hf_trainer (train_fsdp.py): what stage 1 saves and trains.
ADAPTER_KEYS = ["mm_projector", "pos_emb", "vision_sampler", "vision_sampler_layers", "vision_query", "image_newline"]


def fetch(repo, commit, dest):
    """Writes FILES at `commit` of `repo` (a local git repository or a URL) under `dest`."""
    if not Path(repo).exists():
        clone = Path(dest) / "clone.git"
        subprocess.run(["git", "clone", "--bare", "--filter=blob:none", repo, str(clone)], check=True)
        repo = str(clone)
    for path in FILES:
        text = subprocess.run(["git", "-C", repo, "show", f"{commit}:{path}"], check=True, capture_output=True).stdout
        target = Path(dest) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text)


def patch_for_cpu(src):
    """The one edit of the released code (see the module docstring)."""
    path = src / "cambrian/model/language_model/cambrian_llama.py"
    text = path.read_text()
    view = "latent_query = latent_query.view(bs*latent_query_num, 1, -1)"
    assert text.count(view) == 1, "the released line to patch moved"
    path.write_text(text.replace(view, view.replace(".view(", ".reshape(")))


def package(name):
    module = types.ModuleType(name)
    module.__path__ = []
    sys.modules[name] = module
    return module


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def released_functions(path, names, namespace):
    """The named top-level functions of a released file, run in `namespace` (train_fsdp.py
    imports the whole trainer; only its data helpers are needed)."""
    tree = ast.parse(Path(path).read_text())
    nodes = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    exec(compile(ast.Module(body=nodes, type_ignores=[]), str(path), "exec"), namespace)
    return [namespace[n] for n in names]


class Tower:
    """Stands for a vision tower: its features are the test's input."""

    def __init__(self, hidden_size):
        self.hidden_size = hidden_size

    def __call__(self, features):
        return features


def import_cambrian(src):
    """Imports the released modules from `src`. Returns the language-model module, the
    decoder-layer shim, and the tower builder stub (set its `widths` before building)."""
    import transformers
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    ezcolorlog = types.ModuleType("ezcolorlog")
    ezcolorlog.root_logger = logging.getLogger("cambrian")
    sys.modules["ezcolorlog"] = ezcolorlog

    mask_utils = types.ModuleType("transformers.modeling_attn_mask_utils")

    def causal_mask(attention_mask, shape, inputs_embeds, past_key_values_length):
        assert attention_mask is None and past_key_values_length == 0
        batch, length = shape
        mask = torch.full((length, length), torch.finfo(inputs_embeds.dtype).min).triu(1)
        return mask[None, None].expand(batch, 1, length, length)

    mask_utils.AttentionMaskConverter = None
    mask_utils._prepare_4d_attention_mask = None
    mask_utils._prepare_4d_causal_attention_mask = causal_mask
    mask_utils._prepare_4d_causal_attention_mask_for_sdpa = causal_mask
    sys.modules[mask_utils.__name__] = mask_utils
    transformers.modeling_attn_mask_utils = mask_utils

    package("cambrian")
    load("cambrian.constants", src / "cambrian/constants.py")
    utils = types.ModuleType("cambrian.utils")
    utils.IS_XLA_AVAILABLE = True
    sys.modules["cambrian.utils"] = utils
    package("cambrian.model")
    package("cambrian.model.multimodal_encoder")
    builder = types.ModuleType("cambrian.model.multimodal_encoder.builder")
    builder.widths = []
    builder.build_vision_tower_aux_list = lambda config, delay_load=False: [Tower(w) for w in builder.widths]
    sys.modules[builder.__name__] = builder
    package("cambrian.model.multimodal_projector")
    projector = types.ModuleType("cambrian.model.multimodal_projector.builder")
    projector.build_vision_projector = None
    sys.modules[projector.__name__] = projector
    load("cambrian.model.vision_sampler", src / "cambrian/model/vision_sampler.py")
    load("cambrian.model.cambrian_arch", src / "cambrian/model/cambrian_arch.py")
    package("cambrian.model.language_model")
    llama = load("cambrian.model.language_model.cambrian_llama", src / "cambrian/model/language_model/cambrian_llama.py")

    class OldCallLayer(LlamaDecoderLayer):
        """The transformers 4.4x call the released forward makes."""

        def forward(self, hidden_states, attention_mask=None, position_ids=None, past_key_value=None, output_attentions=False, use_cache=False):
            rotary = self.rotary[0](hidden_states, position_ids)
            out = super().forward(hidden_states, attention_mask=attention_mask, position_ids=position_ids, position_embeddings=rotary)
            return (out,)

    return llama, OldCallLayer, builder


def build(llama, old_call_layer, case, seed):
    config = llama.CambrianConfig(
        vocab_size=case["vocab"],
        hidden_size=case["llm_hidden"],
        intermediate_size=case["llm_intermediate"],
        num_hidden_layers=case["llm_layers"],
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        rms_norm_eps=1e-6,
        attn_implementation="eager",
    )
    sva = dict(
        mm_projector_type="sva",
        mm_vision_tower_aux_list=[f"tower-{i}" for i in range(len(case["channels"]))],
        mm_vision_tower_aux_token_len_list=case["tokens"],
        image_token_len=case["image_token_len"],
        num_query_group=len(case["query_num_list"]),
        query_num_list=case["query_num_list"],
        connector_depth=case["connector_depth"],
        vision_hidden_size=case["vision_hidden_size"],
        connector_only=case["connector_only"],
        num_of_vision_sampler_layers=case["num_of_vision_sampler_layers"],
        start_of_vision_sampler_layers=case["start_of_vision_sampler_layers"],
        stride_of_vision_sampler_layers=case["stride_of_vision_sampler_layers"],
        image_position=case["image_position"],
        pretraining_tp=1,
    )
    for key, value in sva.items():
        setattr(config, key, value)
    torch.manual_seed(seed)
    model = llama.CambrianLlamaForCausalLM(config).eval()
    inner = model.get_model()
    for layer in inner.layers:
        layer.__class__ = old_call_layer
        layer.rotary = [inner.rotary_emb]
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2 and "embed_tokens" not in name and "pos_embed" not in name and "vision_query" not in name:
                bound = p.shape[1] ** -0.5
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)
            elif name.endswith("norm.weight") or ".3.weight" in name or "_proj.0.weight" in name or "layernorm" in name:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * (0.2 if name.endswith("bias") else 1.0))
            p.copy_(p.bfloat16().float())
    return model, config


def run(model, prepare_multimodal_data, case, seed):
    """The training path: the collator's `prepare_multimodal_data`, then
    `prepare_inputs_labels_for_multimodal` and `CambrianLlamaModel.forward` with XLA on."""
    from cambrian.constants import IMAGE_TOKEN_INDEX

    gen = torch.Generator().manual_seed(seed + 1)
    sizes = case["image_sizes"]
    batch = len(sizes)
    features = [torch.randn(batch, n, c, generator=gen) for n, c in zip(case["tokens"], case["channels"])]
    before = torch.randint(0, case["vocab"], (batch, case["image_position"]), generator=gen)
    after = torch.randint(0, case["vocab"], (batch, case["text_after"]), generator=gen)
    input_ids = torch.cat([before, torch.full((batch, 1), IMAGE_TOKEN_INDEX), after], 1)
    attention = torch.ones_like(input_ids, dtype=torch.bool)
    ids, _, _, _, masks = prepare_multimodal_data(
        input_ids, input_ids.clone(), attention, sizes, case["image_token_len"], case["tokens"], max_length=4096
    )
    with torch.no_grad():
        _, _, _, _, embeds, _, final_features, final_masks, final_size, context = model.prepare_inputs_labels_for_multimodal(
            ids, None, None, None, None, features, masks, sizes
        )
        hidden = model.get_model()(
            inputs_embeds=embeds,
            use_cache=False,
            output_attentions=False,
            output_hidden_states=False,
            return_dict=False,
            vision_tower_aux_feature_list=final_features,
            vision_tower_aux_attention_masks_list=final_masks,
            final_vision_feature_size=final_size,
            global_context_feature=context,
        )[0]
        logits = model.lm_head(hidden)
    side = int(case["image_token_len"] ** 0.5)
    start = case["image_position"]
    tensors = {"image_sizes": torch.tensor(sizes, dtype=torch.int64), "image_embeds": embeds[:, start : start + side * (side + 1)]}
    if not case["connector_only"]:
        tensors.update({"text_before": before, "text_after": after, "logits": logits})
    tensors.update({f"features_{i}": f for i, f in enumerate(features)})
    tensors.update({f"masks_{i}": m.to(torch.int64) for i, m in enumerate(masks)})
    return tensors


CASES = {
    "connector": dict(
        channels=[24, 16, 20, 12],
        tokens=[16, 64, 16, 16],
        image_token_len=16,
        query_num_list=[16, 4],
        connector_depth=2,
        vision_hidden_size=32,
        connector_only=True,
        num_of_vision_sampler_layers=10,
        start_of_vision_sampler_layers=16,
        stride_of_vision_sampler_layers=1,
        image_sizes=[[50, 50], [64, 20], [30, 40]],
        vocab=32,
        llm_hidden=32,
        llm_intermediate=32,
        llm_layers=1,
        image_position=2,
        text_after=2,
    ),
    "in-llm": dict(
        channels=[24, 16],
        tokens=[16, 64],
        image_token_len=16,
        query_num_list=[16],
        connector_depth=1,
        vision_hidden_size=32,
        connector_only=False,
        num_of_vision_sampler_layers=2,
        start_of_vision_sampler_layers=0,
        stride_of_vision_sampler_layers=2,
        image_sizes=[[40, 30], [30, 44]],
        vocab=48,
        llm_hidden=32,
        llm_intermediate=48,
        llm_layers=3,
        image_position=3,
        text_after=5,
    ),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cambrian", default=URL, help="a git repository of cambrian-mllm/cambrian, local or a URL")
    parser.add_argument("--commit", default=COMMIT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fetch(args.cambrian, args.commit, tmp)
        src = Path(tmp)
        patch_for_cpu(src)
        llama, old_call_layer, builder = import_cambrian(src)
        from cambrian.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX

        namespace = {"torch": torch, "IGNORE_INDEX": IGNORE_INDEX, "IMAGE_TOKEN_INDEX": IMAGE_TOKEN_INDEX}
        names = ["get_padding_offset", "prepare_image_info", "prepare_multimodal_data", "get_mm_adapter_state_maybe_zero_3"]
        *_, prepare_multimodal_data, adapter_state = released_functions(src / "cambrian/train/train_fsdp.py", names, namespace)
        for seed, (name, case) in enumerate(CASES.items()):
            builder.widths[:] = case["channels"]
            model, config = build(llama, old_call_layer, case, seed)
            tensors = run(model, prepare_multimodal_data, case, seed)
            out = OUT / name
            out.mkdir(parents=True, exist_ok=True)
            if case["connector_only"]:
                adapter = adapter_state(model.named_parameters(), ADAPTER_KEYS)
                torch.save({k: v.bfloat16() for k, v in adapter.items()}, out / "mm_projector.bin")
            else:
                weights = {k: v.bfloat16().contiguous() for k, v in model.state_dict().items()}
                save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
                config.to_json_file(str(out / "config.json"), use_diff=False)
            metadata = {"cambrian_commit": args.commit, "case": json.dumps(case)}
            save_file({k: v.contiguous() for k, v in tensors.items()}, str(out / "reference.safetensors"), metadata=metadata)
            print(name, {k: tuple(v.shape) for k, v in tensors.items()})


if __name__ == "__main__":
    main()
