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
from typing import Dict, List

import numpy
import spacy
import typer
from spacy.cli.benchmark_speed import annotate
from spacy.scorer import Scorer
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from wasabi import msg

import distillation  # noqa: F401  (registers the student's component and scorer)
from cli_support import InputError, run_cli
from distillation import textcat_accuracy

MODEL_NAMES = ("baseline", "teacher", "student")


def dir_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def count_params(nlp) -> int:
    total = 0
    for _, component in nlp.pipeline:
        model = getattr(component, "model", None)
        if model is None:
            continue
        for node in model.walk():
            total += sum(node.get_param(n).size for n in node.param_names if node.has_param(n))
            for shim in node.shims:
                torch_model = getattr(shim, "_model", None)
                if torch_model is not None and hasattr(torch_model, "parameters"):
                    total += sum(p.numel() for p in torch_model.parameters())
    return total


def quality(nlp, gold_docs: List[Doc]) -> Dict[str, float]:
    examples = [Example(pred, gold) for pred, gold in
                zip(nlp.pipe(d.text for d in gold_docs), gold_docs)]
    scores = Scorer.score_cats(examples, "cats", labels=list(gold_docs[0].cats), multi_label=False)
    predicted = [max(eg.predicted.cats, key=eg.predicted.cats.get) for eg in examples]
    return {"accuracy": textcat_accuracy(examples), "macro_f": scores["cats_macro_f"],
            "auc": scores["cats_macro_auc"]}, predicted


def batch_speed(nlp, texts: List[str], batch_size: int) -> Dict[str, float]:
    docs = [nlp.make_doc(t) for t in texts]
    start = time.perf_counter()
    wps = annotate(nlp, docs, batch_size)
    elapsed = time.perf_counter() - start
    n_words = sum(len(d) for d in docs)
    return {"docs_per_sec": len(docs) / elapsed, "words_per_sec": n_words / elapsed,
            "batch_words_per_sec_mean": float(numpy.mean(wps))}


def main(
    test_path: Path = typer.Argument(..., help="Gold test docs (.spacy)"),
    output_path: Path = typer.Argument(..., help="metrics.json"),
    baseline: Path = typer.Option(...), teacher: Path = typer.Option(...), student: Path = typer.Option(...),
    train_path: Path = typer.Option(None, help="Original training docs, for n_train"),
    synthetic_path: Path = typer.Option(None, help="Synthetic docs, for n_synthetic"),
    lang: str = typer.Option("nl"),
    speed_docs: int = typer.Option(300, help="Test docs used for the speed rounds"),
    rounds: int = typer.Option(3, help="Interleaved speed rounds; the median is reported"),
    latency_docs: int = typer.Option(100, help="Docs timed one at a time for latency"),
    batch_size: int = typer.Option(64),
    seed: int = typer.Option(0),
):
    paths = {"baseline": baseline, "teacher": teacher, "student": student}
    for name, path in [*paths.items(), ("test", test_path)]:
        if not path.exists():
            raise InputError(f"{path}: missing {name}; run the steps before `evaluate` first")
    models = {name: spacy.load(path) for name, path in paths.items()}
    gold = list(DocBin().from_disk(test_path).get_docs(models["student"].vocab))
    if not gold:
        raise InputError(f"{test_path}: no test docs")
    results, predictions = {}, {}
    for name in MODEL_NAMES:
        msg.info(f"Scoring the {name} on {len(gold)} test docs")
        results[name], predictions[name] = quality(models[name], gold)
        results[name]["size_mb"] = dir_size_mb(paths[name])
        results[name]["params"] = count_params(models[name])
    rng = random.Random(seed)
    texts = [d.text for d in gold[:speed_docs]]
    rounds_out = {name: [] for name in MODEL_NAMES}
    latencies = {name: [] for name in MODEL_NAMES}
    order = list(MODEL_NAMES)
    for name in MODEL_NAMES:  # warm-up: first calls allocate and fill caches
        list(models[name].pipe(texts[:batch_size]))
    for r in range(rounds):
        rng.shuffle(order)
        for name in order:
            rounds_out[name].append(batch_speed(models[name], texts, batch_size))
        msg.info(f"Speed round {r + 1}/{rounds} done")
    for text in [d.text for d in gold[:latency_docs]]:
        rng.shuffle(order)
        for name in order:
            start = time.perf_counter()
            models[name](text)
            latencies[name].append((time.perf_counter() - start) * 1000)
    for name in MODEL_NAMES:
        for key in ("docs_per_sec", "words_per_sec"):
            results[name][key] = float(numpy.median([r[key] for r in rounds_out[name]]))
        results[name]["latency_p50_ms"] = float(numpy.percentile(latencies[name], 50))
        results[name]["latency_p95_ms"] = float(numpy.percentile(latencies[name], 95))
    acc = {name: results[name]["accuracy"] for name in MODEL_NAMES}
    base_err = 1.0 - acc["baseline"]
    gap = acc["teacher"] - acc["baseline"]
    agreement = numpy.mean([s == t for s, t in zip(predictions["student"], predictions["teacher"])])
    count = lambda p: len(DocBin().from_disk(p)) if p and p.exists() else None  # noqa: E731
    metrics = {
        "lang": lang, "n_train": count(train_path), "n_synthetic": count(synthetic_path),
        "n_test": len(gold), "models": results,
        "error_reduction": (acc["student"] - acc["baseline"]) / base_err if base_err else None,
        "gap_closed": (acc["student"] - acc["baseline"]) / gap if gap else None,
        "student_teacher_agreement": float(agreement),
        "speed": {"docs": len(texts), "rounds": rounds, "batch_size": batch_size,
                  "latency_docs": min(latency_docs, len(gold)),
                  "method": "spacy.cli.benchmark_speed.annotate on pre-tokenized docs; latency is nlp(text)"},
    }
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(json.dumps(metrics, indent=2))
    rows = [(n, f"{results[n]['accuracy']:.4f}", f"{results[n]['macro_f']:.4f}", f"{results[n]['auc']:.4f}",
             f"{results[n]['size_mb']:.1f}", f"{results[n]['docs_per_sec']:.1f}",
             f"{results[n]['latency_p50_ms']:.2f}") for n in MODEL_NAMES]
    msg.table(rows, header=("model", "acc", "macro F", "AUC", "MB", "docs/s", "p50 ms"), divider=True)
    msg.good(f"Wrote {output_path}: gap closed {metrics['gap_closed']}, error reduction {metrics['error_reduction']}")


if __name__ == "__main__":
    run_cli(main)
