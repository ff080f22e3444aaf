"""Evaluate the baseline, teacher and student on one test set: quality, size and speed.

Quality: accuracy (argmax vs gold), plus spaCy's macro F and macro ROC-AUC.
Speed: spaCy's own `benchmark speed` routine (`annotate`: the pipeline on pre-tokenized
docs, in batches) gives docs/s and words/s; latency is `nlp(text)` one doc at a time.
Both are measured in rounds that interleave the models on the same texts, so a noisy
machine slows all of them alike; the median round is reported.
"""
import json
import random
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy
import typer
from spacy.scorer import Scorer
from spacy.tokens import Doc, DocBin
from wasabi import msg

from scripts.student import distillation  # noqa: F401  (registers what the student's and baseline's configs name)
from scripts.shared.cli_support import InputError, load_pipeline, require, run_cli, sha256_of
from scripts.evaluation.measure import (CONFIDENCE, MODEL_NAMES, accuracy_summary, distillation_ratios, fmt_ci, fmt_pct,
                     macro_f_interval, paired_difference, resample_indices, too_wide_note)
from scripts.data.reviews import is_sentiment
from scripts.evaluation.scoring import calibration, gold_classes, score_docs
from scripts.teacher.teacher_runtime import load_teacher, read_chosen_runtime
from scripts.evaluation.speed import count_params, dir_size_mb, median_of, speed_rounds


def quality(nlp, gold_docs: List[Doc]) -> Tuple[Dict, numpy.ndarray, numpy.ndarray]:
    """Accuracy, macro F and macro AUC (spaCy's scorer), and the F of each class."""
    correct, probs, examples = score_docs(nlp, gold_docs)
    scores = Scorer.score_cats(examples, "cats", labels=list(gold_docs[0].cats), multi_label=False)
    return {"accuracy": float(correct.mean()), "macro_f": scores["cats_macro_f"],
            "auc": scores["cats_macro_auc"],
            "f_per_class": {label: prf["f"] for label, prf in scores["cats_f_per_type"].items()}}, correct, probs


def read_record(path, suffix: str):
    """The JSON record a step wrote next to its output (e.g. synthetic.labelling.json), or None."""
    if not path:
        return None
    record = Path(path).with_name(Path(path).stem + suffix)
    return json.loads(record.read_text()) if record.exists() else None


PAIRS = (("student", "baseline"), ("student", "teacher"), ("teacher", "baseline"))


def compare(correct: Dict[str, numpy.ndarray], indices: numpy.ndarray) -> Dict:
    """Paired differences between the models scored (a run without gold labels has no baseline)."""
    return {f"{a}_vs_{b}": paired_difference(correct[a], correct[b], indices)
            for a, b in PAIRS if a in correct and b in correct}


def ratios(correct: Dict[str, numpy.ndarray], indices: numpy.ndarray, why: Optional[str] = None) -> Dict:
    if why is None and "baseline" not in correct:
        why = "no baseline (no gold training labels)"
    if why:
        return {"teacher_gap": None, "teacher_gap_ci": None, "why_null": why, "gap_closed": None,
                "gap_closed_ci": None, "error_reduction": None, "error_reduction_ci": None}
    return distillation_ratios(correct["baseline"], correct["teacher"], correct["student"], indices)


def score_extra_tests(models: Dict, folder: Optional[Path], seed: int) -> Dict:
    """Every model on each extra test set in `folder` (NAME.spacy, from the corpus step):
    accuracy with its interval and the paired differences, per set."""
    out = {}
    for path in sorted(folder.glob("*.spacy")) if folder and folder.is_dir() else []:
        gold = list(DocBin().from_disk(path).get_docs(models["student"].vocab))
        if not gold or any(not d.cats for d in gold):
            raise InputError(f"{path}: an extra test set needs labelled docs; rerun the corpus step")
        indices = resample_indices(len(gold), seed=seed)
        scores, correct = {}, {}
        for name in (n for n in MODEL_NAMES if n in models):
            msg.info(f"Scoring the {name} on the extra test set {path.stem} ({len(gold)} docs)")
            scores[name], correct[name], _ = quality(models[name], gold)
            scores[name]["accuracy_ci"] = accuracy_summary(correct[name], indices)["ci"]
            scores[name]["correct"] = [int(x) for x in correct[name]]
        out[path.stem] = {"n": len(gold), "test_sha256": sha256_of(path), "models": scores,
                          "comparisons": compare(correct, indices), **ratios(correct, indices)}
    return out


def teacher_training_record(nlp, path: Path) -> Dict:
    """How the teacher was trained: its precision (kept in its meta.json by the training
    callback) and wall time (schedule.json beside model-last), where they were recorded."""
    record = dict(nlp.meta.get("distill", {}).get("training_precision", {}))
    schedule = path.parent / "schedule.json"
    if schedule.exists():
        plan = json.loads(schedule.read_text())
        record.update({k: plan[k] for k in ("wall_seconds", "max_steps") if k in plan})
    return record


def main(
    test_path: Path = typer.Argument(..., help="Test docs (.spacy): gold, or labelled by the teacher (no gold labels)"),
    output_path: Path = typer.Argument(..., help="metrics.json"),
    baseline: Path = typer.Option(None, help="The baseline; none in a run without gold training labels"),
    teacher: Path = typer.Option(...), student: Path = typer.Option(...),
    train_path: Path = typer.Option(None, help="Original training docs, for n_train"),
    synthetic_path: Path = typer.Option(None, help="Synthetic docs, for n_synthetic"),
    unlabelled_dir: Path = typer.Option(None, help="The label step's folder of teacher-labelled unlabelled texts, "
                                        "for n_unlabelled"),
    lang: str = typer.Option("nl"),
    speed_docs: int = typer.Option(300, help="Test docs used for the speed rounds"),
    rounds: int = typer.Option(3, help="Interleaved speed rounds; the median is reported"),
    teacher_rounds: int = typer.Option(1, help="Speed rounds of the teacher (each runtime): one pass over "
                                       "the speed docs already takes it half a minute or more"),
    teacher_speed_docs: int = typer.Option(100, help="Of the speed docs, those the teacher is timed on (it "
                                           "runs at a hundredth of the student's speed)"),
    min_round_seconds: float = typer.Option(1.0, help="Each speed round repeats the docs at least this long"),
    latency_docs: int = typer.Option(100, help="Docs timed one at a time for latency"),
    batch_size: int = typer.Option(64),
    teacher_runtime_file: Path = typer.Option(None, help="The runtime choose_runtime.py chose: the teacher is "
                                              "also scored and timed in it (its quality as trained stays fp32)"),
    extra_dir: Path = typer.Option(None, help="Extra test sets (NAME.spacy, the corpus step's extra/ folder): "
                                   "every model is scored on each too"),
    seed: int = typer.Option(0),
):
    import torch

    for name, value in (("speed-docs", speed_docs), ("rounds", rounds), ("teacher-rounds", teacher_rounds),
                        ("teacher-speed-docs", teacher_speed_docs),
                        ("latency-docs", latency_docs), ("batch-size", batch_size)):
        if value < 1:
            raise InputError(f"evaluate: {name} must be at least 1, got {value}; fix the var or option")
    paths = {name: path for name, path in (("baseline", baseline), ("teacher", teacher), ("student", student)) if path}
    names = [name for name in MODEL_NAMES if name in paths]
    what = {name: (f"the {name}", "teacher" if name == "teacher" else f"train-{name}") for name in paths}
    for name, path in paths.items():
        require(path, *what[name])
    require(test_path, "the test docs", "corpus")
    models = {name: load_pipeline(path, *what[name]) for name, path in paths.items()}
    runtime = read_chosen_runtime(teacher_runtime_file) if teacher_runtime_file else "fp32"
    timed = dict(models)  # what the speed rounds time: the teacher in its fastest gated runtime too
    if runtime != "fp32":
        timed[f"teacher_{runtime}"] = load_teacher(teacher, runtime)
    gold = list(DocBin().from_disk(test_path).get_docs(models["student"].vocab))
    if not gold:
        raise InputError(f"{test_path}: no test docs; check the corpus step's n_test")
    if any(not d.cats for d in gold):
        raise InputError(f"{test_path}: {sum(not d.cats for d in gold)} of {len(gold)} docs have no gold cats; "
                         "evaluate needs labelled test docs (corpus/RUN/test.spacy), not synthetic ones")
    # no gold test labels (the `unlabelled` workflow without a test file): the corpus step had
    # the teacher label held-out texts, so every score below is agreement with the teacher
    gold_test = not all(d.user_data.get("label_source") == "teacher" for d in gold)
    if not gold_test:
        msg.warn(f"{test_path}: no gold labels (held-out texts labelled by the teacher): agreement with the teacher "
                 "is measured, no accuracy")
    results, correct, probs = {}, {}, {}
    for name in names:
        msg.info(f"Scoring the {name} on {len(gold)} test docs")
        results[name], correct[name], probs[name] = quality(models[name], gold)
        results[name]["size_mb"] = dir_size_mb(paths[name])
        results[name]["params"] = count_params(models[name])
        # static vectors are weights too, though no layer owns them: counted apart
        results[name]["vector_floats"] = int(models[name].vocab.vectors.data.size)
    indices = resample_indices(len(gold), seed=seed)
    labels, gold_class = gold_classes(gold)
    for name in names:
        results[name]["accuracy_ci"] = accuracy_summary(correct[name], indices)["ci"]
        results[name]["macro_f_ci"] = macro_f_interval(probs[name].argmax(1), gold_class, len(labels), indices)
        # Per test doc (1 = right), so runs on the same test set can be compared paired later.
        results[name]["correct"] = [int(x) for x in correct[name]]
    results["teacher"]["calibration"] = calibration(probs["teacher"], gold_class, labels) if gold_test else None
    results["teacher"]["training"] = teacher_training_record(models["teacher"], teacher)
    if runtime != "fp32":
        msg.info(f"Scoring the teacher in its {runtime} runtime")
        fast, fast_correct, fast_p = quality(timed[f"teacher_{runtime}"], gold)
        fast["accuracy_ci"] = accuracy_summary(fast_correct, indices)["ci"]
        fast["minus_fp32"] = paired_difference(fast_correct, correct["teacher"], indices)
        fast["agreement_with_fp32"] = float(numpy.mean(fast_p.argmax(1) == probs["teacher"].argmax(1)))
        results["teacher"]["runtime"] = {"name": runtime, **fast}
    if synthetic_path and synthetic_path.exists() and is_sentiment(labels):  # the labels the student learns from
        p_pos = numpy.array([d.cats.get("POS", 0.0) for d in DocBin().from_disk(synthetic_path).get_docs(
            models["student"].vocab)])
        results["teacher"]["calibration"]["synthetic_p_pos_histogram"] = [
            int(x) for x in numpy.histogram(p_pos, bins=10, range=(0.0, 1.0))[0]]
    extra_tests = score_extra_tests(models, extra_dir, seed)
    rng = random.Random(seed)
    texts = [d.text for d in gold[:speed_docs]]
    speed, tokenizer_rounds = speed_rounds(timed, texts, rounds, min_round_seconds, batch_size, rng,
                                           tokenizer_of=models["student"],
                                           rounds_of={n: teacher_rounds for n in timed if n.startswith("teacher")},
                                           docs_of={n: teacher_speed_docs for n in timed if n.startswith("teacher")})
    latencies = {name: [] for name in names}
    order = list(names)
    for text in [d.text for d in gold[:latency_docs]]:
        rng.shuffle(order)
        for name in order:
            start = time.perf_counter()
            models[name](text)
            latencies[name].append((time.perf_counter() - start) * 1000)
    for name in names:
        for key in ("docs_per_sec", "words_per_sec"):
            results[name][key] = median_of(speed[name]["pretokenized"], key)
        results[name]["raw_docs_per_sec"] = median_of(speed[name]["raw"])
        results[name]["latency_p50_ms"] = float(numpy.percentile(latencies[name], 50))
        results[name]["latency_p95_ms"] = float(numpy.percentile(latencies[name], 95))
    if runtime != "fp32":
        fast_name = f"teacher_{runtime}"
        results["teacher"]["runtime"]["docs_per_sec"] = median_of(speed[fast_name]["pretokenized"])
        results["teacher"]["runtime"]["raw_docs_per_sec"] = median_of(speed[fast_name]["raw"])
    fastest_teacher = max(results["teacher"]["raw_docs_per_sec"],
                          results["teacher"].get("runtime", {}).get("raw_docs_per_sec", 0.0))
    distilled = ratios(correct, indices, None if gold_test else "no gold test labels")
    predicted = {name: p.argmax(1) for name, p in probs.items()}
    agree = (predicted["student"] == predicted["teacher"]).astype(int)
    comparisons = compare(correct, indices) if gold_test else {}
    if not gold_test:  # scores against the teacher's labels are agreement, not accuracy
        for name in names:
            m = results[name]
            m["agreement_with_teacher"], m["agreement_with_teacher_ci"] = m.pop("accuracy"), m.pop("accuracy_ci")
            m.update(accuracy=None, accuracy_ci=None, macro_f=None, macro_f_ci=None, auc=None, correct=None)
        # the test labels are the teacher's own: its agreement with them says nothing
        results["teacher"].update(agreement_with_teacher=None, agreement_with_teacher_ci=None)
    count = lambda p: len(DocBin().from_disk(p)) if p and p.exists() else None  # noqa: E731
    metrics = {
        "lang": lang, "labels": labels, "n_train": count(train_path), "n_synthetic": count(synthetic_path),
        "n_unlabelled": (json.loads((unlabelled_dir / "labelling.json").read_text())["n_docs"]
                         if unlabelled_dir and (unlabelled_dir / "labelling.json").exists() else 0),
        "n_test": len(gold), "test_sha256": sha256_of(test_path), "gold_test": gold_test, "models": results,
        "comparisons": comparisons,
        **distilled,
        # the same models on test sets from other sources (assets/extra_tests/LANG), each with its own intervals
        "extra_tests": extra_tests,
        "student_teacher_agreement": float(agree.mean()),
        "student_teacher_agreement_ci": accuracy_summary(agree, indices)["ci"],
        # end to end (raw text through nlp.pipe, tokenizer included)
        "student_speedup": {"vs_teacher_fp32": results["student"]["raw_docs_per_sec"] / results["teacher"]["raw_docs_per_sec"],
                            "vs_teacher_fastest": results["student"]["raw_docs_per_sec"] / fastest_teacher,
                            "teacher_runtime": runtime},
        "tokenizer_docs_per_sec": float(numpy.median(tokenizer_rounds)),
        "labelling": read_record(synthetic_path, ".labelling.json"),
        "transfer_set": read_record(synthetic_path.with_name("augmented.spacy") if synthetic_path else None,
                                    ".augment.json"),
        "intervals": f"{int(CONFIDENCE * 100)}% bootstrap over test docs, {len(indices)} resamples, "
                     "paired for differences; McNemar exact p",
        "speed": {"docs": len(texts), "rounds": rounds, "teacher_rounds": teacher_rounds,
                  "teacher_docs": min(teacher_speed_docs, len(texts)),
                  "min_round_seconds": min_round_seconds,
                  "batch_size": batch_size, "latency_docs": min(latency_docs, len(gold)),
                  "torch_threads": torch.get_num_threads(),
                  "method": "docs_per_sec: spacy.cli.benchmark_speed.annotate on pre-tokenized docs; "
                            "raw_docs_per_sec: nlp.pipe on raw texts, tokenizer included; latency is nlp(text)"},
    }
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(json.dumps(metrics, indent=2))
    score_key = "accuracy" if gold_test else "agreement_with_teacher"
    rows = [(n, f"{fmt_pct(results[n][score_key])} {fmt_ci(results[n][score_key + '_ci'])}",
             f"{results[n]['auc']:.4f}" if results[n]["auc"] is not None else "-", f"{results[n]['size_mb']:.1f}",
             f"{results[n]['raw_docs_per_sec']:.1f}", f"{results[n]['docs_per_sec']:.1f}",
             f"{results[n]['latency_p50_ms']:.2f}") for n in names]
    if runtime != "fp32":
        fast = results["teacher"]["runtime"]
        rows.append((f"teacher {runtime}", f"{fmt_pct(fast['accuracy'])} {fmt_ci(fast['accuracy_ci'])}",
                     f"{fast['auc']:.4f}", "", f"{fast['raw_docs_per_sec']:.1f}", f"{fast['docs_per_sec']:.1f}", ""))
    msg.table(rows, header=("model", ("acc" if gold_test else "agree w/ teacher") + " % [95% CI]", "AUC", "MB", "docs/s raw text", "docs/s pre-tok.",
                            "p50 ms"), divider=True)
    msg.info(f"The tokenizer alone runs at {metrics['tokenizer_docs_per_sec']:.0f} docs/s on the same texts "
             f"(the ceiling); the student at {100 * results['student']['raw_docs_per_sec'] / metrics['tokenizer_docs_per_sec']:.0f}% of it")
    speedup = metrics["student_speedup"]
    msg.info(f"Student end to end: {speedup['vs_teacher_fp32']:.0f}x the fp32 teacher's docs/s, "
             f"{speedup['vs_teacher_fastest']:.0f}x the fastest gated teacher runtime's ({runtime})")
    for name, extra in extra_tests.items():
        line = ", ".join(f"{m} {fmt_pct(extra['models'][m]['accuracy'])} {fmt_ci(extra['models'][m]['accuracy_ci'])}"
                         for m in names)
        msg.info(f"Extra test set {name} ({extra['n']} docs): {line}")
    for key, diff in comparisons.items():
        label = key.replace("_vs_", " - ")
        msg.info(f"{label}: {100 * diff['difference']:+.1f} points {fmt_ci(diff['ci'], True)}, "
                 f"McNemar p {diff['mcnemar_p'][0]:.3f}")
        if key == "student_vs_baseline" and too_wide_note(diff, len(gold)):
            msg.warn(f"{label}: {too_wide_note(diff, len(gold))}")
    msg.info(f"Student and teacher agree on {fmt_pct(metrics['student_teacher_agreement'])}% "
             f"{fmt_ci(metrics['student_teacher_agreement_ci'])} of the {len(gold)} test docs")
    if not gold_test:
        msg.warn("No accuracy was measured: the test texts have no gold labels")
    elif distilled["why_null"]:
        msg.warn(f"No gap closed or error reduction: {distilled['why_null']}")
    msg.good(f"Wrote {output_path}")


if __name__ == "__main__":
    run_cli(main, settings=("evaluate",))
