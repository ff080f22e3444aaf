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
import random
import subprocess
import time
from functools import partial
from pathlib import Path
from typing import Dict, List

import numpy
import spacy
import typer
from spacy.tokens import DocBin
from wasabi import msg

from scripts.student import distillation  # noqa: F401  (registers the student's component)
from scripts.shared.cli_support import InputError, require, run_cli, script_command
from scripts.shared.fingerprint import fingerprint
from scripts.evaluation.evaluate import score_docs
from scripts.evaluation.measure import accuracy_summary, paired_difference, resample_indices
from scripts.experiments.points import inputs_signature, is_trained, parse_recipe
from scripts.experiments.render import ablation_markdown, ablation_plot, write_results

# Each augmentation method and the var that switches it off at 0.
METHODS = {"no_mask": "p_mask", "no_pos": "p_pos", "no_ngram": "p_ng", "no_sentence": "p_sentence"}
NEAR_FULL = 0.15

def run_step(cmd: List[str], what: str) -> float:
    start = time.time()
    if subprocess.run(cmd).returncode != 0:
        raise InputError(f"{what} failed; see the output above, then rerun (finished work is kept)")
    return time.time() - start


def make_synthetic(project: Path, run: str, variant: str, recipe: Dict, folder: Path, changes: Dict,
                   target_size: int) -> float:
    """Augment the run's training reviews with the recipe's settings but `changes` (a method
    off), `target_size` examples, and have the teacher label them in the run's runtime."""
    corpus, training = project / "corpus" / run, project / "training" / run
    lang = json.loads((corpus / "stats.json").read_text())["lang"]
    args = {**{k: recipe[k] for k in ("p_mask", "p_pos", "p_ng", "ngram_max", "p_sentence", "seed")},
            **changes}
    augmented, synthetic = folder / "augmented.spacy", folder / "synthetic.spacy"
    # A variant's set is reused only while what made it is unchanged: the recipe, the code,
    # the teacher, its runtime and temperature, the tagger and the training reviews.
    signature = fingerprint({"augment": args, "target_size": target_size,
                             "label": {k: recipe[k] for k in ("label_batch_size", "teacher_temperature")}},
                            [corpus / "train.spacy", corpus / "unlabelled.spacy", training / "teacher" / "model-last",
                             training / "teacher_runtime.json", training / "teacher_runtime.int8.npz",
                             training / "teacher_temperature.json",
                             project / "training" / "taggers" / lang / "model-best"])
    inputs_path = folder / "inputs.json"
    if inputs_path.exists() and json.loads(inputs_path.read_text()).get("signature") != signature:
        msg.warn(f"{folder}: made under other conditions (recipe, code, teacher or data changed); making it anew")
        for path in (augmented, synthetic, folder / "wall_seconds.json"):  # only what this step wrote
            if path.exists():
                path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    inputs_path.write_text(json.dumps({"signature": signature}))
    # The time each step took is kept beside its output, so a resumed ablation still reports it.
    record_path = folder / "wall_seconds.json"
    seconds = json.loads(record_path.read_text()) if record_path.exists() else {}

    def record(step: str, took: float) -> None:
        seconds[step] = round(took, 1)
        folder.mkdir(parents=True, exist_ok=True)
        record_path.write_text(json.dumps(seconds))

    if not augmented.exists():
        unlabelled = corpus / "unlabelled.spacy"
        record("augment", run_step([*script_command("scripts.transfer.augment"), str(corpus / "train.spacy"),
                             str(project / "training" / "taggers" / lang / "model-best"),
                             str(training / "teacher" / "model-last"), str(augmented),
                             *[f"--{k.replace('_', '-')}={v}" for k, v in args.items()],
                             f"--target-size={target_size}",
                             *([f"--unlabelled={unlabelled}"] if unlabelled.exists() else [])],
                            f"augmenting {run} {variant}"))
    if not synthetic.exists():
        record("label", run_step([*script_command("scripts.transfer.label_with_teacher"),
                             str(training / "teacher" / "model-last"), str(augmented), str(synthetic),
                             f"--batch-size={recipe['label_batch_size']}", f"--gpu-id={recipe['gpu_id']}",
                             f"--workers={recipe['label_workers']}",
                             f"--runtime-file={training / 'teacher_runtime.json'}",
                             f"--temperature={recipe['teacher_temperature']}",
                             f"--temperature-file={training / 'teacher_temperature.json'}"], f"labelling {run} {variant}"))
    return sum(seconds.values())


def subsample(source: Path, target: Path, k: int, seed: int) -> None:
    """k docs of `source`; reused only while it was drawn from this very source."""
    signature = fingerprint({"k": k, "seed": seed}, [source])
    record = target.with_name("inputs.json")
    if target.exists() and record.exists() and json.loads(record.read_text()).get("signature") == signature:
        return
    db = DocBin(store_user_data=True).from_disk(source)
    docs = list(db.get_docs(spacy.blank("xx").vocab))
    if k >= len(docs):
        k = len(docs)  # a larger set came out smaller after deduplication: all of it
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    out = DocBin(store_user_data=True, docs=[docs[i] for i in sorted(order[:k])])
    target.parent.mkdir(parents=True, exist_ok=True)
    out.to_disk(target)
    record.write_text(json.dumps({"signature": signature}))


def train_student(project: Path, run: str, synthetic: Path, output: Path, seed: int, recipe: Dict) -> float:
    """One seed of the shipped student's recipe on another synthetic set; reused while its inputs hold."""
    corpus = project / "corpus" / run
    cmd = [*script_command("scripts.shared.train"), recipe["student_config"], str(output),
           "--evals", recipe["evals"], "--gpu-id", recipe["gpu_id"], "--paths.synthetic", str(synthetic),
           "--paths.original", str(corpus / f"{recipe['student_original']}.spacy"),
           "--paths.dev", str(corpus / "dev.spacy"), "--paths.vectors", str(project / "training" / run / "vectors"),
           "--nlp.lang", json.loads((corpus / "stats.json").read_text())["lang"], "--system.seed", str(seed)]
    signature = inputs_signature(cmd, output)
    if not is_trained(output, signature):
        msg.divider(f"{run}: {output.parent.name}, seed {seed}")
        run_step(cmd, f"training the student for {output.parent.name}, seed {seed}")
        (output / "inputs.json").write_text(json.dumps({"signature": signature}))
    # the training's own record, as `seeds` reports it, so a reused seed reports the same time
    return json.loads((output / "schedule.json").read_text())["wall_seconds"]


def ablate_run(run_dir: Path, recipe: Dict, n_seeds: int, sizes: List[int], checkpoint: str) -> Dict:
    project, run = run_dir.parent.parent, run_dir.name
    corpus = project / "corpus" / run
    for name, step in (("teacher/model-last", "train-teacher"), ("vectors", "vectors"), ("baseline", "train-baseline")):
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
    correct, dev_accuracy = {}, {}
    for name, path in synthetic.items():
        rows, dev_rows = [], []
        for seed in range(n_seeds):
            output = run_dir / "ablation" / name / f"seed{seed}"
            wall[name] += train_student(project, run, path, output, seed, recipe)
            student = spacy.load(output / checkpoint)
            rows.append(score_docs(student, gold)[0])
            dev_rows.append(score_docs(student, dev)[0].mean())
        correct[name] = numpy.array(rows)
        dev_accuracy[name] = float(numpy.mean(dev_rows))
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
    recipe_text: str = typer.Option("", "--recipe", help="The project's recipe, 'key=value key=value' "
                                     "(project.yml passes its var recipe; empty: project.yml's as it stands)"),
):
    if n_seeds < 1:
        raise InputError(f"n-seeds must be at least 1, got {n_seeds}")
    try:
        sizes = sorted({int(x) for x in synthetic_sizes.split(",") if x.strip()})
    except ValueError:
        raise InputError(f"synthetic sizes '{synthetic_sizes}': give whole numbers separated by commas") from None
    recipe = parse_recipe(recipe_text)
    results = [ablate_run(run_dir, recipe, n_seeds, sizes, checkpoint) for run_dir in run_dirs]
    write_results(output_dir, "ablation", results, ablation_markdown(results), partial(ablation_plot, results))


if __name__ == "__main__":
    run_cli(main)
