"""Benchmark-suite fixtures (tests/benchmark_suite.rs): a Hugging Face hub cache holding a few rows
of every dataset the benchmark presets read, and the prompts Cambrian-1's own evaluation code
builds for those rows.

`tests/fixtures/benchmarks/hub/` has the layout huggingface_hub writes: per dataset repo
`datasets--ORG--NAME/refs/main` (the commit sha, no newline), `blobs/<etag>` (sha256 of the file for
LFS files: parquet and images; the git blob sha1 for the others: README.md, csv) and
`snapshots/<sha>/<path in repo>`, a relative symlink into `blobs/`. Commits are the real ones where
benchmarks.md §3.1 knows them, else the sha1 of "fixture <repo id>". The parquet files are written
by `datasets` itself (`Dataset.shard(contiguous=True)` + `to_parquet`, as `push_to_hub` shards), with
the columns and feature types the dataset cards declare (benchmarks.md §2; `[inferred]` there is
marked here too), so their `huggingface` schema metadata is the real thing; images are 8x8 PNG or
JPEG. Each repo gets a README.md whose `configs` front matter gives the data files, as on the hub.

`tests/fixtures/benchmarks/without-column/ChartQA/` is ChartQA's test split without its `type`
column, as `hf download --local-dir` lays a repository out.

`tests/fixtures/benchmarks/prompts.json` records, per preset, what Cambrian's
`eval/eval/<b>/<b>_eval.py` (cambrian-mllm/cambrian at CAMBRIAN_REV) builds for each question: the
user message `qs` and the full vicuna_v1 prompt. They come from running Cambrian's own `process`
functions / `CustomDataset` classes, extracted from the scripts with `ast`, with its own
`conversation.py` and `constants.py`; `tokenizer_image_token` is replaced by a recorder of the prompt
it is given (no model, tokenizer or torch needed). The rows are read back from the cache the way
Cambrian reads them: `load_dataset` on the snapshot (its README configs), `hf_hub_download` for
MMVP, offline. What the scripts do in their `eval_model` loops (SEED's multi-image skip, GQA's image
join, MMVP's CSV reading, the ground truth each reads) is reproduced below,
with file and line. Each question also records its ground truth as the scorers' `Truth` holds it:
the row's answer(s), choices, category, type and source as the eval script reads them.
CV-Bench has no Cambrian script: its prompt is the inferred one of benchmarks.md §2.15.

    pip install "datasets==2.21.0" "pyarrow==16.1.0" "numpy<2" pillow
    python3 tools/reference/make_benchmark_fixtures.py [--cambrian REPO]

`--cambrian` is a git repository of cambrian-mllm/cambrian holding CAMBRIAN_REV, local or a URL
(default: a bare partial clone from GitHub into a temporary folder); nothing of it is committed.

Made with datasets 2.21.0 and pyarrow 16.1.0 (a `datasets` of the time lmms-lab wrote the files
Cambrian reads: `Sequence` in the features metadata, where datasets >= 4 writes `List`),
huggingface_hub 2.4.0, Pillow 13.0.0. CI never runs this; its outputs are committed (about 210 KB).
"""

import argparse
import ast
import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import types
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "benchmarks"
HUB = OUT / "hub"
CAMBRIAN_URL = "https://github.com/cambrian-mllm/cambrian"
CAMBRIAN_REV = "539ffc3254bba004e5d012b65c0ad6cb308897c5"
KNOWN_SHAS = {  # benchmarks.md §3.1
    "lmms-lab/textvqa": "9c0699cd19768ac5ab97568f6b3cbac4c0062884",
    "lmms-lab/GQA": "a6e72d6e1b912da88af8b2f9eba05d5ea8ec2dd8",
    "nyu-visionx/CV-Bench": "bc284db50d036958861cb60cdd7b77612052ce0d",
}
LFS_SUFFIXES = (".parquet", ".png", ".jpg")  # stored through LFS by the hub's default .gitattributes


# ---------------------------------------------------------------------------------------------
# Tiny images


def image_bytes(colour, fmt="PNG"):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format=fmt)
    return buffer.getvalue()


def img(colour, fmt="PNG"):
    """A value of an `Image()` feature as the hub's parquet files hold it."""
    return {"bytes": image_bytes(colour, fmt), "path": None}


RED, GREEN, BLUE, GREY, YELLOW, CYAN = (200, 30, 30), (30, 200, 30), (30, 30, 200), (128, 128, 128), (220, 220, 0), (0, 200, 200)


# ---------------------------------------------------------------------------------------------
# The hub cache


class CachedRepo:
    """One dataset repo in the hub cache, written as huggingface_hub writes a download."""

    def __init__(self, repo_id):
        self.repo_id = repo_id
        self.sha = KNOWN_SHAS.get(repo_id) or hashlib.sha1(f"fixture {repo_id}".encode()).hexdigest()
        self.dir = HUB / ("datasets--" + repo_id.replace("/", "--"))
        (self.dir / "refs").mkdir(parents=True, exist_ok=True)
        (self.dir / "refs" / "main").write_text(self.sha)
        self.snapshot = self.dir / "snapshots" / self.sha

    def add(self, path_in_repo, data):
        if path_in_repo.endswith(LFS_SUFFIXES):
            etag = hashlib.sha256(data).hexdigest()
        else:
            etag = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        blob = self.dir / "blobs" / etag
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        pointer = self.snapshot / path_in_repo
        pointer.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, pointer.parent), pointer)

    def add_readme(self, configs):
        """`configs`: {config name: {split: data_files pattern}}, as the card's front matter."""
        lines = ["---", "configs:"]
        for name, splits in configs.items():
            lines += [f"- config_name: {name}", "  data_files:"]
            for split, pattern in splits.items():
                lines += [f"  - split: {split}", f"    path: {pattern}"]
        lines += ["---", "", f"Test fixture: a few rows in the layout and feature types of {self.repo_id}.", ""]
        self.add("README.md", "\n".join(lines).encode())

    def add_parquet(self, prefix, rows, features, shards=1):
        for path, data in parquet_files(prefix, rows, features, shards):
            self.add(path, data)


def parquet_files(prefix, rows, features, shards=1):
    """`rows` as `{prefix}-0000i-of-0000n.parquet` files, sharded as push_to_hub shards;
    `shards=None`: one file, `{prefix}.parquet`. Yields (path, bytes)."""
    import datasets

    table = datasets.Dataset.from_list(rows, features=datasets.Features(features)).select_columns(list(features))
    for i in range(shards or 1):
        shard = table.shard(num_shards=shards, index=i, contiguous=True) if shards else table
        with tempfile.NamedTemporaryFile(suffix=".parquet") as tmp:
            shard.to_parquet(tmp.name)
            yield (f"{prefix}-{i:05d}-of-{shards:05d}.parquet" if shards else f"{prefix}.parquet"), Path(tmp.name).read_bytes()


def parquet_repo(repo_id, splits, features, config="default", readme=True):
    """`splits`: {split: (file prefix, rows, shards)}."""
    repo = CachedRepo(repo_id)
    for prefix, rows, shards in splits.values():
        repo.add_parquet(prefix, rows, features, shards)
    if readme:
        repo.add_readme({config: {split: f"{prefix}-*" for split, (prefix, _, _) in splits.items()}})
    return repo


# ---------------------------------------------------------------------------------------------
# The datasets (columns and types: benchmarks.md §2 and the cards)


def build_cache():
    from datasets import Image as Img
    from datasets import Sequence, Value

    S, I8, I16, I32, I64, F64 = (Value(t) for t in ("string", "int8", "int16", "int32", "int64", "float64"))

    # MME: four shards as on the hub; pairs are adjacent rows (acc+), the last straddles two shards.
    mme = [
        ("artwork/10002.jpg", RED, "Is this artwork created by maris, jacob? Please answer yes or no.", "Yes", "artwork"),
        ("artwork/10002.jpg", RED, "Is this artwork created by bacciccio? Please answer yes or no.", "No", "artwork"),
        ("000000006040.jpg", GREEN, "Is there a train in this image? Please answer yes or no.", "Yes", "existence"),
        ("000000006040.jpg", GREEN, "Is there a bed in this image? Please answer yes or no.", "No", "existence"),
        ("0020.png", BLUE, "Is a c++ code shown in the picture? Please answer yes or no.", "Yes", "code_reasoning"),
        ("0020.png", BLUE, "Is a python code shown in the picture? Please answer yes or no.", "No", "code_reasoning"),
    ]
    parquet_repo(
        "lmms-lab/MME",
        {"test": ("data/test", [dict(question_id=q, image=img(c), question=t, answer=a, category=k) for q, c, t, a, k in mme], 4)},
        dict(question_id=S, image=Img(), question=S, answer=S, category=S),
    )

    # MMBench_EN: "nan" marks an absent hint or option [inferred from Cambrian's code].
    def mmbench(index, question, hint, options, answer, category, colour, split="dev"):
        options = (options + ["nan"] * 4)[:4]
        row = dict(index=index, question=question, hint=hint, answer=answer, category=category, image=img(colour))
        row.update(zip("ABCD", options))
        row.update({"source": "reasonseg", "l2-category": "attribute_reasoning", "comment": "nan", "split": split})
        return row

    mmbench_features = {"index": I64, "question": S, "hint": S, "A": S, "B": S, "C": S, "D": S, "answer": S, "category": S,
                        "image": Img(), "source": S, "l2-category": S, "comment": S, "split": S}
    parquet_repo(
        "lmms-lab/MMBench_EN",
        {
            "dev": ("data/dev", [
                mmbench(0, "Which category does this image belong to?", "nan", ["Oil Paint", "Sketch", "Digital art", "Photo"], "A", "image_style", RED),
                mmbench(1, "What will happen next?", "The man is holding a ball above his head.", ["he throws it", "he eats it", "he sleeps"], "A", "future_prediction", GREEN),
                mmbench(2, "Which option describes the object relationship in the image correctly?", "nan", ["The suitcase is on the book.", "The suitcase is beneath the book."], "B", "spatial_relationship", BLUE),
            ], 1),
            "test": ("data/test", [mmbench(3, "Which is the main topic of the image?", "nan", ["A dog", "A cat"], "", "image_topic", GREY, "test")], 1),
        },
        mmbench_features,
    )

    # SEED-Bench: `image` is a list of images, several frames for the video questions, which
    # Cambrian skips. Types after lmms-lab/SEED-Bench-2's card [inferred for SEED-Bench].
    def seed(qid, question, choices, answer, type_id, frames, data_type="image"):
        row = dict(answer=answer, data_id=f"{qid}.jpg", data_type=data_type, question=question, question_id=str(qid),
                   question_type_id=type_id, image=[img(c) for c in frames])
        row.update(zip(["choice_a", "choice_b", "choice_c", "choice_d"], choices))
        return row

    parquet_repo(
        "lmms-lab/SEED-Bench",
        {"test": ("data/test", [
            seed(101669, "How many towels are in the image?", ["One", "Two", "Three", "Four"], "A", 5, [RED]),
            seed(101670, "What is the man doing?", ["Running", "Sitting", "Reading", "Cooking"], "B", 2, [GREEN]),
            seed(1000, "What action is being performed?", ["Opening a door", "Closing a door", "Waving", "Jumping"], "C", 10, [BLUE, GREY, YELLOW], "video"),
            seed(101671, "Where is the cat relative to the sofa?", ["On it", "Under it", "Beside it", "Behind it"], "D", 4, [CYAN]),
        ], 2)},
        {"answer": S, "choice_a": S, "choice_b": S, "choice_c": S, "choice_d": S, "data_id": S, "data_type": S, "question": S,
         "question_id": S, "question_type_id": I16, "image": Sequence(Img())},
    )

    # GQA: two configs, questions and images, joined on imageId.
    gqa = CachedRepo("lmms-lab/GQA")
    types_feature = {"structural": S, "semantic": S, "detailed": S}
    gqa.add_parquet("testdev_balanced_instructions/testdev", [
        dict(id="201307251", imageId="n161313", question="Is it overcast?", answer="no", fullAnswer="No, it is clear.", isBalanced=True,
             types=dict(structural="verify", semantic="global", detailed="weatherVerify")),
        dict(id="201640614", imageId="n235859", question="Who is wearing a shirt?", answer="girl", fullAnswer="The girl is wearing a shirt.",
             isBalanced=True, types=dict(structural="query", semantic="rel", detailed="relS")),
        dict(id="20968379", imageId="n161313", question="What color is the sky?", answer="blue", fullAnswer="The sky is blue.",
             isBalanced=True, types=dict(structural="query", semantic="attr", detailed="directOf")),
    ], dict(id=S, imageId=S, question=S, answer=S, fullAnswer=S, isBalanced=Value("bool"), types=types_feature))
    gqa.add_parquet("testdev_balanced_images/testdev",
                    [dict(id="n235859", image=img(RED)), dict(id="n161313", image=img(BLUE)), dict(id="n999999", image=img(GREY))],
                    dict(id=S, image=Img()))
    gqa.add_readme({"testdev_balanced_instructions": {"testdev": "testdev_balanced_instructions/testdev-*"},
                    "testdev_balanced_images": {"testdev": "testdev_balanced_images/testdev-*"}})

    # ScienceQA (derek-thomas): the full test split; text-only rows have a null image.
    def sqa(question, choices, answer, hint, colour, grade):
        return dict(image=img(colour) if colour else None, question=question, choices=choices, answer=answer, hint=hint,
                    task="closed choice", grade=grade, subject="natural science", topic="physics", category="Velocity",
                    skill="Compare magnitudes", lecture="", solution="")

    parquet_repo(
        "derek-thomas/ScienceQA",
        {"test": ("data/test", [
            sqa("Which figure of speech is used in this text?", ["simile", "metaphor"], 1, "Read the text.", None, "grade8"),
            sqa("Which animal's feet are also adapted for swimming?", ["duck", "cat", "hen"], 0, "", RED, "grade3"),
            sqa("What is the capital of Utah?", ["Salt Lake City", "Provo", "Ogden", "Denver"], 0, "", None, "grade4"),
            sqa("Which of these states is farthest north?", ["Iowa", "Texas"], 0, "Figure: a map of the United States.", GREEN, "grade5"),
        ], 1)},
        dict(image=Img(), question=S, choices=Sequence(S), answer=I8, hint=S, task=S, grade=S, subject=S, topic=S, category=S,
             skill=S, lecture=S, solution=S),
    )

    # MMMU: options is a Python-literal list as a string; image_1 ... image_7 columns.
    def mmmu(qid, question, options, answer, qtype, images):
        row = dict(id=qid, question=question, options=options, explanation="", answer=answer, topic_difficulty="Medium",
                   question_type=qtype, subfield="Finance", img_type="['Tables']")
        for i in range(1, 8):
            row[f"image_{i}"] = img(images[i - 1]) if i <= len(images) and images[i - 1] else None
        return row

    mmmu_features = dict(id=S, question=S, options=S, explanation=S, **{f"image_{i}": Img() for i in range(1, 8)},
                         img_type=S, answer=S, topic_difficulty=S, question_type=S, subfield=S)
    parquet_repo(
        "lmms-lab/MMMU",
        {
            "validation": ("data/validation", [
                mmmu("validation_Accounting_1", "Which bar in <image 1> is the tallest?", "['2019', '2020', '2021']", "B", "multiple-choice", [RED]),
                mmmu("validation_Art_2", "<image 1> <image 2> Which painting is older?", str(["The artist's first", "The artist's second"]),
                     "A", "multiple-choice", [GREEN, BLUE]),
                mmmu("validation_Math_3", "What is the value of x in <image 1>?", "[]", "12", "open", [GREY]),
                mmmu("validation_Physics_4", "  A ball falls for 2 s from rest. How far does it fall (in m, g = 10)?", "[]", "20", "open", []),
            ], 1),
            "dev": ("data/dev", [mmmu("dev_Accounting_1", "What is shown in <image 1>?", "['A table', 'A chart']", "A", "multiple-choice", [CYAN])], 1),
        },
        mmmu_features,
    )

    # MathVista: `query` holds the whole prompt; `image` is a path string, `decoded_image` the pixels.
    def mathvista(pid, question, query, choices, answer, qtype, atype, precision, category, colour):
        metadata = dict(category=category, context="bar chart", grade="high school", img_height=8, img_width=8,
                        language="english", skills=["statistical reasoning"], source="ChartQA", split="testmini", task="figure question answering")
        return dict(pid=pid, question=question, image=f"images/{pid}.jpg", decoded_image=img(colour), choices=choices, unit=None,
                    precision=precision, answer=answer, question_type=qtype, answer_type=atype, metadata=metadata, query=query)

    metadata_feature = dict(category=S, context=S, grade=S, img_height=I64, img_width=I64, language=S, skills=Sequence(S),
                            source=S, split=S, task=S)
    parquet_repo(
        "AI4Math/MathVista",
        {"testmini": ("data/testmini", [
            mathvista("1", "Which bar is the longest?",
                      "Hint: Please answer the question and provide the correct option letter, e.g., A, B, C, D, at the end.\n"
                      "Question: Which bar is the longest?\nChoices:\n(A) red\n(B) green\n(C) blue",
                      ["red", "green", "blue"], "green", "multi_choice", "text", None, "math-targeted-vqa", RED),
            mathvista("2", "How many bars are there?",
                      "Hint: Please answer the question requiring an integer answer and provide the final value, e.g., 1, 2, 3, at the end.\n"
                      "Question: How many bars are there?", None, "3", "free_form", "integer", None, "general-vqa", GREEN),
            mathvista("3", "What is the ratio of the two bars?",
                      "Hint: Please answer the question requiring a floating-point number with one decimal place and provide the final value, "
                      "e.g., 1.2, 1.3, 1.4, at the end.\nQuestion: What is the ratio of the two bars?", None, "1.5", "free_form", "float", 1.0,
                      "math-targeted-vqa", BLUE),
        ], 1)},
        dict(pid=S, question=S, image=S, decoded_image=Img(), choices=Sequence(S), unit=S, precision=F64, answer=S,
             question_type=S, answer_type=S, metadata=metadata_feature, query=S),
    )

    # AI2D: answer is the option's index as a string.
    parquet_repo(
        "lmms-lab/ai2d",
        {"test": ("data/test", [
            dict(question="Which label shows the sun?", options=["A", "B", "C", "D"], answer="2", image=img(YELLOW)),
            dict(question="What does the caterpillar eat?", options=["leaves", "birds", "fish"], answer="0", image=img(GREEN)),
            dict(question="Which stage comes after the egg?", options=["adult", "larva"], answer="1", image=img(GREY)),
        ], 2)},
        dict(question=S, options=Sequence(S), answer=S, image=Img()),
    )

    chartqa = [
        dict(type="human_test", question="How many food items are shown in the bar graph?", answer="14", image=img(RED)),
        dict(type="human_test", question="What is the difference in value between Lamb and Corn?", answer="0.57", image=img(GREEN)),
        dict(type="augmented_test", question="Which country has the highest value?", answer="Japan", image=img(BLUE)),
    ]
    parquet_repo("lmms-lab/ChartQA", {"test": ("data/test", chartqa, 1)}, dict(type=S, question=S, answer=S, image=Img()))
    # The same split without its `type` column, in the layout `hf download --local-dir` leaves
    # (for `--data`): the error must name the column, the file and the preset.
    local = OUT / "without-column" / "ChartQA"
    for path, data in parquet_files("data/test", [{k: v for k, v in row.items() if k != "type"} for row in chartqa],
                                    dict(question=S, answer=S, image=Img())):
        (local / path).parent.mkdir(parents=True, exist_ok=True)
        (local / path).write_bytes(data)

    parquet_repo(
        "echo840/OCRBench",
        {"test": ("data/test", [
            dict(dataset="IIIT5K", question="what is written in the image?", question_type="Regular Text Recognition", answer=["CENTRE"], image=img(GREY)),
            dict(dataset="HME100k", question="Please write out the expression of the formula in the image using LaTeX format.",
                 question_type="Handwritten Mathematical Expression Recognition", answer=["x ^ { 2 } + 1"], image=img(RED)),
            dict(dataset="docVQA", question="What is the date mentioned in the letter?", question_type="Doc-oriented VQA",
                 answer=["May 7, 1997", "5/7/97"], image=img(BLUE)),
        ], 1)},
        dict(dataset=S, question=S, question_type=S, answer=Sequence(S), image=Img()),
    )

    def textvqa(qid, question, ocr, answers, colour):
        return dict(image_id=f"{qid:016x}", question_id=qid, question=question, question_tokens=question.rstrip("?").split(), image=img(colour),
                    image_width=8, image_height=8, flickr_original_url="", flickr_300k_url="", answers=answers, image_classes=["Poster"],
                    set_name="val", ocr_tokens=ocr)

    parquet_repo(
        "lmms-lab/textvqa",
        {"validation": ("data/validation", [
            textvqa(34602, "what is the brand of this camera?", ["dakota", "digital", "nikon"], ["nous les gosses", "dakota", "dakota digital"] + ["dakota"] * 7, RED),
            textvqa(34603, "what does the small white text spell?", [], ["copenhagen"] * 8 + ["copenhagen ", "thursday"], GREEN),
            textvqa(34604, "what kind of beer is this?", ["STOP"], ["ale"] * 10, BLUE),
        ], 3)},
        dict(image_id=S, question_id=I32, question=S, question_tokens=Sequence(S), image=Img(), image_width=I32, image_height=I32,
             flickr_original_url=S, flickr_300k_url=S, answers=Sequence(S), image_classes=Sequence(S), set_name=S, ocr_tokens=Sequence(S)),
    )

    def docvqa(qid, question, answers, colour, split):
        return dict(questionId=str(qid), question=question, question_types=["handwritten"], image=img(colour), docId=qid // 10,
                    ucsf_document_id="txpp0227", ucsf_document_page_no="10", answers=answers, data_split=split)

    docvqa_features = dict(questionId=S, question=S, question_types=Sequence(S), image=Img(), docId=I64, ucsf_document_id=S,
                           ucsf_document_page_no=S, answers=Sequence(S), data_split=S)
    parquet_repo(
        "lmms-lab/DocVQA",
        {
            "validation": ("DocVQA/validation", [
                docvqa(49153, "What is the ‘actual’ value per 1000, during the year 1975?", ["0.28"], RED, "val"),
                docvqa(24580, "What is name of university?", ["university of california", "University of California"], GREEN, "val"),
                docvqa(57349, "To whom is the letter addressed?", ["Dr. Smith"], BLUE, "val"),
            ], 2),
            "test": ("DocVQA/test", [
                docvqa(57344, "What is the dividend payout in 2012?", None, GREY, "test"),
                docvqa(57345, "What is the total revenue?", None, CYAN, "test"),
            ], 1),
        },
        docvqa_features,
        config="DocVQA",
    )

    # MMVP: not parquet. Questions.csv (csv.reader parses the quoted field) and "MMVP Images/<n>.jpg".
    mmvp = CachedRepo("MMVP/MMVP")
    questions = [
        ["Index", "Question", "Options", "Correct Answer"],
        ["1", "Are the butterfly's wings closer to being open or closed?", "(a) Open (b) Closed", "(a)"],
        ["2", "Are the butterfly's wings closer to being open or closed?", "(a) Open (b) Closed", "(b)"],
        ["3", "Is the dog facing left, or right, from the camera's perspective?", "(a) Left (b) Right", "(b)"],
        ["4", "Is the dog facing left, or right, from the camera's perspective?", "(a) Left (b) Right", "(a)"],
    ]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(questions)
    mmvp.add("Questions.csv", text.getvalue().encode())
    for n, colour in zip(range(1, 5), [RED, GREEN, BLUE, GREY]):
        mmvp.add(f"MMVP Images/{n}.jpg", image_bytes(colour, "JPEG"))

    parquet_repo(
        "lmms-lab/RealWorldQA",
        {"test": ("data/test", [
            dict(image=img(GREY), question="In which direction is the front wheel of the car on the right side facing?\n\nA. Left\nB. Straight\nC. Right\n"
                 "Please answer directly with only the letter of the correct option and nothing else.", answer="C"),
            dict(image=img(RED), question="How many pedestrians are there?\nPlease answer directly with a single word or number.", answer="2"),
            dict(image=img(BLUE), question="Is the traffic light green?\nPlease answer directly with a single word or number.", answer="No"),
        ], 2)},
        dict(image=Img(), question=S, answer=S),
    )

    # CV-Bench: test_2d.parquet and test_3d.parquet at the repo root (rev bc284db).
    def cvbench(idx, kind, task, question, choices, answer, source, colour, prompt_head):
        prompt = prompt_head + "".join(f"\n({chr(65 + i)}) {c}" for i, c in enumerate(choices))
        return dict(idx=idx, type=kind, task=task, image=img(colour), question=question, choices=choices, answer=answer, prompt=prompt,
                    filename=f"img/{kind}/{task.lower()}/{source.lower()}_{idx}.png", source=source, source_dataset=source,
                    source_filename=f"{idx}.jpg", target_class=None, target_size=None)

    cv = CachedRepo("nyu-visionx/CV-Bench")
    cv_features = dict(idx=I64, type=S, task=S, image=Img(), question=S, choices=Sequence(S), answer=S, prompt=S, filename=S,
                       source=S, source_dataset=S, source_filename=S, target_class=S, target_size=I64)
    count = "How many wine glasss are in the image?"
    relation = "Considering the relative positions of the sofa and the lamp in the image provided, where is the sofa located with respect to the lamp?"
    cv.add_parquet("test_2d", [
        cvbench(0, "2D", "Count", count, ["0", "3", "2", "1"], "(C)", "COCO", RED, count + " Select from the following choices."),
        cvbench(1, "2D", "Relation", relation, ["left", "right"], "(A)", "ADE20K", GREEN, relation + " Select from the following choices."),
    ], cv_features, shards=None)
    depth = "Which is closer to the camera taking this photo, the chair (highlighted by a red box) or the table (highlighted by a blue box)?"
    cv.add_parquet("test_3d", [
        cvbench(2, "3D", "Depth", depth, ["chair", "table"], "(B)", "Omni3D", BLUE, depth),
    ], cv_features, shards=None)
    cv.add_readme({"2D": {"test": "test_2d.parquet"}, "3D": {"test": "test_3d.parquet"}, "default": {"test": "test_*.parquet"}})


# ---------------------------------------------------------------------------------------------
# Cambrian's own prompt code


def git_show(cambrian, path):
    return subprocess.run(["git", "-C", str(cambrian), "show", f"{CAMBRIAN_REV}:{path}"], check=True, capture_output=True, text=True).stdout


def module(name, source):
    mod = types.ModuleType(name)
    exec(compile(source, name, "exec"), mod.__dict__)
    return mod


class PromptRecorder:
    """Stands in for `tokenizer_image_token`: records the prompt, returns a tensor-like stub."""

    def __init__(self):
        self.prompts = []

    def __call__(self, prompt, tokenizer, image_token_index, return_tensors=None):
        self.prompts.append(prompt)
        return self

    def unsqueeze(self, dim):
        return self

    def cuda(self):
        return self


class EvalScript:
    """The prompt-building definitions of one `eval/eval/<b>/<b>_eval.py`, run on fixture rows."""

    def __init__(self, cambrian, bench, constants, conversation):
        self.path = f"eval/eval/{bench}/{bench}_eval.py"
        tree = ast.parse(git_show(cambrian, self.path))
        self.defaults = {
            call.args[0].value.lstrip("-"): next((k.value.value for k in call.keywords if k.arg == "default"), None)
            for call in ast.walk(tree)
            if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "add_argument"
        }
        self.args = types.SimpleNamespace(**self.defaults)
        self.recorder = PromptRecorder()
        wanted = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in ("process", "CustomDataset", "give_options")]
        self.ns = dict(
            re=re, copy=__import__("copy"), Dataset=object, args=self.args, conv_templates=conversation.conv_templates,
            tokenizer_image_token=self.recorder, process_images=lambda images, processor, config: "pixels",
            hash_image=lambda image: "", IMAGE_TOKEN_INDEX=constants.IMAGE_TOKEN_INDEX, DEFAULT_IMAGE_TOKEN=constants.DEFAULT_IMAGE_TOKEN,
            DEFAULT_IM_START_TOKEN=constants.DEFAULT_IM_START_TOKEN, DEFAULT_IM_END_TOKEN=constants.DEFAULT_IM_END_TOKEN,
        )
        exec(compile(ast.Module(body=wanted, type_ignores=[]), self.path, "exec"), self.ns)
        self.config = types.SimpleNamespace(mm_use_im_start_end=False)

    def prompt(self, line, *extra):
        """The vicuna_v1 prompt `process` (or `CustomDataset.__getitem__`) builds for one row."""
        before = len(self.recorder.prompts)
        if "process" in self.ns:
            self.ns["process"](line, self.args, None, None, self.config, *extra)
        else:
            self.ns["CustomDataset"](self.args, [line], None, None, self.config)[0]
        (prompt,) = self.recorder.prompts[before:]
        return prompt


def user_message(prompt, conversation):
    """`qs`, recovered from the vicuna_v1 rendering of [(USER, qs), (ASSISTANT, None)]."""
    conv = conversation.conv_templates["vicuna_v1"]
    head, tail = conv.system + conv.sep + conv.roles[0] + ": ", " " + conv.roles[1] + ":"
    assert prompt.startswith(head) and prompt.endswith(tail), prompt
    return prompt[len(head) : -len(tail)]


# ---------------------------------------------------------------------------------------------
# prompts.json


def loader(scratch):
    def load(repo_id, split, config=None):
        """The split as Cambrian's `load_dataset(repo_id, [config,] split=...)` yields it, from the cache."""
        import datasets
        from huggingface_hub import snapshot_download

        snapshot = snapshot_download(repo_id, repo_type="dataset", cache_dir=HUB, local_files_only=True)
        # a copy with the links resolved, as `hf download --local-dir` leaves it (the local glob of
        # datasets 2.x skips symlinks), and a datasets cache of its own
        local = Path(scratch) / repo_id.replace("/", "--")
        if not local.exists():
            shutil.copytree(snapshot, local)
        return datasets.load_dataset(str(local), config, split=split, cache_dir=str(local) + ".datasets")

    return load


def truth(answers, choices=(), category=None, kind=None, source=None):
    """A question's ground truth as the scorers' `Truth` holds it: the row's own values, as text."""
    text = lambda value: None if value is None else str(value)
    return dict(answers=[text(a) for a in answers], choices=list(choices), category=text(category), kind=kind, source=source)


def build_prompts(cambrian, load):
    from huggingface_hub import hf_hub_download

    constants = module("constants", git_show(cambrian, "cambrian/constants.py"))
    conversation = module("conversation", git_show(cambrian, "cambrian/conversation.py"))
    presets = {}

    def record(preset, bench, rows, question):
        """`question(script, index, line)` gives (prompt, truth) or None for a row Cambrian skips."""
        script = EvalScript(cambrian, bench, constants, conversation) if bench else None
        items = []
        for index, line in enumerate(rows):
            made = question(script, index, line)
            if made is None:
                continue
            prompt, gt = made
            items.append(dict(index=index, qs=user_message(prompt, conversation), prompt=prompt, truth=gt))
        presets[preset] = dict(
            script=script.path if script else None,
            max_new_tokens=script.defaults["max_new_tokens"] if script else None,
            rows=len(rows),
            questions=items,
        )

    # mme_eval.py:97-98: gt_answer = line["answer"], category = line["category"]
    record("mme", "mme", load("lmms-lab/MME", "test"), lambda s, i, l: (s.prompt(l), truth([l["answer"]], category=l["category"])))
    # mmbench_en_eval.py:116-117: gt_answer, category (its source_id, for circular accuracy, needs an image hash: not kept)
    record("mmbench-en-dev", "mmbench_en", load("lmms-lab/MMBench_EN", "dev"), lambda s, i, l: (
        s.prompt(l), truth([l["answer"]], [l[k] for k in "ABCD" if l[k] != "nan"], l["category"])))
    # seed_eval.py:100-101 skips `len(line['image'])>1`; 105-106: gt_answer, category = question_type_id
    record("seed-image", "seed", load("lmms-lab/SEED-Bench", "test"), lambda s, i, l: None if len(l["image"]) > 1 else (
        s.prompt(l), truth([l["answer"]], [l[k] for k in ("choice_a", "choice_b", "choice_c", "choice_d")], l["question_type_id"])))
    # gqa_eval.py:73-76 builds {id: image}; 103: gt_answer = line["answer"]
    gqa_images = {row["id"]: row["image"] for row in load("lmms-lab/GQA", "testdev", "testdev_balanced_images")}
    record("gqa", "gqa", load("lmms-lab/GQA", "testdev", "testdev_balanced_instructions"),
           lambda s, i, l: (s.prompt(l, gqa_images), truth([l["answer"]])))
    # scienceqa_eval.py:127-128: gt_answer (the index), category = grade; the IMG score covers the
    # rows with an image (148, has_image), the preset's questions
    record("scienceqa-img", "scienceqa", load("derek-thomas/ScienceQA", "test"), lambda s, i, l: None if l["image"] is None else (
        s.prompt(l), truth([l["answer"]], l["choices"], l["grade"])))
    # mmmu_eval.py:120-121, 143: gt_answer, category = id.split('_')[1], type = question_type
    record("mmmu-val", "mmmu", load("lmms-lab/MMMU", "validation"), lambda s, i, l: (
        s.prompt(l), truth([l["answer"]], re.findall(r"'(.*?)'", l["options"]), l["id"].split("_")[1], l["question_type"])))

    # mathvista_eval.py:105-106: category = metadata.category, gt_answer (the scorer turns a
    # multi_choice answer into its letter, 107-111), type = question_type (130)
    record("mathvista-testmini", "mathvista", load("AI4Math/MathVista", "testmini"), lambda s, i, l: (
        s.prompt(l), truth([l["answer"]], l["choices"] or [], l["metadata"]["category"], l["question_type"])))
    # ai2d_eval.py:120, chartqa_eval.py:103-104, ocrbench_eval.py:132-133, textvqa_eval.py:105
    record("ai2d", "ai2d", load("lmms-lab/ai2d", "test"), lambda s, i, l: (s.prompt(l), truth([l["answer"]], l["options"])))
    record("chartqa", "chartqa", load("lmms-lab/ChartQA", "test"), lambda s, i, l: (s.prompt(l), truth([l["answer"]], category=l["type"])))
    record("ocrbench", "ocrbench", load("echo840/OCRBench", "test"), lambda s, i, l: (s.prompt(l), truth(l["answer"], category=l["question_type"])))
    record("textvqa-val", "textvqa", load("lmms-lab/textvqa", "validation"), lambda s, i, l: (s.prompt(l), truth(l["answers"])))
    # docvqa_eval.py:75 runs the test split and writes questionId (115); validation: the same prompt, scored by ANLS
    record("docvqa-val", "docvqa", load("lmms-lab/DocVQA", "validation", "DocVQA"), lambda s, i, l: (s.prompt(l), truth(l["answers"])))
    record("docvqa-test", "docvqa", load("lmms-lab/DocVQA", "test", "DocVQA"), lambda s, i, l: (s.prompt(l), truth([])))

    # mmvp_eval.py:90-110: the images and Questions.csv through hf_hub_download, the CSV through csv.reader
    mmvp_images = {}
    for i in range(4):  # Cambrian: range(300)
        path = hf_hub_download(repo_id="MMVP/MMVP", filename=f"{i+1}.jpg", subfolder="MMVP Images", repo_type="dataset", cache_dir=HUB)
        mmvp_images[i] = Image.open(path).convert("RGB")
    mmvp_script = EvalScript(cambrian, "mmvp", constants, conversation)
    mmvp_rows = []
    with open(hf_hub_download(repo_id="MMVP/MMVP", filename="Questions.csv", repo_type="dataset", cache_dir=HUB)) as file:
        for row in csv.reader(file):
            if row[0] == "lndex" or row[0] == "Index":
                continue
            mmvp_rows.append(dict(question=str(row[1]), imageId=int(row[0]) - 1, options=str(row[2]),
                                  text_options=mmvp_script.ns["give_options"](str(row[2])), answer=str(row[3])))
    record("mmvp", "mmvp", mmvp_rows, lambda s, i, l: (s.prompt(l, mmvp_images), truth([l["answer"]], l["text_options"])))

    # realworldqa_eval.py:130
    record("realworldqa", "realworldqa", load("lmms-lab/RealWorldQA", "test"), lambda s, i, l: (s.prompt(l), truth([l["answer"]])))

    # CV-Bench: no Cambrian script; benchmarks.md §2.15's inferred "<image>\n" + prompt + "\n" + the letter suffix
    def cvbench(s, i, l):
        qs = "<image>\n" + l["prompt"] + "\nAnswer with the option's letter from the given choices directly."
        conv = conversation.conv_templates["vicuna_v1"].copy()
        conv.append_message(conv.roles[0], qs)
        conv.append_message(conv.roles[1], None)
        return conv.get_prompt(), truth([l["answer"]], l["choices"], l["task"], l["type"], l["source"])

    record("cv-bench", None, load("nyu-visionx/CV-Bench", "test"), cvbench)
    presets["cv-bench"]["script"] = "none (benchmarks.md 2.15, inferred)"
    return presets


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cambrian", default=CAMBRIAN_URL, help="a git repository of cambrian-mllm/cambrian, local or a URL")
    args = parser.parse_args()
    shutil.rmtree(OUT, ignore_errors=True)
    build_cache()
    os.environ["HF_HUB_OFFLINE"] = "1"
    with tempfile.TemporaryDirectory() as scratch:
        cambrian = args.cambrian
        if not Path(cambrian).exists():
            cambrian = str(Path(scratch) / "cambrian.git")
            subprocess.run(["git", "clone", "--bare", "--filter=blob:none", args.cambrian, cambrian], check=True)
        prompts = build_prompts(cambrian, loader(scratch))
    document = dict(cambrian=dict(repo="cambrian-mllm/cambrian", commit=CAMBRIAN_REV, conv_mode="vicuna_v1"), presets=prompts)
    (OUT / "prompts.json").write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file() and not p.is_symlink())
    print(f"wrote {OUT.relative_to(ROOT)}: {len(prompts)} presets, {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
