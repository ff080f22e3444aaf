"""Train student and baseline with several seeds against one teacher and one synthetic set.

Seeds change initialisation, dropout and batch order; the teacher, the synthetic data
and the test set stay fixed. Each model is scored on every test doc, and each bootstrap
resample draws test docs and seeds with replacement (hierarchical), paired across
models: the interval of student - baseline covers test-set sampling and retraining
(the student's and the baseline's), but not retraining the one teacher. Both checkpoints are scored on dev and test, to
show how far early stopping on dev (model-best) flatters the dev number.
A seed trained with the same inputs is skipped, so an interrupted run resumes; one trained
from the same inputs by `all` (seed 0 of student and baseline, at the default seed) is
copied from there, not trained again.
"""
import json
from pathlib import Path
from typing import Dict, List

import numpy
import spacy
import typer
from spacy.tokens import DocBin
from wasabi import msg

from scripts.student import distillation  # noqa: F401  (registers the student's component)
from scripts.shared.cli_support import InputError, load_pipeline, require, run_cli, script_command, sha256_of
from scripts.evaluation.scoring import score_docs
from scripts.evaluation.measure import accuracy_summary, distillation_ratios, fmt_ci, paired_difference, resample_indices
from scripts.experiments.points import CHECKPOINTS, CONFIGS, STUDENT_CODE, check_run, score_seeds, train_models
from scripts.experiments.render import seeds_markdown
from scripts.experiments.seed_routes import plan_variants, vectors_effect


def seed_command(model: str, extra: List[str], seed: int, output: Path, run: str, lang: str, student_original: str,
                 evals: int, gpu_id: int, configs: Dict[str, Path] = CONFIGS) -> List[str]:
    corpus = Path("corpus") / run
    if model == "student":
        data = ["--paths.synthetic", str(corpus / "synthetic.spacy"),
                "--paths.original", str(corpus / f"{student_original}.spacy"),
                "--paths.unlabelled", str(corpus / "unlabelled_teacher")]
    else:
        data = ["--paths.train", str(corpus / "train.spacy")]
    # train.py loads the vectors only for a config whose model reads them.
    return [*script_command("scripts.shared.train"), str(configs[model]), str(output), "--code", str(STUDENT_CODE),
            "--evals", str(evals), "--gpu-id", str(gpu_id), *data, "--paths.dev", str(corpus / "dev.spacy"),
            "--paths.vectors", str(Path("training") / run / "vectors"), *extra,
            "--nlp.lang", lang, "--system.seed", str(seed)]


def main(
    run: str = typer.Argument(..., help="The run's folder under corpus/ and training/"),
    n_seeds: int = typer.Option(3, help="Seeds 0..n-1"),
    checkpoint: str = typer.Option("model-last", help="The checkpoint the headline numbers use"),
    evals: int = typer.Option(10),
    student_original: str = typer.Option("train_teacher"),
    lang: str = typer.Option("nl"),
    gpu_id: int = typer.Option(-1),
    student_config: Path = typer.Option(CONFIGS["student"], help="The student's config (var student_config)"),
    seed_routes: str = typer.Option("routes", help="'routes': also train student and baseline with the teacher's "
                                    "vectors switched the other way; 'no-routes': only student and baseline"),
):
    if seed_routes not in ("routes", "no-routes"):
        raise InputError(f"seed_routes '{seed_routes}': use 'routes' or 'no-routes'; fix seed_routes in [seeds] of configs/study.cfg")
    corpus, training = check_run(run, n_seeds, checkpoint)
    teacher_path = require(training / "teacher" / "model-last", "the trained teacher", "teacher")
    if not student_config.exists():
        raise InputError(f"student config {student_config}: no such file; fix the var student_config")
    configs = {**CONFIGS, "student": student_config}
    variants = plan_variants(seed_routes == "routes", configs)
    folder = {(name, seed): training / "seeds" / str(seed) / name for seed in range(n_seeds) for name in variants}
    jobs = [(name, seed, seed_command(model, extra, seed, folder[name, seed], run, lang, student_original, evals,
                                      gpu_id, configs), folder[name, seed])
            for seed in range(n_seeds) for name, (model, extra) in variants.items()]
    wall = train_models(jobs, twins=[training / "student", training / "baseline"])
    vocab = spacy.blank(lang).vocab
    gold = {split: list(DocBin().from_disk(corpus / f"{split}.spacy").get_docs(vocab)) for split in ("dev", "test")}
    indices = resample_indices(len(gold["test"]))
    teacher_correct = score_docs(load_pipeline(teacher_path, "the trained teacher", "teacher"), gold["test"])[0]
    # correct[variant][checkpoint][split]: (n_seeds, n_docs)
    correct = {m: {c: dict(zip(gold, score_seeds([folder[m, seed] / c for seed in range(n_seeds)], *gold.values())))
                   for c in CHECKPOINTS} for m in variants}
    chosen = {m: correct[m][checkpoint]["test"] for m in correct}
    drift = {m: {c: {"dev": float(numpy.mean(correct[m][c]["dev"])), "test": float(numpy.mean(correct[m][c]["test"])),
                     "dev_minus_test_per_seed": [float(numpy.mean(d) - numpy.mean(t)) for d, t in
                                                 zip(correct[m][c]["dev"], correct[m][c]["test"])]}
                 for c in CHECKPOINTS} for m in correct}
    result = {
        "run": run, "lang": lang, "n_seeds": n_seeds, "checkpoint": checkpoint, "n_test": len(gold["test"]),
        "models": {**{m: accuracy_summary(chosen[m], indices) for m in chosen},
                   "teacher": accuracy_summary(teacher_correct, indices)},
        "student_vs_baseline": paired_difference(chosen["student"], chosen["baseline"], indices),
        "student_vs_teacher": paired_difference(chosen["student"], teacher_correct, indices),
        **distillation_ratios(chosen["baseline"], teacher_correct, chosen["student"], indices),
        # Every other variant against the baseline: what each route of the teacher's knowledge adds.
        "routes": {name: {"vs_baseline": paired_difference(chosen[name], chosen["baseline"], indices),
                          **distillation_ratios(chosen["baseline"], teacher_correct, chosen[name], indices)}
                   for name in variants if name not in ("student", "baseline")},
        # Each model with the teacher's vectors minus the same model without them.
        "vectors_effect": vectors_effect(variants, chosen, indices),
        "dev_test_drift": drift,
        # Per seed and test doc (1 = right), for paired comparisons with other runs on this test set.
        "test_sha256": sha256_of(corpus / "test.spacy"),
        "correct": {**{m: chosen[m].astype(int).tolist() for m in chosen}, "teacher": teacher_correct.tolist()},
        "wall_seconds": {m: {str(k): round(v, 1) for k, v in w.items()} for m, w in wall.items()},
    }
    (training / "seeds.json").write_text(json.dumps(result, indent=2))
    (training / "seeds.md").write_text(seeds_markdown(result))
    diff = result["student_vs_baseline"]
    msg.good(f"student - baseline over {n_seeds} seeds: {100 * diff['difference']:+.2f} points "
             f"{fmt_ci(diff['ci'], True)}; wrote {training / 'seeds.json'} and seeds.md")


if __name__ == "__main__":
    run_cli(main, settings=("train",), study=("seeds",))
