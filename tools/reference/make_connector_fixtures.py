"""Parity fixtures for cambrian's connectors (tests/connector_parity.rs).

LLaVA's mm_projector (llava/model/multimodal_projector/builder.py): `linear` = nn.Linear,
`mlp2x_gelu` = nn.Sequential(Linear, GELU, Linear), saved as LLaVA's stage-1 output
`mm_projector.bin` (keys `model.mm_projector.*`). Two encoders' maps (4×4×12 and 6×6×8) are
brought to 4×4 with F.interpolate(bilinear, align_corners=False), concatenated on channels
and projected to 16.

    python3 tools/reference/make_connector_fixtures.py
"""

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "connectors"


def to_grid(tokens, rows, cols, new_rows, new_cols):
    b, _, c = tokens.shape
    maps = tokens.view(b, rows, cols, c).permute(0, 3, 1, 2)
    maps = F.interpolate(maps, size=(new_rows, new_cols), mode="bilinear", align_corners=False)
    return maps.permute(0, 2, 3, 1).flatten(1, 2)


def save_projector(module, name):
    folder = OUT / name
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({f"model.mm_projector.{k}": v for k, v in module.state_dict().items()}, folder / "mm_projector.bin")


def main():
    torch.manual_seed(0)
    a, b = torch.randn(2, 16, 12), torch.randn(2, 36, 8)
    concat = torch.cat([a, to_grid(b, 6, 6, 4, 4)], dim=2)
    mlp = nn.Sequential(nn.Linear(20, 16), nn.GELU(), nn.Linear(16, 16))
    linear = nn.Linear(20, 16)
    save_projector(mlp, "mlp2x_gelu")
    save_projector(linear, "linear")
    with torch.no_grad():
        tensors = {"a": a, "b": b, "mlp2x_gelu": mlp(concat), "linear": linear(concat)}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT / "reference.safetensors"))


if __name__ == "__main__":
    main()
