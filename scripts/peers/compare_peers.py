"""The classifiers a user would pick instead of the student, on this run's reviews.

TF-IDF + logistic regression, fastText and Model2Vec + logistic regression (configs/
peers.cfg; scripts/peers/classifiers.py), each trained twice: on the gold training
reviews, and on the run's transfer set (the synthetic reviews, the unlabelled texts and
the original reviews, with the teacher's labels: the set the student learns from). Each
is scored on the run's test set beside the shipped student: accuracy with its 95%
interval, the paired difference from the student, raw-text docs/s timed in the same
interleaved rounds as the student, the baseline, the teacher (in the runtime its gate
chose) and spaCy's tokenizer (median of rounds),
size on disk and training time. fastText, whose training depends on its seed, is trained
with n_seeds seeds (the others give the same model every time). Writes training/{run}/
peers.json, peers.md and peers.png (accuracy against speed).
"""
import json
import random
import time
from pathlib import Path
from typing import List, Tuple

import numpy
import typer
from spacy.tokens import DocBin
from thinc.api import Config
from wasabi import msg

from scripts.student import distillation  # noqa: F401  (registers the student's component and layers)
from scripts.evaluation.measure import accuracy_summary, paired_difference, resample_indices
from scripts.evaluation.speed import dir_size_mb, text_rounds
from scripts.peers.classifiers import PEER_CLASSES, PEERS, distill_static_model
from scripts.peers.peer_report import write_peers
from scripts.shared.cli_support import InputError, load_pipeline, require, run_cli, sha256_of
from scripts.teacher.backbones import put_backbone
from scripts.teacher.teacher_runtime import load_teacher, read_chosen_runtime

ROUTES = ("gold", "distilled")
SEEDED = ("fasttext",)  # the peers whose training depends on the seed


def read_split(path: Path, vocab, labels: List[str]) -> Tuple[List[str], numpy.ndarray]:
    """Texts and their (n, n_classes) targets in `labels` order (gold one-hot or the teacher's probabilities)."""
    texts, targets = [], []
    for doc in DocBin().from_disk(path).get_docs(vocab):
        texts.append(doc.text)
        targets.append([doc.cats.get(label, 0.0) for label in labels])
    return texts, numpy.array(targets, dtype=float).reshape(len(texts), len(labels))


def transfer_set(corpus: Path, original: str, vocab, labels: List[str]) -> Tuple[List[str], numpy.ndarray]:
    """What the student learns from: synthetic reviews, unlabelled texts (the label step's
    chunks) and the original reviews, each with the teacher's probabilities."""
    parts = [corpus / "synthetic.spacy", *sorted((corpus / "unlabelled_teacher").glob("*.spacy")),
             corpus / f"{original}.spacy"]
    read = [read_split(p, vocab, labels) for p in parts]
    return [t for texts, _ in read for t in texts], numpy.concatenate([targets for _, targets in read])


def main(
    run: str = typer.Argument(..., help="The run's folder under corpus/ and training/ (after `all`)"),
    lang: str = typer.Option("nl"), checkpoint: str = typer.Option("model-last"),
    student_original: str = typer.Option("train_teacher", help="The original reviews in the transfer set"),
    backbone: str = typer.Option("multilingual-e5-small", help="What Model2Vec distils (var teacher_backbone)"),
    backbone_dir: Path = typer.Option(Path("assets/backbones/teacher"), help="Where the backbone is put"),
    config_path: Path = typer.Option(Path("configs/peers.cfg"), "--config", help="The peers' settings"),
    n_seeds: int = typer.Option(3, help="fastText's seeds"), speed_docs: int = typer.Option(300),
    rounds: int = typer.Option(3), min_round_seconds: float = typer.Option(1.0),
    batch_size: int = typer.Option(1000), seed: int = typer.Option(0),
):
    corpus, training = Path("corpus") / run, Path("training") / run
    metrics_path = require(training / "metrics.json", "the run's metrics", "evaluate")
    for name in ("train", "dev", "test", "synthetic", student_original):
        require(corpus / f"{name}.spacy", f"the run's {name} set", "all")
    metrics = json.loads(metrics_path.read_text())
    if "baseline" not in metrics["models"]:
        raise InputError(f"{metrics_path} has no baseline: the peers need gold training labels, which a run "
                         "without them (the `unlabelled` workflow) does not have")
    if metrics["test_sha256"] != sha256_of(corpus / "test.spacy"):
        raise InputError(f"{metrics_path} scored another test set than {corpus / 'test.spacy'}; rerun `evaluate`")
    settings = Config().from_disk(config_path)
    unknown = set(settings) - set(PEERS)
    if unknown:
        raise InputError(f"{config_path}: unknown section(s) {', '.join(sorted(unknown))}; the peers are {', '.join(PEERS)}")
    labels = metrics["labels"]
    student = load_pipeline(training / "student" / checkpoint, "the student", "train-student")
    baseline = load_pipeline(training / "baseline" / checkpoint, "the baseline", "train-baseline")
    vocab = student.vocab
    data = {"gold": read_split(corpus / "train.spacy", vocab, labels),
            "distilled": transfer_set(corpus, student_original, vocab, labels)}
    dev_texts, dev_targets = read_split(corpus / "dev.spacy", vocab, labels)
    test_texts, test_targets = read_split(corpus / "test.spacy", vocab, labels)
    dev_gold, test_gold = dev_targets.argmax(axis=1), test_targets.argmax(axis=1)

    put_backbone(backbone, backbone_dir, rebuild=False)
    static_dir = training / "peers" / "model2vec_static"
    m2v = settings["model2vec_lr"]
    msg.info(f"Model2Vec: distilling a static model from {backbone_dir} (kept in {static_dir})")
    distill_seconds = distill_static_model(backbone_dir, static_dir, m2v["pca_dims"], m2v["quantize_to"])

    rows, fitted, correct = {}, {}, {}
    for peer in PEERS:
        extra = {"static_model": static_dir} if peer == "model2vec_lr" else {}
        for route in ROUTES:
            texts, targets = data[route]
            per_seed, seconds = [], []
            for s in range(n_seeds if peer in SEEDED else 1):
                model = PEER_CLASSES[peer](settings[peer], len(labels), seed=seed + s, **extra)
                start = time.perf_counter()
                model.fit(texts, targets, dev_texts, dev_gold)
                seconds.append(time.perf_counter() - start)
                per_seed.append(model.predict_proba(test_texts).argmax(axis=1) == test_gold)
                if s == 0:
                    fitted[f"{peer}/{route}"] = model
                    model.save(training / "peers" / peer / route)
            name = f"{peer}/{route}"
            correct[name] = numpy.array(per_seed, dtype=int)
            rows[name] = {"peer": peer, "route": route, "n_seeds": len(per_seed), "training_examples": len(texts),
                          "train_seconds": float(numpy.mean(seconds)) + (distill_seconds if extra else 0.0),
                          "size_mb": dir_size_mb(training / "peers" / peer / route)}
            msg.good(f"{name}: accuracy {correct[name].mean():.3f} ({len(texts)} training texts, "
                     f"{rows[name]['train_seconds']:.0f} s)")

    texts = test_texts[:speed_docs]
    # the teacher as it labels: the runtime its gate chose
    runtime = read_chosen_runtime(require(training / "teacher_runtime.json", "the teacher's runtime",
                                          "teacher-runtime"))
    teacher = load_teacher(training / "teacher" / "model-last", runtime)
    predictors = {"student": lambda t: list(student.pipe(t, batch_size=batch_size)),
                  "baseline": lambda t: list(baseline.pipe(t, batch_size=batch_size)),
                  "teacher": lambda t: list(teacher.pipe(t, batch_size=64)),
                  **{name: model.predict_proba for name, model in fitted.items()}}
    speed, tokenizer = text_rounds(predictors, texts, rounds, min_round_seconds, random.Random(seed),
                                   tokenizer=student.tokenizer)
    indices = resample_indices(len(test_texts))
    student_correct = numpy.array(metrics["models"]["student"]["correct"])
    for name, row in rows.items():
        row.update(accuracy_summary(correct[name], indices),
                   vs_student=paired_difference(correct[name], student_correct, indices),
                   raw_docs_per_sec=float(numpy.median(speed[name])), speed_rounds=speed[name])
        if row["route"] == "distilled":  # what the teacher's labels do for this kind of model
            row["vs_gold"] = paired_difference(correct[name], correct[f"{row['peer']}/gold"], indices)
        # better on both axes: accuracy by more than its paired interval, and faster in every round
        row["beats_student"] = bool(row["vs_student"]["ci"][0] > 0 and min(speed[name]) > max(speed["student"]))
    models = {}
    for name in ("student", "baseline", "teacher"):
        m = metrics["models"][name]
        models[name] = {"accuracy": m["accuracy"], "ci": m["accuracy_ci"], "size_mb": m["size_mb"],
                        "raw_docs_per_sec": float(numpy.median(speed[name])), "speed_rounds": speed[name]}
    models["teacher"]["runtime"] = runtime
    result = {
        "run": run, "n_test": len(test_texts), "test_sha256": metrics["test_sha256"], "labels": labels,
        "peers": rows, "models": models, "tokenizer_docs_per_sec": float(numpy.median(tokenizer)),
        "model2vec_distill_seconds": distill_seconds, "config": settings,
        "speed": {"docs": len(texts), "rounds": rounds, "min_round_seconds": min_round_seconds,
                  "batch_size": batch_size, "teacher_runtime": runtime},
        "intervals": "95% bootstrap over test docs (and fastText's seeds, hierarchical), paired for differences",
        "correct": {k: v.tolist() for k, v in correct.items()},
    }
    write_peers(training, result)


if __name__ == "__main__":
    run_cli(main, settings=("evaluate",), study=("seeds",))
