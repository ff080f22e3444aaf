"""Train student and baseline with several seeds against one teacher and one synthetic set.

Seeds change initialisation, dropout and batch order; the teacher, the synthetic data
and the test set stay fixed. Each model is scored on every test doc, and each bootstrap
resample draws test docs and seeds with replacement (hierarchical), paired across
models: the interval of student - baseline covers test-set sampling and retraining
(the student's and the baseline's), but not retraining the one teacher. Both checkpoints are scored on dev and test, to
show how far early stopping on dev (model-best) flatters the dev number.
A seed trained with the same inputs is skipped, so an interrupted run resumes.
"""
import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy
import spacy
import typer
from spacy.tokens import DocBin
from thinc.api import Config
from wasabi import msg

from scripts.student import distillation  # noqa: F401  (registers the student's component)
from scripts.shared.cli_support import InputError, require, run_cli, script_command, sha256_of
from scripts.evaluation.evaluate import score_docs
from scripts.experiments.points import CHECKPOINTS, inputs_signature, is_trained, train_seed
from scripts.experiments.render import seeds_markdown
from scripts.evaluation.measure import accuracy_summary, distillation_ratios, fmt_ci, paired_difference, resample_indices

# The drivers run from the project folder, as project.yml runs them.
CONFIGS = {m: Path("configs") / f"{m}.cfg" for m in ("student", "baseline")}
# Where the ensemble's embedding layer says whether it reads static vectors.
VECTORS_SWITCH = "components.textcat.model.tok2vec.embed.include_static_vectors"


def vectors_setting(config_path: Path) -> Optional[bool]:
    """The config's include_static_vectors, or None when its model has no such switch there."""
    node = Config().from_disk(config_path, interpolate=False)
    for key in VECTORS_SWITCH.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, bool) else None


def plan_variants(routes: bool, configs: Dict[str, Path] = CONFIGS) -> Dict[str, Tuple[str, List[str]]]:
    """name -> (model, extra overrides). The shipped student and the baseline as configured;
    with `routes`, each also with the teacher's vectors switched the other way, so the
    report shows what the soft targets and the vectors each carry."""
    variants = {"student": ("student", []), "baseline": ("baseline", [])}
    if not routes:
        return variants
    for model in ("student", "baseline"):
        setting = vectors_setting(configs[model])
        if setting is None:
            msg.warn(f"{configs[model]} has no {VECTORS_SWITCH}: its route without/with vectors is not trained")
            continue
        name = f"{model}_{'no_vectors' if setting else 'vectors'}"
        variants[name] = (model, [f"--{VECTORS_SWITCH}", str(not setting).lower()])
    return variants


def vectors_effect(variants: Dict[str, Tuple[str, List[str]]], chosen: Dict, indices) -> Dict:
    """For student and baseline: accuracy with the teacher's vectors minus without them
    (paired, pooled over seeds), where both were trained."""
    out = {}
    for name, (model, extra) in variants.items():
        if name == model:
            continue
        with_vectors = name.endswith("_vectors") and not name.endswith("_no_vectors")
        on, off = (name, model) if with_vectors else (model, name)
        out[model] = paired_difference(chosen[on], chosen[off], indices)
    return out


def train_args(model: str, run: str, student_original: str, configs: Dict[str, Path]) -> List[str]:
    corpus = Path("corpus") / run
    if model == "student":
        return [str(configs["student"]), "--paths.synthetic", str(corpus / "synthetic.spacy"),
                "--paths.original", str(corpus / f"{student_original}.spacy")]
    return [str(configs["baseline"]), "--paths.train", str(corpus / "train.spacy")]


def seed_command(model: str, extra: List[str], seed: int, output: Path, run: str, lang: str, student_original: str,
                 evals: int, gpu_id: int, configs: Dict[str, Path] = CONFIGS) -> List[str]:
    config, *paths = train_args(model, run, student_original, configs)
    # train.py loads the vectors only for a config whose model reads them.
    return [*script_command("scripts.shared.train"), config, str(output), "--evals", str(evals),
            "--gpu-id", str(gpu_id), *paths, "--paths.dev", str(Path("corpus") / run / "dev.spacy"),
            "--paths.vectors", str(Path("training") / run / "vectors"), *extra,
            "--nlp.lang", lang, "--system.seed", str(seed)]


def check_run(run: str, n_seeds: int, checkpoint: str) -> Tuple[Path, Path]:
    """(corpus, training) folders of a finished run with its splits and synthetic set,
    after checking the settings every multi-seed driver shares."""
    if n_seeds < 2:
        raise InputError(f"n-seeds must be at least 2 to give a spread, got {n_seeds}; fix the var n_seeds")
    if checkpoint not in CHECKPOINTS:
        raise InputError(f"checkpoint must be one of {', '.join(CHECKPOINTS)}, got '{checkpoint}'")
    corpus, training = Path("corpus") / run, Path("training") / run
    for name, step in (("synthetic.spacy", "label"), ("test.spacy", "corpus"), ("dev.spacy", "corpus")):
        require(corpus / name, name, step)
    return corpus, training


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
        raise InputError(f"seed_routes '{seed_routes}': use 'routes' or 'no-routes'; fix the var seed_routes")
    routes = seed_routes == "routes"
    corpus, training = check_run(run, n_seeds, checkpoint)
    teacher_path = require(training / "teacher" / "model-last", "the trained teacher", "train-teacher")
    if not student_config.exists():
        raise InputError(f"student config {student_config}: no such file; fix the var student_config")
    configs = {**CONFIGS, "student": student_config}
    variants = plan_variants(routes, configs)
    wall: Dict[str, Dict[int, float]] = {name: {} for name in variants}
    for seed in range(n_seeds):
        for name, (model, extra) in variants.items():
            output = training / "seeds" / str(seed) / name
            cmd = seed_command(model, extra, seed, output, run, lang, student_original, evals, gpu_id, configs)
            if is_trained(output, inputs_signature(cmd, output)):
                wall[name][seed] = json.loads((output / "schedule.json").read_text())["wall_seconds"]
                msg.info(f"Seed {seed} {name}: already trained with these inputs")
                continue
            msg.divider(f"seed {seed}: {name}")
            wall[name][seed] = train_seed(cmd, output, name, seed)
    vocab = spacy.blank(lang).vocab
    gold = {split: list(DocBin().from_disk(corpus / f"{split}.spacy").get_docs(vocab)) for split in ("dev", "test")}
    indices = resample_indices(len(gold["test"]))
    teacher = spacy.load(teacher_path)
    teacher_correct = score_docs(teacher, gold["test"])[0]
    # correct[variant][checkpoint][split]: (n_seeds, n_docs)
    correct = {m: {c: {s: [] for s in gold} for c in CHECKPOINTS} for m in variants}
    for name in correct:
        for seed in range(n_seeds):
            for ckpt in CHECKPOINTS:
                nlp = spacy.load(training / "seeds" / str(seed) / name / ckpt)
                for split, docs in gold.items():
                    correct[name][ckpt][split].append(score_docs(nlp, docs)[0])
    chosen = {m: numpy.array(correct[m][checkpoint]["test"]) for m in correct}
    models = {m: accuracy_summary(chosen[m], indices) for m in chosen}
    models["teacher"] = accuracy_summary(teacher_correct, indices)
    drift = {m: {c: {"dev": float(numpy.mean(correct[m][c]["dev"])), "test": float(numpy.mean(correct[m][c]["test"])),
                     "dev_minus_test_per_seed": [float(numpy.mean(d) - numpy.mean(t)) for d, t in
                                                 zip(correct[m][c]["dev"], correct[m][c]["test"])]}
                 for c in CHECKPOINTS} for m in correct}
    result = {
        "run": run, "lang": lang, "n_seeds": n_seeds, "checkpoint": checkpoint, "n_test": len(gold["test"]),
        "models": models,
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
    run_cli(main)
