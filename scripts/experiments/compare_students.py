"""Student architectures side by side: accuracy against end-to-end speed and size.

Each student config is distilled on the run's transfer set (the synthetic set plus the
original reviews, as `train-student` does) and, as its own baseline, trained with the
same architecture on the gold training reviews alone, for as many epochs as
configs/baseline.cfg gives the baseline. Both with `n_seeds` seeds; one teacher, one
transfer set. Intervals resample test docs and seeds together, paired across models.
Speed is end to end (raw texts through nlp.pipe, tokenizer included) and pre-tokenized,
timed on seed 0's model in interleaved rounds, beside the tokenizer's own rate.
A model trained with the same inputs is reused, here or from `all` and `seeds`, so an
interrupted run resumes and the shipped config's students are not trained twice.
"""
import json
import random
from functools import partial
from pathlib import Path
from typing import Dict, List, Tuple

import numpy
import spacy
import typer
from spacy.tokens import DocBin
from thinc.api import Config

from scripts.student import distillation  # noqa: F401  (registers the student's component and layers)
from scripts.shared.cli_support import InputError, require, run_cli, script_command, sha256_of
from scripts.evaluation.speed import count_params, dir_size_mb, median_of, speed_rounds
from scripts.evaluation.measure import accuracy_summary, paired_difference, resample_indices
from scripts.experiments.points import CONFIGS, STUDENT_CODE, check_run, score_seeds, train_models
from scripts.experiments.render import frontier_plot, students_markdown, write_results

ROUTES = ("distilled", "gold")
BASELINE_CONFIG = CONFIGS["baseline"]


def train_command(config: Path, route: str, seed: int, output: Path, run: str, args: Dict) -> List[str]:
    corpus = Path("corpus") / run
    if route == "distilled":
        data = ["--paths.synthetic", str(corpus / "synthetic.spacy"),
                "--paths.original", str(corpus / f"{args['student_original']}.spacy"),
                "--paths.unlabelled", str(corpus / "unlabelled_teacher")]
    else:  # the same model on gold labels only, trained as long as the baseline is
        epochs = Config().from_disk(BASELINE_CONFIG, interpolate=False)["training"]["max_epochs"]
        data = ["--paths.synthetic", "null", "--paths.original", str(corpus / "train.spacy"),
                "--training.max_epochs", str(epochs)]
    return [*script_command("scripts.shared.train"), str(config), str(output), "--code", str(STUDENT_CODE),
            "--evals", str(args["evals"]), "--gpu-id", str(args["gpu_id"]), *data,
            "--paths.dev", str(corpus / "dev.spacy"),
            "--paths.vectors", str(Path("training") / run / "vectors"), "--nlp.lang", args["lang"],
            "--system.seed", str(seed)]


def trained_students(training: Path, n_seeds: int) -> List[Path]:
    """Students this run trained already (`all`'s and the `seeds`'): the shipped config's
    distilled seeds are copied from them where their inputs match."""
    return [training / "student", *(training / "seeds" / str(seed) / "student" for seed in range(n_seeds))]


def time_models(models: Dict[str, spacy.Language], texts: List[str], rounds: int, min_seconds: float,
                batch_size: int) -> Tuple[Dict[str, Dict[str, float]], float]:
    """Median docs/s over interleaved rounds: raw text end to end, and pre-tokenized; and
    the tokenizer alone, timed in the same rounds."""
    speed, tokenizer = speed_rounds(models, texts, rounds, min_seconds, batch_size, random.Random(0),
                                    tokenizer_of=next(iter(models.values())))
    return ({name: {"raw_docs_per_sec": median_of(speed[name]["raw"]),
                    "pretokenized_docs_per_sec": median_of(speed[name]["pretokenized"])} for name in models},
            float(numpy.median(tokenizer)))


def main(
    run: str = typer.Argument(..., help="The run's folder under corpus/ and training/ (after `all`)"),
    configs: str = typer.Option(..., help="Comma-separated student configs; the first is the shipped one"),
    n_seeds: int = typer.Option(3), checkpoint: str = typer.Option("model-last"), evals: int = typer.Option(10),
    student_original: str = typer.Option("train_teacher"), lang: str = typer.Option("nl"),
    gpu_id: int = typer.Option(-1), speed_docs: int = typer.Option(300), rounds: int = typer.Option(3),
    min_round_seconds: float = typer.Option(1.0), batch_size: int = typer.Option(1000),
):
    paths = [Path(c.strip()) for c in configs.split(",") if c.strip()]
    for path in paths:
        if path.suffix != ".cfg" or not path.exists():
            raise InputError(f"student config '{path}': no such .cfg file; fix configs in [students] of configs/study.cfg")
    names = [p.stem for p in paths]
    if len(set(names)) != len(names):
        raise InputError(f"student_configs names one file name twice ({', '.join(names)}); give each its own name")
    corpus, training = check_run(run, n_seeds, checkpoint)
    metrics_path = require(training / "metrics.json", "the run's metrics", "evaluate")
    metrics = json.loads(metrics_path.read_text())
    if metrics["test_sha256"] != sha256_of(corpus / "test.spacy"):
        raise InputError(f"{metrics_path} scored another test set than {corpus / 'test.spacy'}; rerun `evaluate`")
    args = {"evals": evals, "gpu_id": gpu_id, "lang": lang, "student_original": student_original}
    folder = {(name, route, seed): training / "students" / name / route / str(seed)
              for seed in range(n_seeds) for name in names for route in ROUTES}
    jobs = [(f"{name} ({route})", seed, train_command(path, route, seed, folder[name, route, seed], run, args),
             folder[name, route, seed]) for seed in range(n_seeds) for path, name in zip(paths, names) for route in ROUTES]
    train_models(jobs, twins=trained_students(training, n_seeds))
    gold = list(DocBin().from_disk(corpus / "test.spacy").get_docs(spacy.blank(lang).vocab))
    indices = resample_indices(len(gold))
    teacher_correct = numpy.array(metrics["models"]["teacher"]["correct"])
    correct = {f"{name}/{route}": score_seeds([folder[name, route, s] / checkpoint for s in range(n_seeds)], gold)[0]
               for name in names for route in ROUTES}
    seed0 = {name: training / "students" / name / "distilled" / "0" / checkpoint for name in names}
    models = {name: spacy.load(path) for name, path in seed0.items()}
    texts = [d.text for d in gold[:speed_docs]]
    speed, tokenizer = time_models(models, texts, rounds, min_round_seconds, batch_size)
    teacher = metrics["models"]["teacher"]
    students = {}
    for name, path in zip(names, paths):
        distilled = correct[f"{name}/distilled"]
        students[name] = {
            "config": str(path), **accuracy_summary(distilled, indices),
            "gold": accuracy_summary(correct[f"{name}/gold"], indices),
            "vs_gold": paired_difference(distilled, correct[f"{name}/gold"], indices),
            "vs_shipped": paired_difference(distilled, correct[f"{names[0]}/distilled"], indices),
            "vs_teacher": paired_difference(distilled, teacher_correct, indices),
            **speed[name], "share_of_tokenizer": speed[name]["raw_docs_per_sec"] / tokenizer,
            "speedup_vs_teacher_fp32": speed[name]["raw_docs_per_sec"] / teacher["raw_docs_per_sec"],
            "size_mb": dir_size_mb(seed0[name]), "share_of_teacher_size": dir_size_mb(seed0[name]) / teacher["size_mb"],
            "params": count_params(models[name]), "vector_floats": int(models[name].vocab.vectors.data.size),
        }
    result = {
        "run": run, "n_seeds": n_seeds, "checkpoint": checkpoint, "n_test": len(gold),
        "test_sha256": metrics["test_sha256"], "shipped": names[0], "students": students,
        "teacher": {"accuracy": teacher["accuracy"], "ci": teacher["accuracy_ci"], "size_mb": teacher["size_mb"],
                    "raw_docs_per_sec": teacher["raw_docs_per_sec"]},
        "tokenizer_docs_per_sec": tokenizer,
        "speed": {"docs": len(texts), "rounds": rounds, "min_round_seconds": min_round_seconds,
                  "batch_size": batch_size, "model": f"seed 0, {checkpoint}"},
        "intervals": "95% bootstrap over test docs and seeds together (hierarchical), paired for differences",
        "correct": {k: v.astype(int).tolist() for k, v in correct.items()},
    }
    write_results(training, "students", result, students_markdown(result), partial(frontier_plot, result))


if __name__ == "__main__":
    run_cli(main, settings=("train", "evaluate"), study=("students", "seeds"))
