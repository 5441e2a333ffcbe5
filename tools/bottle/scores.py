"""Per-run scores of a sweep of the synthetic suite: image and blind (likelihood), and each
task's generation score with the image.

    python3 tools/bottle/scores.py RESULTS/SWEEP
"""
import glob
import json
import sys

for run in sorted(glob.glob(f"{sys.argv[1]}/*/eval/synth.image.json")):
    image, blind = json.load(open(run)), json.load(open(run.replace(".image.", ".no-image.")))
    parts = image["generation"]["parts"]
    tasks = " ".join(f"{t.split()[1]} {parts[t]:.1f}" for t in ("2D Count", "2D Relation", "3D Depth", "3D Distance"))
    print(f"{run.split('/')[-3]:<40} image {100 * image['generation']['score']:.1f}  "
          f"blind {100 * blind['likelihood']['score']:.1f}  {tasks}")
