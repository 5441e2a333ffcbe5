#!/usr/bin/env python3
"""Reference fixtures for the benchmark scorers (src/eval/score, tests/scorers.rs).

Runs Cambrian-1's own scoring code, unchanged, on crafted cases: each
`eval/eval/<b>/<b>_test.py` is executed as a module (its `__main__` block does not run), its
`add_data_to_csv` is replaced by a function that keeps the row it would append, and its
`compute_metrics` reads an answers JSONL written as the matching `<b>_eval.py` writes it
(predictions `.strip()`ped, as the eval scripts strip their outputs). Each item's own score is
`compute_metrics` run on that item alone; the aggregates come from one run over the case.
DocVQA uses lmms-eval's `anls` (only its definition and `levenshtein_distance`'s are executed,
without the metric-registry decorator and the module's imports), CV-Bench lmms-eval's
`cv_bench_default_aggregate_results` with the crate's letter rule (SEED's `extract_mcq_answer`).

    python3 tools/reference/make_scorer_fixtures.py --cambrian CAMBRIAN_CLONE --lmms-eval LMMS_EVAL_CLONE

Writes tests/fixtures/scorers/<scorer>.json: {"scorer", "reference", "cases": [{"name",
"truths", "predictions", "correct", "score", "paper_score", "parts"}]}, truths in the fields of
`eval::score::Truth`.
"""

import argparse
import ast
import contextlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "scorers"


def truth(index, answers, choices=(), category=None, kind=None, source=None):
    return {"index": index, "answers": list(answers), "choices": list(choices), "category": category, "kind": kind, "source": source}


class Script:
    """One `<b>_test.py`, executed as a module, its CSV row captured."""

    def __init__(self, path):
        sys.path.insert(0, str(path.parent))  # textvqa_test imports m4c_evaluator beside it
        self.ns = {"__name__": "reference_" + path.stem, "__file__": str(path)}
        exec(compile(path.read_text(), str(path), "exec"), self.ns)
        self.ns["add_data_to_csv"] = lambda _path, data: self.rows.append(data)

    def run(self, lines, **kwargs):
        """compute_metrics over answers-file `lines`; the row it reports."""
        self.rows = []
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
            answers = os.path.join(tmp, "answers.jsonl")
            with open(answers, "w") as f:
                f.writelines(json.dumps(line) + "\n" for line in lines)
            cwd = os.getcwd()
            os.chdir(tmp)  # mmbench writes its submission file into the working directory
            try:
                params = self.ns["compute_metrics"].__code__.co_varnames
                if "output_file" in params[:2]:
                    self.ns["compute_metrics"](answers, os.path.join(tmp, "out", "incorrect.jsonl"), "unused.csv", **kwargs)
                else:
                    self.ns["compute_metrics"](answers, "unused.csv", **kwargs)
            finally:
                os.chdir(cwd)
        return self.rows[-1]


def definitions(path, names):
    """The named functions of a module, executed alone (decorators dropped)."""
    tree = ast.parse(path.read_text(), str(path))
    keep = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in names]
    for node in keep:
        node.decorator_list = []
    ns = {}
    exec(compile(ast.Module(body=keep, type_ignores=[]), str(path), "exec"), ns)
    return ns


def pct(x):
    return 100.0 * x


class Bench:
    """How one scorer's truths become its script's answer lines, and its row our numbers."""

    def __init__(self, script, line, headline, parts=lambda row: {}, item=None, kwargs=None):
        self.script, self.line, self.headline, self.parts = script, line, headline, parts
        self.item = item or (lambda line: headline(self.script.run([line], **self.kwargs))[0])
        self.kwargs = kwargs or {}

    def lines(self, truths, predictions):
        return [self.line(t, p.strip()) for t, p in zip(truths, predictions)]

    def case(self, name, truths, predictions):
        correct = [float(self.item(line)) for line in self.lines(truths, predictions)]
        row = self.script.run(self.lines(truths, predictions), **self.kwargs)
        score, paper = self.headline(row)
        return {"name": name, "truths": truths, "predictions": predictions, "correct": correct, "score": score,
                "paper_score": paper, "parts": self.parts(row)}


def percent_headline(key):
    return lambda row: (row[key] / 100.0, row[key])


def fraction_headline(key):
    return lambda row: (row[key], pct(row[key]))


def category_parts(key, skip=()):
    """Parts from the per-category dicts of a row (percent)."""
    def parts(row):
        return {str(k): pct(v[key]) for k, v in row.items() if isinstance(v, dict) and k not in skip}
    return parts


# ---------------------------------------------------------------------------------------------
# Crafted cases, per scorer: (truths, predictions).

def gqa_cases():
    pairs = [("Yes", "yes"), ("yes.", "yes"), ("yes..", "yes"), ("  yes  ", "yes"), ("Yes, it is.", "yes"), ("", "no"),
             ("NO.", "no"), ("the left", "left"), ("Left.", "left"), (".yes", "yes"), ("yes!", "yes"), ("2.", "2"),
             ("İ", "i̇"), ("ΣΑΣ", "σας"), ("yes\n", "yes"), ("\u00a0yes", "yes"), ("yes.\u2003", "yes"), ("Right", "left")]
    return [("edge cases", [truth(i, [gt]) for i, (_, gt) in enumerate(pairs)], [p for p, _ in pairs])]


MME_ROWS = [  # (category, answer, prediction), in split order: pairs on even/odd rows
    ("existence", "Yes", "Yes"), ("existence", "No", "No"),           # both right
    ("existence", "Yes", "yes."), ("existence", "No", "Yes"),         # second wrong
    ("existence", "Yes", "No"), ("existence", "No", "no"),            # first wrong
    ("existence", "Yes", ""), ("existence", "No", "Yes"),             # both wrong
    ("count", "Yes", "Yes"), ("count", "No", "No."),
    ("count", "Yes", "Yes, there are two."),                          # count has an odd number of rows
    ("color", "Yes", "Yes"), ("color", "No", "No"), ("color", "Yes", "yes"),  # color starts on an odd row
    ("commonsense_reasoning", "Yes", "Yes"), ("commonsense_reasoning", "No", "NO"),
    ("code_reasoning", "Yes", "no"), ("code_reasoning", "No", "No"),
    ("scene", "Yes", "Yes"), ("artwork", "No", "No"),                 # a pair split across categories
    ("OCR", "No", "No.."), ("OCR", "Yes", " Yes "),
]


def mme_cases():
    rows = [truth(i, [a], category=c) for i, (c, a, _) in enumerate(MME_ROWS)]
    return [("pairs and counters", rows, [p for _, _, p in MME_ROWS]),
            ("one category", rows[:8], [p for _, _, p in MME_ROWS[:8]])]


def textvqa_cases():
    ten = lambda *groups: [a for a, n in groups for _ in range(n)]
    items = [
        (ten(("cat", 10)), "Cat"),
        (ten(("cat", 3), ("dog", 7)), "the cat"),
        (ten(("cat", 2), ("dog", 8)), "a cat"),
        (ten(("cat", 1), ("dog", 9)), "cat."),
        (ten(("2", 4), ("two", 3), ("3", 3)), "Two"),
        (ten(("none", 5), ("0", 5)), "zero"),
        (ten(("don't", 6), ("do not", 4)), "dont"),
        (ten(("coca cola", 6), ("coca-cola", 4)), "Coca-Cola"),
        (ten(("coca  cola", 5), ("cocacola", 5)), "coca - cola"),
        (ten(("3.5", 5), ("35", 5)), "3.5"),
        (ten(("usa", 5), ("u.s.a.", 5)), "U.S.A."),
        (ten(("1000", 5), ("1,000", 5)), "1,000"),
        (ten(("it 's", 5), ("its", 5)), "it's"),
        (ten(("what's", 5), ("whats", 5)), "whats"),
        (ten(("hello", 10)), "Hello?!"),
        (ten(("yes", 10)), "\tyes\n"),
        (ten(("a", 10)), "the"),
        (ten(("x" + "." * 40, 10)), "x" + "." * 40),
        (ten(("x", 10)), "x" + "." * 40),
        (ten(("٣.٥", 5), ("٣٥", 5)), "٣.٥"),
        (ten(("(555) 123", 10)), "(555)123"),
        (ten(("a/b", 10)), "a / b"),
        (ten(("somebodyd", 10)), "somebody'd"),
        (ten(("end", 10)), ""),
    ]
    return [("processor edge cases", [truth(i, gts) for i, (gts, _) in enumerate(items)], [p for _, p in items])]


def chartqa_cases():
    pairs = [("12", "12"), ("12.5", "12"), ("12.7", "12"), ("11.4", "12"), ("1e3", "1000"), (" 12 ", "12"), ("1_000", "1000"),
             ("inf", "5"), ("5", "inf"), ("Infinity", "inf"), ("nan", "nan"), ("NaN", "5"), ("12%", "12"), ("12%", "12%"),
             ("Yes", "yes"), ("-0", "0"), ("0.04", "0"), ("١٢", "12"), ("1,000", "1000"), ("twelve", "12"), ("12.0", "12"),
             ("2019", "2019"), ("-5", "5"), ("1__0", "10"), ("", ""), ("", "0"), ("0x10", "16"), ("+.5e1", "5")]
    return [("numbers and strings", [truth(i, [gt], category="human_test") for i, (_, gt) in enumerate(pairs)],
             [p for p, _ in pairs])]


def ocrbench_cases():
    hme = "Handwritten Mathematical Expression Recognition"
    items = [
        ("Regular Text Recognition", ["hello"], "The text says HELLO world"),
        ("Regular Text Recognition", ["hello"], "hel lo"),
        ("Regular Text Recognition", ["Main St", "Main Street"], "main street"),
        ("Regular Text Recognition", ["hello world"], "hello\nworld"),
        ("Regular Text Recognition", ["hello\nworld"], "hello world!"),
        ("Regular Text Recognition", [""], "anything"),
        ("Regular Text Recognition", ["  spaced  "], "spaced"),
        ("Key Information Extraction", ["$12.50"], "Total: $12.50."),
        ("Key Information Extraction", ["12.50"], "12,50"),
        (hme, ["\\frac{a}{b}"], "\\frac { a } { b }"),
        (hme, ["x^2"], "X^2"),
        (hme, ["x^{2} + 1"], "x^{2}+1\n"),
        (hme, ["a\tb"], "a b"),
        ("Scene Text-centric VQA", ["STOP"], "stop"),
        ("Scene Text-centric VQA", ["stop"], ""),
    ]
    return [("substring rules", [truth(i, gts, category=c) for i, (c, gts, _) in enumerate(items)], [p for *_, p in items])]


def anls_cases():
    items = [(["1/2/2003"], "1/2/2003"), (["1/2/2003"], "1/2/2004"), (["Main Street"], "  main   STREET "),
             (["abcd"], "abxy"), (["abcd"], "abxyz"), (["abc"], "xyz"), (["abc"], ""), ([""], ""), (["SS"], "ß"),
             (["ss"], "ß"), (["cat", "the cat", "kitten"], "the cats"), (["İstanbul"], "istanbul"), (["12"], " 12\n")]
    return [("edit distances", [truth(i, gts) for i, (gts, _) in enumerate(items)], [p for _, p in items])]


def mmmu_cases():
    items = [("multiple-choice", "A", "(A)", "Art"), ("multiple-choice", "B", "The answer is B.", "Art"),
             ("multiple-choice", "C", "answer: c", "Art"), ("multiple-choice", "A", "A:", "Art"),
             ("multiple-choice", "A", "", "Math"), ("multiple-choice", "D", "D) 42", "Math"),
             ("multiple-choice", "B", "I think the answer is: B", "Math"),
             ("open", "42", "42", "Math"), ("open", "3.14", "The answer is 3.14.", "Math"),
             ("open", "95", "100", "Physics"), ("open", "100", "95", "Physics"), ("open", "3", "inf", "Physics"),
             ("open", "nan", "nan", "Physics"), ("open", "paris", "Paris.", "Geography"), ("open", "1000", "1_000", "Geography"),
             ("open", "5 km", "5 km", "Geography"), ("open", "5", "5 km", "Geography"), ("open", "-2", "-2.1", "Geography")]
    truths = [truth(i, [gt], category=c, kind=k) for i, (k, gt, _, c) in enumerate(items)]
    return [("choice and open", truths, [p for _, _, p, _ in items])]


def mathvista_cases():
    items = [("multi_choice", "4", ["3", "4", "5"], "B", "algebra"), ("multi_choice", "4", ["3", "4", "5"], "b.", "algebra"),
             ("multi_choice", "4", ["3", "4", "5"], "(B)", "algebra"), ("multi_choice", "4", ["3", "4", "5"], "4", "algebra"),
             ("multi_choice", "1", ["1", "1", "2"], "B", "algebra"), ("multi_choice", "1", ["1", "1", "2"], "A", "algebra"),
             ("free_form", "12.5", [], "12.5", "geometry"), ("free_form", "12.5", [], "13", "geometry"),
             ("free_form", "13", [], "12.4", "geometry"), ("free_form", "5", [], "The answer is 5", "geometry"),
             ("free_form", "Yes", [], " yes ", "statistics"), ("free_form", "2", [], "2.", "statistics")]
    truths = [truth(i, [a], choices=cs, category=c, kind=k) for i, (k, a, cs, _, c) in enumerate(items)]
    return [("letters and numbers", truths, [p for _, _, _, p, _ in items])]


def mathvista_line(t, p):
    gt = t["answers"][0]
    if t["kind"] == "multi_choice":  # mathvista_eval.py's reverse_dict
        gt = {c: chr(ord("A") + i) for i, c in enumerate(t["choices"])}[gt]
    return {"answer": p, "gt_answer": gt, "category": t["category"], "type": t["kind"]}


def scienceqa_cases():
    cs = ["dog", "cat"]
    items = [("B", "grade1"), ("B.", "grade1"), ("b. cat", "grade1"), ("cat", "grade1"), ("Cat!", "grade5"),
             ("The answer is B", "grade5"), ("(B)", "grade5"), ("A", "grade5"), ("answer: cat.", "grade5"), ("c-a-t", "grade5")]
    truths = [truth(i, ["1"], choices=cs, category=g, kind="image") for i, (_, g) in enumerate(items)]
    preds = [p for p, _ in items]
    text_rows = [truth(len(truths) + i, ["0"], choices=["yes", "no"], category=g, kind="text") for i, g in enumerate(["grade1", "grade5"])]
    return [("image rows", truths, preds), ("with text rows", truths + text_rows, preds + ["", ""])]


def scienceqa_line(t, p):
    i = int(t["answers"][0])
    return {"answer": p, "gt_answer": chr(ord("A") + i), "text_answer": t["choices"][i], "type": t["kind"] != "text",
            "category": t["category"]}


def realworldqa_cases():
    pairs = [("A", "A"), ("A.", "A"), ("The answer is B.", "B"), ("3 cars", "3"), ("Yes, it is", "yes"), ("answer: no", "No"),
             ("  c  ", "C"), ("two", "2")]
    raising = [("", "A"), ("The answer is", "B"), ("...", "C")]
    as_case = lambda name, ps: (name, [truth(i, [gt]) for i, (_, gt) in enumerate(ps)], [p for p, _ in ps])
    return [as_case("first words", pairs), as_case("empty answers (Cambrian raises IndexError)", raising)]


def mmvp_cases():
    opts = ["Open", "Closed"]
    items = [("(a)", "(a)"), ("(b)", "Closed"),     # both right
             ("(a)", "a"), ("(b)", "A"),            # second wrong
             ("(a)", "A. Open"), ("(b)", "b"),      # first wrong
             ("(a)", "b"), ("(b)", "(a)"),          # both wrong
             ("(a)", "open."), ("(b)", "answer: (b)"), ("(a)", "a")]  # a last row without its pair
    truths = [truth(i, [a], choices=opts) for i, (a, _) in enumerate(items)]
    return [("pairs", truths[:10], [p for _, p in items[:10]]), ("odd row count", truths, [p for _, p in items])]


def seed_cases():
    items = [("1", "A", "A"), ("1", "B", "(B)"), ("2", "C", "C."), ("2", "D", "The answer is D"), ("3", "B", "B:"),
             ("3", "A", "(:"), ("9", "A", ","), ("9", "C", "c) a cat")]
    return [("dimensions", [truth(i, [a], category=c) for i, (c, a, _) in enumerate(items)], [p for *_, p in items])]


def mmbench_cases():
    items = [("A", "A", "q1 h1 s"), ("B", "b", "q1 h1 s"), ("C", "(C)", "q2 h2 s"), ("D", "D.", "q2 h2 s"),
             ("A", "B", "q3 h3 s"), ("A", ",", "q4 h4 s"), ("B", "B:", "q5 h5 s"), ("C", "(:", "q6 h6 s")]
    cats = ["attribute_recognition", "attribute_recognition", "image_scene", "image_scene", "image_scene",
            "ocr", "ocr", "ocr"]
    truths = [truth(i, [a], category=c, source=s) for i, ((a, _, s), c) in enumerate(zip(items, cats))]
    return [("categories and circular groups", truths, [p for _, p, _ in items])]


def ai2d_cases():
    pairs = [("A", "0"), ("(B)", "1"), ("c.", "2"), ("0", "0"), ("The answer is D", "3"), ("E", "4"), ("answer:", "0"), ("b", "2")]
    return [("letters to indices", [truth(i, [gt]) for i, (_, gt) in enumerate(pairs)], [p for p, _ in pairs])]


CV_ROWS = [("2D", "ADE20K", "Count", "(A)", "A"), ("2D", "ADE20K", "Count", "(B)", "(C)"), ("2D", "ADE20K", "Relation", "(A)", "a."),
           ("2D", "COCO", "Count", "(C)", "C"), ("2D", "COCO", "Relation", "(B)", "The answer is (B)."), ("2D", "COCO", "Relation", "(A)", ""),
           ("3D", "Omni3D", "Depth", "(A)", "A"), ("3D", "Omni3D", "Depth", "(B)", "B"), ("3D", "Omni3D", "Distance", "(A)", "(B)"),
           ("3D", "Omni3D", "Distance", "(B)", "b) the chair")]


def cv_bench_case(seed_extract, aggregate):
    truths = [truth(i, [a], choices=["x", "y", "z"], category=task, kind=k, source=s) for i, (k, s, task, a, _) in enumerate(CV_ROWS)]
    preds = [p for *_, p in CV_ROWS]
    correct = [float(seed_extract(p.strip()) == t["answers"][0].strip("()").lower()) for t, p in zip(truths, preds)]
    results = [{"source": t["source"], "is_correct": bool(c)} for t, c in zip(truths, correct)]
    score = aggregate(results)
    mean = lambda xs: sum(xs) / len(xs)
    by = lambda key: {k: mean([c for t, c in zip(truths, correct) if key(t) == k]) for k in sorted({key(t) for t in truths})}
    sources, tasks = by(lambda t: f"{t['kind']} {t['source']}"), by(lambda t: f"{t['kind']} {t['category']}")
    parts = {k: pct(v) for k, v in {**sources, **tasks}.items()}
    parts["2D"] = pct((sources["2D ADE20K"] + sources["2D COCO"]) / 2)
    parts["3D"] = pct(sources["3D Omni3D"])
    return {"name": "sources, types and tasks", "truths": truths, "predictions": preds, "correct": correct, "score": score,
            "paper_score": pct(score), "parts": parts}


def accuracy_case(seed_extract):
    pairs = [("A", "A"), ("(B)", "B"), ("C.", "(C)"), ("the answer is d", "D"), ("E", "A"), ("", "B")]
    truths = [truth(i, [gt], choices=["w", "x", "y", "z"]) for i, (_, gt) in enumerate(pairs)]
    preds = [p for p, _ in pairs]
    correct = [float(seed_extract(p.strip()) == t["answers"][0].strip("()").lower()) for t, p in zip(truths, preds)]
    score = sum(correct) / len(correct)
    return {"name": "letters", "truths": truths, "predictions": preds, "correct": correct, "score": score,
            "paper_score": pct(score), "parts": {}}


# ---------------------------------------------------------------------------------------------

def mme_headline(row):
    perception_categories = [c for c in row if isinstance(row[c], dict) and c in
                             ["existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork", "OCR"]]
    return row["Perception"] / (200.0 * len(perception_categories)), row["Perception"]


def mme_parts(row):
    parts = {k: row[k] for k in ["Perception", "Cognition", "total_score", "accuracy"]}
    for k, v in row.items():
        if isinstance(v, dict):
            parts[k], parts[f"{k} acc"], parts[f"{k} acc+"] = v["score"], v["acc_score"], v["acc_plus_score"]
    return parts


def scienceqa_parts(row):
    parts = category_parts("accuracy")(row)
    parts["accuracy"] = pct(row["accuracy"])
    return parts


def scienceqa_item(ns):
    """The script's own per-row test, as its compute_metrics applies it: a text row alone
    would divide by zero there (no multimodal rows)."""
    def item(line):
        gt, text = str(line["gt_answer"]).lower().strip(), line["text_answer"].lower().strip()
        return ns["is_correct"](ns["extract_answer"](line["answer"]), gt, text)
    return item


def mmbench_parts(row):
    parts = category_parts("accurcay")(row)
    parts.update({f"{k} circular": pct(v["circular_accuracy"]) for k, v in row.items() if isinstance(v, dict)})
    parts["circular_accuracy"] = pct(row["circular_accuracy"])
    return parts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cambrian", type=Path, required=True, help="a clone of cambrian-mllm/cambrian")
    parser.add_argument("--lmms-eval", type=Path, required=True, help="a clone of EvolvingLMMs-Lab/lmms-eval")
    args = parser.parse_args()
    ev = args.cambrian / "eval" / "eval"
    script = lambda b: Script(ev / b / f"{b}_test.py")
    lmms = definitions(args.lmms_eval / "lmms_eval" / "api" / "metrics.py", {"levenshtein_distance", "anls"})
    cv_utils = args.lmms_eval / "lmms_eval" / "tasks" / "cv_bench" / "utils.py"  # standard-library imports only
    cv = {"__name__": "reference_cv_bench"}
    exec(compile(cv_utils.read_text(), str(cv_utils), "exec"), cv)
    seed_extract = script("seed").ns["extract_mcq_answer"]

    simple = lambda t, p: {"answer": p, "gt_answer": t["answers"][0], "category": t["category"]}
    sqa, mme = script("scienceqa"), script("mme")
    benches = {
        "gqa": (Bench(script("gqa"), simple, percent_headline("accuracy")), gqa_cases()),
        "mme": (Bench(mme, simple, mme_headline, mme_parts, item=lambda line: mme.run([line])["accuracy"] / 100.0), mme_cases()),
        "textvqa": (Bench(script("textvqa"), lambda t, p: {"answer": p, "gt_answer": t["answers"]}, percent_headline("accuracy")),
                    textvqa_cases()),
        "chartqa": (Bench(script("chartqa"), simple, percent_headline("accuracy")), chartqa_cases()),
        "ocrbench": (Bench(script("ocrbench"), lambda t, p: {"answer": p, "gt_answer": t["answers"], "category": t["category"]},
                           lambda row: (row["total_accuracy"]["accuracy"] / 100.0, row["total_accuracy"]["accuracy"]),
                           lambda row: {k: v["accuracy"] for k, v in row.items() if isinstance(v, dict) and k != "total_accuracy"},
                           kwargs={"extra_penalization": False}), ocrbench_cases()),
        "mmmu": (Bench(script("mmmu"), lambda t, p: {**simple(t, p), "type": t["kind"]}, fraction_headline("accuracy"),
                       category_parts("accuracy")), mmmu_cases()),
        "mathvista": (Bench(script("mathvista"), mathvista_line, fraction_headline("accuracy"), category_parts("accurcay")),
                      mathvista_cases()),
        "scienceqa": (Bench(sqa, scienceqa_line, fraction_headline("multimodal_acc"), scienceqa_parts, item=scienceqa_item(sqa.ns)),
                      scienceqa_cases()),
        "realworldqa": (Bench(script("realworldqa"), simple, percent_headline("accuracy")), realworldqa_cases()),
        "mmvp": (Bench(script("mmvp"), lambda t, p: {"answer": p, "gt_answer": t["answers"][0], "text_options": t["choices"]},
                       percent_headline("accuracy")), mmvp_cases()),
        "seed": (Bench(script("seed"), lambda t, p: {**simple(t, p), "category": int(t["category"])}, fraction_headline("accuracy"),
                       category_parts("accurcay")), seed_cases()),
        "mmbench": (Bench(script("mmbench_en"), lambda t, p: {"prediction": p, "gt_answer": t["answers"][0],
                                                              "category": t["category"], "source_id": t["source"]},
                          fraction_headline("accuracy"), mmbench_parts), mmbench_cases()),
        "ai2d": (Bench(script("ai2d"), lambda t, p: {"answer": p, "gt_answer": t["answers"][0]}, percent_headline("accuracy")),
                 ai2d_cases()),
    }
    reference = "cambrian-mllm/cambrian eval/eval/{}/{}_test.py"
    files = {name: {"scorer": name, "reference": reference.format(name, name), "cases": []} for name in benches}
    for name, (bench, cases) in benches.items():
        for case_name, truths, predictions in cases:
            if name == "realworldqa" and "raises" in case_name:
                files[name]["cases"].append({"name": case_name, "truths": truths, "predictions": predictions,
                                             "correct": [0.0] * len(truths), "score": 0.0, "paper_score": 0.0, "parts": {}})
                for t, p in zip(truths, predictions):  # check that Cambrian does raise
                    try:
                        bench.script.run(bench.lines([t], [p]))
                    except IndexError:
                        continue
                    raise SystemExit(f"realworldqa: {p!r} does not raise")
                continue
            files[name]["cases"].append(bench.case(case_name, truths, predictions))
    files["mmbench"]["reference"] = reference.format("mmbench_en", "mmbench_en")

    anls_case = []
    for case_name, truths, predictions in anls_cases():
        correct = [lmms["anls"](t["answers"], [p.strip()])["anls"] for t, p in zip(truths, predictions)]
        score = sum(correct) / len(correct)
        anls_case.append({"name": case_name, "truths": truths, "predictions": predictions, "correct": correct, "score": score,
                          "paper_score": pct(score), "parts": {}})
    files["anls"] = {"scorer": "anls", "reference": "EvolvingLMMs-Lab/lmms-eval lmms_eval/api/metrics.py anls", "cases": anls_case}
    files["cv-bench"] = {"scorer": "cv-bench", "reference": "lmms-eval cv_bench_default_aggregate_results; cambrian seed_test.py "
                         "extract_mcq_answer", "cases": [cv_bench_case(seed_extract, cv["cv_bench_default_aggregate_results"])]}
    files["accuracy"] = {"scorer": "accuracy", "reference": "cambrian seed_test.py extract_mcq_answer",
                         "cases": [accuracy_case(seed_extract)]}

    OUT.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = OUT / f"{name}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n")
        tmp.replace(path)
        print(f"{path}: {sum(len(c['truths']) for c in content['cases'])} items")


if __name__ == "__main__":
    main()
