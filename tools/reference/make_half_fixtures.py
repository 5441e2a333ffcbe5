"""Half-precision references for `--dtype bf16|f16` (tests/half_precision.rs).

For existing fixtures (transformers folders), the same model run by transformers with its
weights and activations in bfloat16 and in float16, on the inputs of the fixture's f32
reference: the encoders on its `pixels`, the LLM on its `prompt_ids` (logits of every prompt
position). Writes `reference-half.safetensors` beside each fixture's `reference.safetensors`
with `<output>_bf16` and `<output>_f16`, upcast to f32. Run from the repository root, after
the fixtures it reads:

    python3 tools/reference/make_half_fixtures.py

CI never runs this; its outputs are committed.
"""

from pathlib import Path

import torch
import transformers as tf
from safetensors.torch import load_file, save_file

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"
DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16}

# Fixture folder, the model class, and the features the f32 reference holds.
ENCODERS = {
    "hf-clip-vision": (tf.CLIPVisionModel, lambda out: out.hidden_states[-2][:, 1:]),
    "hf-siglip": (tf.SiglipVisionModel, lambda out: out.last_hidden_state),
    "hf-dinov2": (tf.Dinov2Model, lambda out: out.last_hidden_state[:, 1:]),
}
LLMS = ["llama-gqa-rope-llama3", "qwen2-bias-tied"]


def encoder_case(name, model_class, features):
    folder = FIXTURES / "encoders" / name
    pixels = load_file(folder / "reference.safetensors")["pixels"]
    out = {}
    for label, dtype in DTYPES.items():
        model = model_class.from_pretrained(folder, dtype=dtype, attn_implementation="sdpa").eval()
        with torch.inference_mode():
            result = model(pixel_values=pixels.to(dtype), output_hidden_states=True)
        out[f"features_{label}"] = features(result).float().contiguous()
    save_file(out, folder / "reference-half.safetensors")


def llm_case(name):
    folder = FIXTURES / "llm" / name
    ids = load_file(folder / "reference.safetensors")["prompt_ids"]
    out = {}
    for label, dtype in DTYPES.items():
        model = tf.AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, attn_implementation="sdpa").eval()
        with torch.inference_mode():
            logits = model(input_ids=ids[None]).logits[0]
        out[f"prompt_logits_{label}"] = logits.float().contiguous()
    save_file(out, folder / "reference-half.safetensors")


def main():
    for name, (model_class, features) in ENCODERS.items():
        encoder_case(name, model_class, features)
    for name in LLMS:
        llm_case(name)
    print(f"torch {torch.__version__}, transformers {tf.__version__}")


if __name__ == "__main__":
    main()
