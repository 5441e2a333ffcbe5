"""The PyTorch side of `cambrian bench train`: the same stage-2 training steps as ours, as an
eager PyTorch/transformers loop. Reads the workload that `cambrian bench train` writes
(workload.json: the encoder's spec, the LLM folder, and every step's examples as token ids,
answer marks and the image's place) and prints one JSON line: step_secs, positions (per
step, pads excluded), peak_rss_mib, about.

    python3 tools/bench/train.py --workload WORK/workload.json --threads 2

The model: the encoder that tools/bench/encoders.py builds from the same spec (random weights,
frozen, run under torch.no_grad), LLaVA's mlp2x_gelu projector with Cambrian's image_newline
after each row, and transformers' LlamaForCausalLM loaded from the folder `cambrian init-llm`
wrote. A step: load and preprocess the images, encode, project, splice the image tokens into
the text embeddings at the placeholder, right-pad with zeros, the causal-LM loss over the
answer tokens (labels -100 elsewhere), backward, clip_grad_norm_(max_grad_norm), AdamW
(PyTorch's defaults, weight decay 0), zero_grad. With a feature cache (`features` per
example: the safetensors entry ours filled, its `tokens` [tokens, channels]) a step loads
those files instead of loading and encoding the images. Needs torch, transformers, timm,
Pillow, safetensors.

`--device cuda` runs it on the GPU (TF32 off, as our f32 is; peak_device_mib is
torch.cuda.max_memory_reserved). `--precision`: `f32` (default); `bf16-mixed`, PyTorch AMP as
the HF Trainer's `--bf16` runs it: f32 parameters, gradients and AdamW state, the forward
(encoder, connector, LLM) under `torch.autocast(dtype=torch.bfloat16)`, no loss scaling
(bf16 keeps f32's exponent range); `bf16`, every parameter, gradient and optimizer state in
bf16.

    python3 tools/bench/train.py --workload WORK/workload.json --device cuda --precision bf16-mixed

Without `--precision`, the workload's `precision` (what `bench train --precision` wrote) is used.
"""

import argparse
import json
import resource
import sys
import time
import tomllib

import torch
import torch.nn.functional as F
import transformers as tf
from PIL import Image
from safetensors.torch import load_file

from encoders import REFERENCES, open_device

# The dtype parameters are stored in, per --precision.
PARAMETERS = {"f32": torch.float32, "bf16-mixed": torch.float32, "bf16": torch.bfloat16}

FILTERS = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "lanczos": Image.LANCZOS}


def load_image(path, pre):
    """Cambrian's process_images: pad to a square in the pad colour, resize the square to
    crop × crop, normalise; [3, crop, crop]."""
    image = Image.open(path).convert("RGB")
    if pre.get("pad_to_square") and image.width != image.height:
        side = max(image.size)
        colour = tuple(pre.get("pad_colour") or [int(255 * m) for m in pre["mean"]])
        square = Image.new("RGB", (side, side), colour)
        square.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
        image = square
    crop = pre["crop_size"]
    image = image.resize((crop, crop), FILTERS[pre.get("interpolation", "bicubic")])
    pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).view(crop, crop, 3).permute(2, 0, 1)
    mean, std = (torch.tensor(pre[k]).view(3, 1, 1) for k in ("mean", "std"))
    return (pixels.float() / 255 - mean) / std


class Connector(torch.nn.Module):
    """LLaVA's mlp2x_gelu projector, then Cambrian's learned image_newline after each row."""

    def __init__(self, channels, hidden, grid, newline):
        super().__init__()
        self.projector = torch.nn.Sequential(torch.nn.Linear(channels, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, hidden))
        self.grid = grid
        self.image_newline = torch.nn.Parameter(torch.randn(hidden) * hidden**-0.5) if newline else None

    def forward(self, features):
        """[images, rows × cols, channels] → [images, rows × (cols + 1), hidden]"""
        x = self.projector(features)
        if self.image_newline is None:
            return x
        (images, _, hidden), (rows, cols) = x.shape, self.grid
        newline = self.image_newline.view(1, 1, 1, hidden).expand(images, rows, 1, hidden)
        return torch.cat([x.view(images, rows, cols, hidden), newline], 2).flatten(1, 2)


def splice(examples, image_embeds, embed, max_length):
    """Input embeddings [batch, positions, hidden] right-padded with zeros, labels [batch,
    positions] (the token at answer positions, -100 elsewhere), and the positions before padding."""
    device = image_embeds.device
    longest_text = max(len(e["ids"]) for e in examples)
    ids = torch.tensor([e["ids"] + [0] * (longest_text - len(e["ids"])) for e in examples], device=device)
    text = embed(ids)
    rows, labels, shown = [], [], iter(image_embeds)
    for b, example in enumerate(examples):
        n, at = len(example["ids"]), example["image_at"]
        tokens = torch.tensor(example["ids"], device=device)
        label = torch.where(torch.tensor(example["targets"], device=device), tokens, -100)
        if at is None:
            row = text[b, :n]
        else:
            image = next(shown).to(text.dtype)  # autocast's bf16 projector output, as the text's type
            row = torch.cat([text[b, :at], image, text[b, at:n]])
            label = torch.cat([label[:at], torch.full((image.shape[0],), -100, device=device), label[at:]])
        rows.append(row[:max_length])
        labels.append(label[:max_length])
    longest = max(len(r) for r in rows)
    embeds = torch.stack([F.pad(r, (0, 0, 0, longest - len(r))) for r in rows])
    labels = torch.stack([F.pad(l, (0, longest - len(l)), value=-100) for l in labels])
    return embeds, labels, sum(len(r) for r in rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--precision", choices=list(PARAMETERS), help="default: the workload's, else f32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = open_device(args.device)
    cuda = device.type == "cuda"
    torch.manual_seed(0)
    with open(args.workload) as f:
        work = json.load(f)
    precision = args.precision or work.get("precision", "f32")
    dtype = PARAMETERS[precision]
    # bf16-mixed: the forward under autocast; otherwise a no-op context.
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16-mixed")
    with open(work["encoder"], "rb") as f:
        spec = tomllib.load(f)

    vision, encode = REFERENCES[spec["architecture"]["kind"]](spec)
    vision.eval().requires_grad_(False).to(device, dtype)
    llm = tf.LlamaForCausalLM.from_pretrained(work["llm"], dtype=dtype).to(device)
    llm.train()
    rows, cols = work["grid"]
    connector = Connector(work["channels"], llm.config.hidden_size, (rows, cols), work["image_newline"]).to(device, dtype)
    params = [*connector.parameters(), *llm.parameters()]
    optimizer = torch.optim.AdamW(params, lr=work["lr"], weight_decay=0.0)
    embed = llm.get_input_embeddings()

    cached = all(e.get("features") for step in work["steps"] for e in step if e["image_at"] is not None)
    step_secs, positions = [], []
    for examples in work["steps"]:
        start = time.perf_counter()
        shown = [e for e in examples if e["image_at"] is not None]
        with autocast:
            if cached:
                features = torch.stack([load_file(e["features"])["tokens"] for e in shown]).to(device, dtype)
            else:
                with torch.no_grad():
                    pixels = torch.stack([load_image(e["image"], spec["preprocess"]) for e in shown]).to(device, dtype)
                    # The encoders' tokens as ours hands them on: the grid, without class or register tokens.
                    features = encode(pixels)[:, -rows * cols :]
            embeds, labels, count = splice(examples, connector(features), embed, work["max_length"])
            loss = llm(inputs_embeds=embeds, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, work["max_grad_norm"])
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()  # waits for the device
        step_secs.append(time.perf_counter() - start)
        positions.append(count)

    about = (
        f"torch {torch.__version__}, transformers {tf.__version__}, threads {torch.get_num_threads()}, "
        f"attention {llm.config._attn_implementation}, encoder {type(vision).__module__}.{type(vision).__name__}, "
        f"precision {precision}"
        + (f", {torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})" if cuda else "")
        + (", features from the cache" if cached else "")
    )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result = {"step_secs": step_secs, "positions": positions, "peak_rss_mib": peak_mib, "about": about}
    if cuda:
        result["peak_device_mib"] = torch.cuda.max_memory_reserved(device) / 2**20
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
