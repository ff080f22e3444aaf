"""The augmentation ablation: which of Tang et al.'s methods, and how much synthetic data,
the student needs.

For each finished run named (a folder training/{run} of this project or of a curve
size's folder, holding its teacher, vectors and labelled synthetic set), the student is
retrained with n_seeds seeds:
- "full": the run's own synthetic set (every method on, as labelled by `label`);
- "no_mask", "no_pos", "no_ngram", "no_sentence": that method switched off (its
  probability set to 0), the rest as configured; augmented to the same size as "full"
  (so a method's effect is not a size effect) and labelled anew;
- "synthetic_{k}": k synthetic examples. Below the run's own synthetic set's size they
  are a random subset of it; above it, one new set of the largest size is augmented and
  labelled, and subsets of it are taken for each larger k. A size
  within 15% of the run's own set is left out (it would repeat "full").
Every variant is scored on the run's test set against "full" (paired, pooled over seeds).
What is done is kept: augmentation, labelling (resumable) and each seed's model, which
is reused only while its inputs are unchanged.
"""
import json
from functools import partial
from pathlib import Path
from typing import Dict, List

import numpy
import spacy
import typer
from spacy.tokens import DocBin

from scripts.student import distillation  # noqa: F401  (registers the student's component)
from scripts.shared.cli_support import InputError, require, run_cli, script_command
from scripts.evaluation.scoring import score_docs
from scripts.evaluation.measure import accuracy_summary, paired_difference, resample_indices
from scripts.experiments.points import STUDENT_CODE, parse_vars, read_settings, score_seeds, train_models
from scripts.experiments.render import ablation_markdown, ablation_plot, write_results
from scripts.experiments.synthetic_variants import make_synthetic, subsample

# Each augmentation method and the var that switches it off at 0.
METHODS = {"no_mask": "p_mask", "no_pos": "p_pos", "no_ngram": "p_ng", "no_sentence": "p_sentence"}
NEAR_FULL = 0.15


def student_command(project: Path, run: str, synthetic: Path, output: Path, seed: int, recipe: Dict) -> List[str]:
    """One seed of the shipped student's recipe on another synthetic set."""
    corpus = project / "corpus" / run
    return [*script_command("scripts.shared.train"), recipe["student_config"], str(output),
            "--code", str(project / STUDENT_CODE), "--evals", recipe["evals"], "--gpu-id", recipe["gpu_id"],
            "--paths.synthetic", str(synthetic),
            "--paths.original", str(corpus / f"{recipe['student_original']}.spacy"),
            "--paths.dev", str(corpus / "dev.spacy"), "--paths.vectors", str(project / "training" / run / "vectors"),
            "--nlp.lang", json.loads((corpus / "stats.json").read_text())["lang"], "--system.seed", str(seed)]


def ablate_run(run_dir: Path, recipe: Dict, n_seeds: int, sizes: List[int], checkpoint: str) -> Dict:
    project, run = run_dir.parent.parent, run_dir.name
    corpus = project / "corpus" / run
    for name, step in (("teacher/model-last", "teacher"), ("vectors", "vectors"), ("baseline", "train-baseline")):
        require(run_dir / name, f"the run's {name}", step)
    full = require(corpus / "synthetic.spacy", "the labelled synthetic set", "label")
    n_full = len(DocBin().from_disk(full))
    synthetic = {"full": full}
    wall = {"full": 0.0}
    for variant, var in METHODS.items():
        folder = run_dir / "ablation" / variant
        wall[variant] = make_synthetic(project, run, variant, recipe, folder, {var: "0"}, n_full)
        synthetic[variant] = folder / "synthetic.spacy"
    # A size within NEAR_FULL of the run's own set would only repeat "full".
    sizes = [k for k in sizes if abs(k - n_full) > NEAR_FULL * n_full]
    larger = [k for k in sizes if k > n_full]
    if larger:  # one new set of the largest size; the other larger sizes are subsets of it
        folder = run_dir / "ablation" / f"size_{max(larger)}"
        more_seconds = make_synthetic(project, run, f"size {max(larger)}", recipe, folder, {}, max(larger))
        more = folder / "synthetic.spacy"
    for k in sizes:
        name = f"synthetic_{k}"
        synthetic[name] = run_dir / "ablation" / name / "synthetic.spacy"
        subsample(full if k < n_full else more, synthetic[name], k, int(recipe["seed"]))
        wall[name] = more_seconds if k == max(larger or [0]) else 0.0
    vocab = spacy.blank(json.loads((corpus / "stats.json").read_text())["lang"]).vocab
    gold = list(DocBin().from_disk(corpus / "test.spacy").get_docs(vocab))
    dev = list(DocBin().from_disk(corpus / "dev.spacy").get_docs(vocab))
    folder = {(name, seed): run_dir / "ablation" / name / f"seed{seed}" for name in synthetic for seed in range(n_seeds)}
    trained = train_models((f"{run}: {name}", seed, student_command(project, run, path, folder[name, seed], seed,
                                                                    recipe), folder[name, seed])
                           for name, path in synthetic.items() for seed in range(n_seeds))
    correct, dev_accuracy = {}, {}
    for name in synthetic:
        wall[name] += sum(trained[f"{run}: {name}"].values())
        models = [folder[name, seed] / checkpoint for seed in range(n_seeds)]
        correct[name], on_dev = score_seeds(models, gold, dev)
        dev_accuracy[name] = float(numpy.mean(on_dev))
    for name, path in (("baseline", run_dir / "baseline" / checkpoint), ("teacher", run_dir / "teacher" / "model-last")):
        correct[name] = score_docs(spacy.load(path), gold)[0]
    indices = resample_indices(len(gold))
    variants = {}
    for name, path in synthetic.items():
        variants[name] = {**accuracy_summary(correct[name], indices), "n_synthetic": len(DocBin().from_disk(path)),
                          "dev_accuracy": dev_accuracy[name], "wall_seconds": round(wall[name], 1)}
        if name != "full":
            variants[name]["vs_full"] = paired_difference(correct[name], correct["full"], indices)
    return {"run_dir": str(run_dir), "n_train": len(DocBin().from_disk(corpus / "train.spacy")), "n_test": len(gold),
            "n_seeds": n_seeds, "checkpoint": checkpoint, "variants": variants,
            "baseline": accuracy_summary(correct["baseline"], indices),
            "teacher": accuracy_summary(correct["teacher"], indices)}


def main(
    run_dirs: List[Path] = typer.Argument(..., help="Finished runs: training/{run} of this project or of a run folder"),
    output_dir: Path = typer.Option(Path("training/ablation"), help="Writes ablation.md, .json and .png here"),
    n_seeds: int = typer.Option(3),
    synthetic_sizes: str = typer.Option("1000,2000,10000,20000", help="Synthetic set sizes: subsets of the run's "
                                        "own set below its size, a larger set made with more rounds above it"),
    checkpoint: str = typer.Option("model-last"),
    lang: str = typer.Option("nl"),
    size: int = typer.Option(0, help="Also ablate this learning-curve size of lang (0: none)"),
    vars_text: str = typer.Option("", "--vars", help="The project's vars, 'key=value ...' (project.yml passes "
                                  "them); the augmentation, labelling and training settings come from its "
                                  "settings file"),
):
    if n_seeds < 1:
        raise InputError(f"n-seeds must be at least 1, got {n_seeds}")
    try:
        sizes = sorted({int(x) for x in synthetic_sizes.split(",") if x.strip()})
    except ValueError:
        raise InputError(f"synthetic sizes '{synthetic_sizes}': give whole numbers separated by commas") from None
    passed = parse_vars(vars_text)
    settings = Path(passed["settings"])
    label = read_settings(settings, "label")
    recipe = {**passed, **{k: str(v) for k, v in read_settings(settings, "augment").items()},
              "evals": str(read_settings(settings, "train")["evals"]), "student_original": "train_teacher",
              "label_batch_size": str(label["batch_size"]), "teacher_temperature": str(label["temperature"])}
    if size:
        curve_run = Path("training") / f"curve-{lang}" / f"n{size}" / "training" / f"n{size}"
        require(curve_run / "metrics.json", f"the learning curve's size {size}", "curve")
        run_dirs = [curve_run, *run_dirs]
    results = [ablate_run(run_dir, recipe, n_seeds, sizes, checkpoint) for run_dir in run_dirs]
    write_results(output_dir, "ablation", results, ablation_markdown(results), partial(ablation_plot, results))


if __name__ == "__main__":
    run_cli(main, study=("ablation", "seeds"))
