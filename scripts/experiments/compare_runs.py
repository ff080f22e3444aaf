"""Two recipes' students compared, paired over the same test docs and seeds.

Each run has been through `run_seeds` (its training/RUN/seeds.json holds, per seed and
test doc, whether each model was right). Runs that differ only in what the student
learns from (e.g. with and without `--vars.unlabelled rest`, beside one teacher)
answer "does this change help?": student A − student B with its paired interval, each
student against its own baseline and teacher, and the transfer sets' sizes.
"""
import json
from pathlib import Path
from typing import Dict

import numpy
import typer
from wasabi import msg

from scripts.shared.cli_support import InputError, require, run_cli
from scripts.evaluation.measure import (accuracy_summary, difference_line, distillation_ratios, fmt_ci, paired_difference,
                                        ratios_line, resample_indices)


def read_run(run: str) -> Dict:
    seeds = json.loads(require(Path("training") / run / "seeds.json", f"{run}'s seeds.json", "seeds").read_text())
    augment = Path("corpus") / run / "augmented.augment.json"
    sizes = json.loads(augment.read_text()) if augment.exists() else {}
    correct = {model: numpy.array(rows) for model, rows in seeds["correct"].items()}
    return {"seeds": seeds, "correct": correct,
            "transfer_set": {k: sizes.get(k) for k in ("n_reviews", "n_unlabelled", "rounds", "n_examples")}}


def compare(a: Dict, b: Dict, names: Dict[str, str]) -> Dict:
    if a["seeds"]["test_sha256"] != b["seeds"]["test_sha256"]:
        raise InputError(f"{names['a']} and {names['b']} were scored on different test sets; a paired comparison "
                         "needs the same corpus/RUN/test.spacy (the same reviews, n_dev, n_test and seed)")
    if a["correct"]["student"].shape != b["correct"]["student"].shape:
        raise InputError(f"{names['a']} has {len(a['correct']['student'])} seeds and {names['b']} "
                         f"{len(b['correct']['student'])}; rerun `run_seeds` on both with the same --n-seeds")
    indices = resample_indices(a["correct"]["student"].shape[-1])
    runs = {}
    for key, run in (("a", a), ("b", b)):
        c = run["correct"]
        runs[names[key]] = {
            "student": accuracy_summary(c["student"], indices), "baseline": accuracy_summary(c["baseline"], indices),
            "teacher": accuracy_summary(c["teacher"], indices),
            "student_vs_baseline": paired_difference(c["student"], c["baseline"], indices),
            "student_vs_teacher": paired_difference(c["student"], c["teacher"], indices),
            **distillation_ratios(c["baseline"], c["teacher"], c["student"], indices),
            "transfer_set": run["transfer_set"]}
    return {"a": names["a"], "b": names["b"], "n_seeds": len(a["correct"]["student"]),
            "n_test": int(a["correct"]["student"].shape[-1]),
            "same_teacher": bool(numpy.array_equal(a["correct"]["teacher"], b["correct"]["teacher"])),
            "same_baseline": bool(numpy.array_equal(a["correct"]["baseline"], b["correct"]["baseline"])),
            "runs": runs,
            "student_a_minus_b": paired_difference(a["correct"]["student"], b["correct"]["student"], indices)}


def markdown(r: Dict) -> str:
    lines = [f"# {r['a']} against {r['b']}: {r['n_seeds']} seeds, {r['n_test']} test docs", "",
             "| run | transfer set | student | baseline | teacher | student − baseline | gap closed |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, run in r["runs"].items():
        size = run["transfer_set"].get("n_examples")
        gap = run["gap_closed"]
        lines.append(f"| {name} | {size if size is not None else '?'} | {100 * run['student']['accuracy']:.1f} "
                     f"{fmt_ci(run['student']['ci'])} | {100 * run['baseline']['accuracy']:.1f} | "
                     f"{100 * run['teacher']['accuracy']:.1f} | "
                     f"{100 * run['student_vs_baseline']['difference']:+.1f} "
                     f"{fmt_ci(run['student_vs_baseline']['ci'], True)} | "
                     f"{'?' if gap is None else f'{100 * gap:.0f}%'} {fmt_ci(run['gap_closed_ci'])} |")
    lines += ["", difference_line(f"Student {r['a']} - student {r['b']}", r["student_a_minus_b"])]
    lines += [ratios_line(run).replace("- ", f"- {name}: ", 1) for name, run in r["runs"].items()]
    lines.append(f"- Same teacher in both runs: {r['same_teacher']}; same baseline: {r['same_baseline']}.")
    return "\n".join(lines) + "\n"


def main(
    run_a: str = typer.Argument(..., help="Run whose student is A (training/RUN_A/seeds.json)"),
    run_b: str = typer.Argument(..., help="Run whose student is B, scored on the same test set"),
    output: Path = typer.Option(None, help="Output folder (default: training/RUN_A-vs-RUN_B)"),
):
    result = compare(read_run(run_a), read_run(run_b), {"a": run_a, "b": run_b})
    output = output or Path("training") / f"{run_a}-vs-{run_b}"
    output.mkdir(parents=True, exist_ok=True)
    (output / "compare.json").write_text(json.dumps(result, indent=2))
    (output / "compare.md").write_text(markdown(result))
    d = result["student_a_minus_b"]
    msg.good(f"student {run_a} - student {run_b}: {100 * d['difference']:+.2f} points {fmt_ci(d['ci'], True)}; "
             f"wrote {output / 'compare.json'} and compare.md")


if __name__ == "__main__":
    run_cli(main)
