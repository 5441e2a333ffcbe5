#!/bin/bash
# Recipe D5 (docs/BOTTLE.md) through `cambrian` itself: synth data, one pre-trained tiny ViT
# per objective, a random-init control, stage 1 on the 4000 captions with the LLM trained,
# stage 2 on the 1000 Depth conversations (first turn only) for 5 epochs, scored with and
# without the image. A search aid for issue 18, not the quick-start.
#
#   tools/bottle/rust_probe.sh WORK [OBJECTIVE ...] [-- SEEDS]
#   tools/bottle/rust_probe.sh /tmp/probe segment classify -- 0 1 2 3
#
# Stage-2 variants by environment: TASKS (comma-separated of depth, distance, relation,
# count; default depth), LR2 (3e-3), EPOCHS2 (5), and stage 1's LR1 (3e-3), EPOCHS1 (1);
# NAME (d5) names the sweep; PRETRAIN_ARGS go to every `cambrian pretrain` (use a new WORK
# when they change).
# Needs a release build (cargo build --release) and python3 (for the stage-2 filter).
# WORK/res/NAME/results.csv and WORK/res/NAME/*/eval/synth.*.json hold the scores per task.
set -euo pipefail
name=${NAME:-d5}; tasks=${TASKS:-depth}; lr2=${LR2:-3e-3}; epochs2=${EPOCHS2:-5}
lr1=${LR1:-3e-3}; epochs1=${EPOCHS1:-1}
stage2=synth/train/${tasks//,/-}.json
work=$1; shift
objectives=(); seeds=(0 1)
while [ $# -gt 0 ]; do
    if [ "$1" = "--" ]; then shift; seeds=("$@"); break; fi
    objectives+=("$1"); shift
done
[ ${#objectives[@]} -gt 0 ] || objectives=(contrastive masked classify depth segment denoise)
repo=$(cd "$(dirname "$0")/../.." && pwd)
cambrian=$repo/target/release/cambrian
mkdir -p "$work" && cd "$work"

[ -d synth ] || "$cambrian" -q synth --samples 800 --train-samples 4000 --open-samples 100 --size 64 --seed 0 --out synth
[ -d llm ] || "$cambrian" -q init-llm --corpus synth/train/pretrain.json synth/train/instruct.json \
    synth/test_2d.jsonl synth/test_3d.jsonl --hidden-size 64 --intermediate-size 172 --layers 2 --heads 4 \
    --kv-heads 2 --seed 0 --out llm
TASKS=$tasks STAGE2=$stage2 python3 - <<'EOF'
import json, os, sys
phrases = {"depth": "closer to the camera", "distance": "real-world distances",
           "relation": "relative positions", "count": "How many"}
tasks = os.environ["TASKS"].split(",")
if unknown := [t for t in tasks if t not in phrases]:
    sys.exit(f"TASKS: unknown {', '.join(unknown)}; choose from {', '.join(phrases)}")
records = json.load(open("synth/train/instruct.json"))[:4000]
picked = [dict(r, conversations=r["conversations"][:2]) for r in records
          if any(phrases[t] in r["conversations"][0]["value"] for t in tasks)]
json.dump(picked, open(os.environ["STAGE2"], "w"))
EOF

entries="random = { name = \"$repo/sweeps/encoders/tiny-vit.toml\", init = \"random\" }"
choices='["random"]'
for objective in "${objectives[@]}"; do
    [ -f "$objective/encoder.safetensors" ] || "$cambrian" -q pretrain --objective "$objective" \
        --encoder "$repo/sweeps/encoders/tiny-vit.toml" --data synth --steps 400 --batch-size 64 --seed 0 ${PRETRAIN_ARGS:-} --out "$objective"
    entries+=$'\n'"$objective = { name = \"$objective/encoder.toml\", weights = \"$objective/encoder.safetensors\" }"
    choices+=", [\"$objective\"]"
done

cat > "$name.toml" <<EOF
name = "$name"

[encoders]
$entries

[base]
llm = "llm"
template = "vicuna_v1"
max_length = 512

[base.connector]
projector = "mlp2x_gelu"
grid = [4, 4]

[base.stage1]
data = "synth/train/pretrain.json"
images = "synth"
batch_size = 16
lr = $lr1
epochs = $epochs1
train_llm = true

[base.stage2]
data = "$stage2"
images = "synth"
batch_size = 16
lr = $lr2
epochs = $epochs2

[[axes]]
encoders = [$choices]
seed = [$(IFS=,; echo "${seeds[*]}")]

[[benchmarks]]
name = "synth"
path = "synth"
vision = ["image", "no-image"]
EOF
"$cambrian" sweep "$name.toml" --results res
python3 "$repo/tools/bottle/scores.py" "res/$name"
