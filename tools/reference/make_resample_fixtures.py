"""Reference outputs of torch.nn.functional.interpolate(mode="bilinear", align_corners=False)
for cambrian's feature-map interpolation (Cambrian-1's `interp`; tests/feature_interpolation.rs).

Writes tests/fixtures/resample/bilinear.safetensors:
  <case>.input   [B, rows*cols, C]  token grids, row-major
  <case>.output  [B, new_rows*new_cols, C]
  metadata <case> = "rows,cols,new_rows,new_cols"
and `clip_tokens9`: the hf-clip-vision fixture's reference features (4×4) resized to 3×3.

    python3 tools/reference/make_resample_fixtures.py
"""

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "resample" / "bilinear.safetensors"

# DINOv2@518 (37² → 24²), SAM (64² → 24²), ConvNeXt stages (32², 16² → 24²), an upsampling,
# non-square grids growing and shrinking each axis, and a single cell.
CASES = {
    "dinov2_518": (37, 37, 24, 24, 2), "sam": (64, 64, 24, 24, 1), "convnext_32": (32, 32, 24, 24, 1),
    "convnext_16": (16, 16, 24, 24, 1), "up": (5, 5, 8, 8, 3), "oblong": (6, 9, 4, 5, 2),
    "grow_both": (7, 5, 9, 11, 2), "grow_rows": (7, 5, 10, 3, 2), "point": (7, 5, 1, 1, 2),
}


def resize(tokens, rows, cols, new_rows, new_cols):
    """Cambrian's DinoVisionTower.interpolate, for any grid."""
    b, _, c = tokens.shape
    maps = tokens.view(b, rows, cols, c).permute(0, 3, 1, 2)
    maps = F.interpolate(maps, size=(new_rows, new_cols), mode="bilinear", align_corners=False)
    return maps.permute(0, 2, 3, 1).flatten(1, 2).contiguous()


def main():
    g = torch.Generator().manual_seed(0)
    tensors, metadata = {}, {}
    for name, (rows, cols, new_rows, new_cols, channels) in CASES.items():
        tokens = torch.randn(2, rows * cols, channels, generator=g)
        tensors[f"{name}.input"] = tokens
        tensors[f"{name}.output"] = resize(tokens, rows, cols, new_rows, new_cols)
        metadata[name] = f"{rows},{cols},{new_rows},{new_cols}"
    clip = load_file(ROOT / "tests/fixtures/encoders/hf-clip-vision/reference.safetensors")["features"]
    tensors["clip_tokens9"] = resize(clip, 4, 4, 3, 3)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(OUT), metadata=metadata)
    print(f"{OUT}: {OUT.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
