"""The comparison steps of tools/gpu/check.sh; each prints one markdown table row.

    python3 tools/gpu/compare.py features NAME DTYPE CPU.safetensors GPU.safetensors TRUTH.safetensors
        the `features` of two `cambrian encode` outputs: max |Δ| and the relative norm
        ‖gpu − cpu‖ / ‖cpu‖ of the device's against the CPU's in the same dtype, and the
        relative norm of the device's against the CPU's f32 features (TRUTH). Tolerances:
        f32, max |Δ| ≤ 1e-4 (the parity fixtures' bound against PyTorch on identical pixels);
        bf16, relative norm against the f32 truth ≤ 2e-2 (PyTorch's own bf16 is 0.7–1.2 %
        off its f32 on these fixtures, README "Commands"). Exit 1 when over.
    python3 tools/gpu/compare.py train OURS_STEPS_PER_SEC TORCH.json WARMUP
        PyTorch's steps/s and tokens/s from tools/bench/train.py's JSON (the first WARMUP steps
        left out, as `cambrian bench train` counts) and ours ÷ PyTorch.

Needs numpy and safetensors.
"""

import json
import sys

import numpy as np
from safetensors.numpy import load_file

TOLERANCES = {"f32": ("max |Δ|", 1e-4), "bf16": ("rel. norm vs f32", 2e-2)}


def features(name, dtype, cpu_path, gpu_path, truth_path):
    cpu, gpu, truth = (load_file(p)["features"].astype(np.float64) for p in (cpu_path, gpu_path, truth_path))
    if not (cpu.shape == gpu.shape == truth.shape):
        print(f"| {name} | {dtype} | shapes differ: cpu {cpu.shape}, device {gpu.shape}, f32 {truth.shape} | | | FAIL |")
        return 1
    max_abs = float(np.abs(gpu - cpu).max())
    rel = float(np.linalg.norm(gpu - cpu) / np.linalg.norm(cpu))
    rel_truth = float(np.linalg.norm(gpu - truth) / np.linalg.norm(truth))
    measure, bound = TOLERANCES[dtype]
    value = max_abs if dtype == "f32" else rel_truth
    verdict = "ok" if value <= bound else f"FAIL (> {bound:g})"
    print(f"| {name} | {dtype} | {list(gpu.shape)} | {max_abs:.2e} | {rel:.2e} | {rel_truth:.2e} | {verdict} |")
    return 0 if value <= bound else 1


def train(ours_steps_per_sec, torch_json, warmup):
    with open(torch_json) as f:
        steps = json.loads(f.read().strip().splitlines()[-1])
    secs = sum(steps["step_secs"][warmup:])
    positions = sum(steps["positions"][warmup:])
    timed = len(steps["step_secs"]) - warmup
    if timed <= 0 or secs <= 0:
        print(f"| PyTorch | no timed steps ({len(steps['step_secs'])} reported) | | |")
        return 1
    per_step = timed / secs
    memory = steps.get("peak_device_mib", steps["peak_rss_mib"])
    print(f"| PyTorch | {per_step:.3f} | {positions / secs:.1f} | {memory:.0f} |")
    print(f"| ours ÷ PyTorch | {ours_steps_per_sec / per_step:.2f}× | | |")
    return 0


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "features" and len(args) == 5:
        return features(*args)
    if command == "train" and len(args) == 3:
        return train(float(args[0]), args[1], int(args[2]))
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
