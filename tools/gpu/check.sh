#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU and the carried binary, in under 8 minutes,
#   1. features: `cambrian encode` on the GPU against the CPU, same fixture weights, one
#      fixture per encoder architecture (tests/fixtures/encoders), in f32 and bf16;
#   2. `bench encoders` in bf16 against PyTorch on CUDA (bf16, SDPA);
#   3. `bench train` (f32, and bf16-mixed where the binary has `--precision`) against
#      tools/bench/train.py on CUDA (f32; bf16-mixed as PyTorch AMP);
#   4. `bench generate` in bf16 against transformers on CUDA;
#   5. peak device memory (nvidia-smi, sampled every 0.5 s) and the kernel cache's folder;
# and writes one report, OUT/report.md. Each step has its own time limit; a step that fails
# or times out is marked in the report and the script exits 1; a skipped step says why.
#
# Usage: tools/gpu/check.sh --out DIR [--cambrian BIN|BIN.xz] [--python PY] [--dry-run]
#   --cambrian   default target/release/cambrian; a .xz file is unpacked into OUT/work first
#   --python     an interpreter with torch, transformers, timm, numpy, safetensors (default python3)
#   --dry-run    the same steps with --device cpu and a smaller encoder benchmark (or DEVICE=cpu)
# Assumes: run from anywhere inside the repository (it changes to the root: the bench
# scripts, fixtures and specs are read from there); the binary built with `--features cuda`
# (tools/build-cuda.sh); for the LLVM PTX compiler, libdevice.10.bc: CUDA_PATH, a toolkit in
# /usr/local/cuda, or pip's nvidia-cuda-nvcc or triton (found and used when CUDA_PATH is unset).
set -euo pipefail

say() { printf 'check: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }

out="" cambrian="" python="python3" device="${DEVICE:-cuda}"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --out) [[ $# -ge 2 ]] || die "--out needs a folder"; out="$2"; shift 2 ;;
        --cambrian) [[ $# -ge 2 ]] || die "--cambrian needs a file"; cambrian="$2"; shift 2 ;;
        --python) [[ $# -ge 2 ]] || die "--python needs an interpreter"; python="$2"; shift 2 ;;
        --dry-run) device=cpu; shift ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ -n "$out" ]] || die "--out DIR is required"
case "$device" in cpu|cuda) ;; *) die "DEVICE must be cuda or cpu, not '$device'" ;; esac

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$out/work"
rm -rf "$work"
mkdir -p "$work"
report="$out/report.md"
body="$work/report.md.partial"
: > "$body"
failed=0 skipped=0

cambrian="${cambrian:-$repo/target/release/cambrian}"
[[ -f "$cambrian" ]] || die "no cambrian binary at $cambrian (build it with tools/build-cuda.sh)"
if [[ "$cambrian" == *.xz ]]; then
    xz -dc "$cambrian" > "$work/cambrian"
    chmod +x "$work/cambrian"
    cambrian="$work/cambrian"
fi
command -v "$python" >/dev/null || die "no python interpreter '$python'"
"$python" -c 'import numpy, safetensors' 2>/dev/null || die "$python lacks numpy or safetensors (compare.py needs them)"

# The reference (PyTorch) runs where ours does. The dry run has smaller workloads (below) and
# time limits LIMIT_SCALE times the GPU's (default 4): the CPU is slow, not the steps shorter.
if [[ "$device" == cuda ]]; then torch_device=cuda scale=1; else torch_device=cpu scale="${LIMIT_SCALE:-4}"; fi

# The LLVM PTX compiler links libdevice.10.bc for exp, erf, tanh...: find one when the
# toolkit is not where cubecl looks (CUDA_PATH, /usr/local/cuda, /opt/cuda, /usr/lib/cuda, /usr).
libdevice_note="not needed (CPU)"
if [[ "$device" == cuda ]]; then
    if [[ -n "${CUDA_PATH:-}" ]]; then
        libdevice_note="CUDA_PATH=$CUDA_PATH (given)"
    elif compgen -G "/usr/local/cuda/nvvm/libdevice/libdevice.10.bc" >/dev/null; then
        libdevice_note="/usr/local/cuda"
    else
        found="$("$python" - <<'EOF' 2>/dev/null || true
import glob, site, sys
roots = site.getsitepackages() + [site.getusersitepackages()]
for pattern in ("nvidia/cuda_nvcc/nvvm/libdevice/libdevice.10.bc", "nvidia/cu*/nvvm/libdevice/libdevice.10.bc",
                "triton/backends/nvidia/lib/libdevice.10.bc"):
    for root in roots:
        hits = sorted(glob.glob(f"{root}/{pattern}"))
        if hits:
            print(hits[0]); sys.exit()
EOF
)"
        if [[ -n "$found" ]]; then
            mkdir -p "$work/cuda/nvvm/libdevice"
            ln -s "$found" "$work/cuda/nvvm/libdevice/libdevice.10.bc"
            export CUDA_PATH="$work/cuda"
            libdevice_note="$found (through CUDA_PATH=$CUDA_PATH)"
        else
            libdevice_note="none found: kernels calling exp, erf, tanh will fail to compile"
        fi
    fi
fi

section() { printf '\n## %s\n\n' "$1" >> "$body"; say "$1"; }
note() { printf '%s\n' "$*" >> "$body"; }
# run LIMIT LABEL CMD...: runs CMD with a time limit, its output in a code block.
run() {
    local limit=$(($1 * scale)) label="$2"; shift 2
    local start=$SECONDS rc=0
    timeout "$limit" "$@" > "$work/step.log" 2>&1 || rc=$?
    { printf '`%s` (%d s)\n\n```\n' "$label" $((SECONDS - start)); tail -n 60 "$work/step.log"; printf '```\n\n'; } >> "$body"
    if [[ $rc -eq 124 ]]; then
        note "**FAILED: timed out after ${limit} s**"; failed=$((failed + 1)); return 1
    elif [[ $rc -ne 0 ]]; then
        note "**FAILED: exit $rc**"; failed=$((failed + 1)); return 1
    fi
}
skip() { note "**skipped: $***"; skipped=$((skipped + 1)); say "skipped: $*"; }

# Peak device memory over the whole check.
mem_pid=""
if [[ "$device" == cuda ]] && command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 > "$work/memory.log" 2>/dev/null &
    mem_pid=$!
fi
cache_dir="${CAMBRIAN_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cambrian/cubecl}"
cache_before="$(du -sk "$cache_dir" 2>/dev/null | cut -f1 || true)"
started=$SECONDS

# 1. Features: one fixture per architecture (kind and checkpoint layout).
section "1. Features: $device against the CPU, same weights"
fixtures=(hf-clip-vision hf-siglip hf-dinov2-reg-swiglu timm-vit-cls moco-v3-pth-tar eva02-clip
          open-clip-convnext-last sam-tiny hf-dpt hf-dpt-beit diffusers-sd2)
images=(tests/fixtures/images/scene-61x47.png tests/fixtures/images/tall-38x70.png tests/fixtures/images/demo-96x72.jpg)
note "Fixtures (random weights in each real format) on ${#images[@]} images; tolerances in tools/gpu/compare.py."
note ""
note "| fixture | dtype | shape | max abs diff | rel. norm vs CPU | rel. norm vs CPU f32 | verdict |"
note "|---|---|---|---|---|---|---|"
features_start=$SECONDS
features_limit=$((200 * scale))
encode() {  # encode FIXTURE DEVICE DTYPE OUT
    local dir="tests/fixtures/encoders/$1" source
    if [[ -f "$dir/spec.toml" ]]; then source=(--encoder "$dir/spec.toml"); else source=(--weights "$dir"); fi
    timeout $((60 * scale)) "$cambrian" -q --device "$2" --dtype "$3" encode "${source[@]}" --out "$4" "${images[@]}" \
        > "$work/encode.log" 2>&1
}
for fixture in "${fixtures[@]}"; do
    if (( SECONDS - features_start > features_limit )); then
        note "| $fixture | | | | | | **FAILED: not reached within ${features_limit} s** |"; failed=$((failed + 1)); continue
    fi
    for dtype in f32 bf16; do
        cpu="$work/$fixture-cpu-$dtype.safetensors" gpu="$work/$fixture-$device-$dtype.safetensors"
        if ! encode "$fixture" cpu "$dtype" "$cpu" || ! encode "$fixture" "$device" "$dtype" "$gpu"; then
            note "| $fixture | $dtype | | | | | **FAILED**: $(tail -n 1 "$work/encode.log" | tr '|' '/') |"
            failed=$((failed + 1)); continue
        fi
        "$python" tools/gpu/compare.py features "$fixture" "$dtype" "$cpu" "$gpu" \
            "$work/$fixture-cpu-f32.safetensors" >> "$body" || failed=$((failed + 1))
    done
done
note ""
note "Took $((SECONDS - features_start)) s."

# 2. The encoder benchmark in bf16.
section "2. bench encoders, bf16, against PyTorch ($torch_device, bf16, SDPA)"
if [[ "$device" == cuda ]]; then
    bench_encoders=(--encoder clip-vit-l-14-336 --encoder siglip-so400m-14-384 --encoder dinov2-vit-l-14-518 --batch-size 8 --warmup 2 --iters 5)
else
    # The smallest preset (`bench encoders` takes presets: PyTorch builds encoders/NAME.toml).
    bench_encoders=(--encoder moco-v3-vit-b-16 --batch-size 1 --warmup 1 --iters 1)
fi
run 150 "cambrian --device $device --dtype bf16 bench encoders ${bench_encoders[*]}" \
    "$cambrian" --device "$device" --dtype bf16 bench encoders "${bench_encoders[@]}" --python "$python" || true

# 3. Training steps: f32, then bf16-mixed (PyTorch AMP) where the binary has --precision.
section "3. bench train against tools/bench/train.py ($torch_device)"
if [[ "$device" == cuda ]]; then train_shape=(--steps 6 --warmup 2); else train_shape=(--steps 1 --warmup 1 --layers 2); fi
train_once() {  # train_once PRECISION: ours via bench train (its table), PyTorch on the same workload
    local precision="$1" dir="$work/train-$1" flag=()
    [[ "$precision" == f32 ]] || flag=(--precision "$precision")
    run 90 "cambrian --device $device bench train ${flag[*]} ${train_shape[*]} --no-reference --work …" \
        "$cambrian" --device "$device" bench train "${flag[@]}" "${train_shape[@]}" --no-reference --work "$dir" || return 0
    local ours
    ours="$(awk '$1 == "ours" { print $2 }' "$work/step.log")"
    [[ -n "$ours" ]] || { note "**FAILED: no \`ours\` row in bench train's table**"; failed=$((failed + 1)); return 0; }
    run 90 "python3 tools/bench/train.py --device $torch_device --precision $precision" \
        "$python" tools/bench/train.py --workload "$dir/workload.json" --device "$torch_device" --precision "$precision" || return 0
    cp "$work/step.log" "$dir/torch.json"
    note "| $precision | steps/s | tokens/s | peak MiB |"
    note "|---|---|---|---|"
    note "| ours | $ours | (above) | (above) |"
    "$python" tools/gpu/compare.py train "$ours" "$dir/torch.json" "${train_shape[3]}" >> "$body" || failed=$((failed + 1))
    note ""
}
train_once f32
if "$cambrian" bench train --help 2>/dev/null | grep -q -- '--precision'; then
    train_once bf16-mixed
else
    skip "bf16-mixed training: this cambrian's \`bench train\` has no --precision (the mixed-precision change is not in this build)"
fi

# 4. Generation.
section "4. bench generate, bf16, against transformers ($torch_device)"
if [[ "$device" == cuda ]]; then generate=(); else generate=(--hidden-size 256 --layers 2 --vocab 1000 --prompt-tokens 16 --new-tokens 8 --iters 1); fi
run 60 "cambrian --device $device --dtype bf16 bench generate ${generate[*]}" \
    "$cambrian" --device "$device" --dtype bf16 bench generate "${generate[@]}" --python "$python" || true

# 5. Memory and the kernel cache.
section "5. Peak device memory and the kernel cache"
if [[ -n "$mem_pid" ]]; then
    kill "$mem_pid" 2>/dev/null || true
    wait "$mem_pid" 2>/dev/null || true
    note "Peak GPU memory in use over the check (nvidia-smi, every 0.5 s, all processes): $(sort -n "$work/memory.log" | tail -n 1) MiB."
    note "Per measurement: the peak MiB columns above (ours: the CubeCL allocator's reserved bytes; PyTorch: max_memory_reserved)."
else
    skip "device memory: no GPU (the peak MiB columns above are resident memory)"
fi
cache_after="$(du -sk "$cache_dir" 2>/dev/null | cut -f1 || true)"
note ""
note "Kernel cache: \`$cache_dir\`, ${cache_before:-0} KiB before, ${cache_after:-0} KiB after."
if [[ "$device" == cuda ]] && ! compgen -G "$cache_dir/*.db" >/dev/null; then
    note "**FAILED: no CubeCL environment database (*.db) in the kernel cache's folder**"; failed=$((failed + 1))
fi

{
    printf '# GPU check, %s\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf -- '- device: %s%s\n' "$device" "$([[ "$device" == cpu ]] && printf ' (dry run)')"
    if [[ "$device" == cuda ]]; then
        printf -- '- GPU: %s\n' "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi not found')"
        printf -- '- libdevice: %s\n' "$libdevice_note"
    fi
    printf -- '- cambrian: %s (%s bytes)\n' "$cambrian" "$(stat -c %s "$cambrian")"
    printf -- '- python: %s\n' "$("$python" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "CUDA", torch.version.cuda)' 2>&1 | tail -n 1)"
    printf -- '- CPU: %s, %s cores\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" "$(nproc)"
    printf -- '- took %d s; %d failed, %d skipped\n' $((SECONDS - started)) "$failed" "$skipped"
    cat "$body"
} > "$report.tmp"
mv "$report.tmp" "$report"
say "report: $report ($failed failed, $skipped skipped)"
[[ $failed -eq 0 ]]
