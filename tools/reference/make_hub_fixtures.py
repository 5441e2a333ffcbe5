"""Writes tests/fixtures/hub/ for tests/hub_dataset.rs: a dataset repository folder as
`datasets` writes one, and a parquet file in a codec the crate does not read.

* repo/data/test-0000K-of-00002.parquet: one split in two shards, written by
  `datasets.Dataset.to_parquet`, with every feature kind the suite's benchmarks use: strings,
  int8/int16/int64, float64, bool, nulls, Image() (bytes; a path only; null), a list of images
  (SEED's `image`), lists of strings (the child is called `element` by this pyarrow), and a nested
  dict with a list inside (MathVista's `metadata`). The images are tiny PNGs in RGB, RGBA, L and P
  modes, so that decoding can be compared with PIL's `.convert("RGB")` exactly.
* repo/pictures/row1.png: the file of the image stored as a path only.
* expected.json: every row as PIL and pyarrow read it (images as [width, height, RGB bytes]).
* brotli.parquet: two rows compressed with brotli (pyarrow), which the crate does not read.

Needs: pip install datasets pillow pyarrow (written with datasets 5.2.0, pyarrow 26.0.1, Pillow 13.0.0).
Run from the repository root: python tools/reference/make_hub_fixtures.py
"""

import io
import json
import os

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Features, Image, Sequence, Value
from PIL import Image as PImage

OUT = "tests/fixtures/hub"


def png(mode, size, color):
    image = PImage.new(mode, size, color)
    if mode == "P":
        image.putpalette([200, 10, 20, 30, 40, 250] + [0] * 762)
        image.putpixel((0, 0), 1)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def rgb(data):
    image = PImage.open(io.BytesIO(data)).convert("RGB")
    return [image.width, image.height, list(image.tobytes())]


def main():
    os.makedirs(f"{OUT}/repo/pictures", exist_ok=True)
    # `datasets` sizes path-only images relative to the working directory: the repository's root
    os.chdir(f"{OUT}/repo")
    path_only = png("RGB", (2, 2), (9, 8, 7))
    with open("pictures/row1.png", "wb") as file:
        file.write(path_only)

    features = Features(
        {
            "question": Value("string"),
            "answer": Value("int8"),
            "index": Value("int64"),
            "question_type_id": Value("int16"),
            "precision": Value("float64"),
            "isBalanced": Value("bool"),
            "hint": Value("string"),
            "image": Image(),
            "frames": Sequence(Image()),
            "choices": Sequence(Value("string")),
            "metadata": {"category": Value("string"), "img_width": Value("int64"), "skills": Sequence(Value("string"))},
        }
    )
    images = [
        {"bytes": png("RGB", (3, 2), (1, 2, 3)), "path": "row0.png"},
        {"bytes": None, "path": "pictures/row1.png"},
        None,
        {"bytes": png("L", (2, 1), 77), "path": None},
        {"bytes": png("P", (2, 2), 0), "path": "palette.png"},
    ]
    frames = [
        [{"bytes": png("RGBA", (1, 1), (10, 20, 30, 0)), "path": None}],
        [],
        [{"bytes": png("RGB", (1, 1), (5, 5, 5)), "path": "a.png"}, {"bytes": png("RGB", (1, 2), (6, 6, 6)), "path": "b.png"}],
        [],
        [],
    ]
    table = {
        "question": ["What is shown?", "Is it red?", "Ünïcode, \"quotes\"\nand a newline", "", "Last"],
        "answer": [0, 1, -3, 127, -128],
        "index": [10, 11, 12, 2**40, -1],
        "question_type_id": [1, 9, 12, 300, -300],
        "precision": [1.0, None, 2.5, -0.125, 1e300],
        "isBalanced": [True, False, True, None, False],
        "hint": ["nan", "", None, "a hint", "x"],
        "image": images,
        "frames": frames,
        "choices": [["A", "B"], [], None, ["only"], ["x", "y", "z"]],
        "metadata": [
            {"category": "scene", "img_width": 640, "skills": ["a", "b"]},
            {"category": "math", "img_width": 1, "skills": []},
            {"category": None, "img_width": None, "skills": None},
            {"category": "c", "img_width": 0, "skills": ["only"]},
            {"category": "d", "img_width": -5, "skills": ["x"]},
        ],
    }
    split = datasets.Dataset.from_dict(table, features=features)
    # two shards, as `datasets` names them: rows 0-2 and 3-4
    split.select(range(3)).to_parquet("data/test-00000-of-00002.parquet")
    split.select(range(3, 5)).to_parquet("data/test-00001-of-00002.parquet")

    rows = []
    for shard in ["test-00000-of-00002", "test-00001-of-00002"]:
        for row in pq.read_table(f"data/{shard}.parquet").to_pylist():
            image = row["image"]
            if image is not None:
                data = image["bytes"] if image["bytes"] is not None else path_only
                row["image"] = {"path": image["path"], "has_bytes": image["bytes"] is not None, "rgb": rgb(data)}
            row["frames"] = [{"path": f["path"], "has_bytes": True, "rgb": rgb(f["bytes"])} for f in row["frames"]]
            rows.append(row)
    with open("../expected.json", "w") as file:
        json.dump(rows, file, indent=1, ensure_ascii=False)
        file.write("\n")

    brotli = pa.table({"question": ["a", "b"], "answer": ["x", "y"]})
    pq.write_table(brotli, "../brotli.parquet", compression="brotli")


if __name__ == "__main__":
    main()
