"""Every language with data: the whole pipeline per language, one summary table and plot.

Each language runs in a project copy of its own, training/languages/{lang} (own lockfile,
so languages never make each other redo steps), sharing the fetched archives, the
backbone and the taggers with the main project. A language's tagger is built once, in
training/taggers/{lang}. A finished language is reused while its settings (the configs
and the resolved step commands) are unchanged; weasel resumes one cut off part-way.
With n_seeds >= 2 the student and the baseline are also trained with seeds 0..n-1,
and the summary shows their mean over seeds with pooled intervals.
"""
import json
from pathlib import Path
from typing import Dict, List, Optional

import typer
from wasabi import msg

from cli_support import InputError, require, run_cli
from measure import MODEL_NAMES, fmt_ci, fmt_pct, too_wide_note
from subproject import POINT_WORKFLOW, make_subproject, parse_point_vars, point_fingerprint, run_in

LINKS = ("assets", "training/taggers")
# The original experiment's average over its six languages (student against baseline).
ORIGINAL_AVERAGE = {"points": 7.3, "error_reduction": 0.39, "gap_closed": 0.87}


def plan_languages(langs: str, lang: str, reviews: str, root: Path) -> Dict[str, Path]:
    """lang -> its reviews file: each listed language reads assets/reviews/{lang}.jsonl,
    and the project's own `lang` reads `reviews` (so a user adds a language, or points one
    at their own file, with --vars.lang and --vars.reviews)."""
    names = [x.strip() for x in langs.split(",") if x.strip()]
    if lang not in names:
        names.append(lang)
    plan = {}
    for name in names:
        path = (root / (reviews if name == lang else f"assets/reviews/{name}.jsonl")).resolve()
        if not path.exists():
            raise InputError(f"{path}: no reviews for '{name}'; run `spacy project run convert-reviews`, drop "
                             f"'{name}' from the var languages, or pass --vars.lang {name} --vars.reviews FILE")
        plan[name] = path
    return plan


def run_language(root: Path, lang: str, reviews: Path, passed: Dict, n_seeds: int) -> Dict:
    project = make_subproject(root / "training" / "languages" / lang, root, LINKS)
    overrides = {**passed, "lang": lang, "run": lang, "reviews": str(reviews), "n_seeds": n_seeds,
                 "seed_routes": "no-routes"}
    record_path = project / "language.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    fingerprint = point_fingerprint(project, overrides) + (
        point_fingerprint(project, overrides, "seeds") if n_seeds >= 2 else "")
    metrics_path = project / "training" / lang / "metrics.json"
    seeds_path = project / "training" / lang / "seeds.json"
    wall = dict(record.get("wall_seconds", {})) if record.get("fingerprint") == fingerprint else {}
    if not (root / "training" / "taggers" / lang / "model-best").exists():
        msg.divider(f"{lang}: tagger")
        wall["tagger"] = sum(run_in(project, step, overrides, f"the {lang} tagger") for step in ("tagger-data", "tagger"))
    if not metrics_path.exists() or "point" not in wall:
        msg.divider(f"{lang}: teacher, student and baseline")
        wall["point"] = run_in(project, POINT_WORKFLOW, overrides, f"the {lang} run")
    if n_seeds >= 2 and (not seeds_path.exists() or "seeds" not in wall):
        msg.divider(f"{lang}: {n_seeds} seeds")
        wall["seeds"] = run_in(project, "seeds", overrides, f"the {lang} seeds")
    record = {"fingerprint": fingerprint, "wall_seconds": {k: round(v, 1) for k, v in wall.items()}}
    record_path.write_text(json.dumps(record, indent=2))
    metrics = json.loads(metrics_path.read_text())
    seeds = json.loads(seeds_path.read_text()) if n_seeds >= 2 else None
    return language_row(lang, metrics, seeds, record["wall_seconds"])


def language_row(lang: str, metrics: Dict, seeds: Optional[Dict], wall: Dict) -> Dict:
    """One language's numbers: from the seeds when they ran (student and baseline as the
    mean over seeds, pooled intervals), else from the single run's metrics."""
    m = metrics["models"]
    row = {"lang": lang, "n_train": metrics["n_train"], "n_test": metrics["n_test"],
           "n_seeds": seeds["n_seeds"] if seeds else 1,
           "accuracy": {n: m[n]["accuracy"] for n in MODEL_NAMES}, "ci": {n: m[n]["accuracy_ci"] for n in MODEL_NAMES},
           "student_vs_baseline": metrics["comparisons"]["student_vs_baseline"],
           "docs_per_sec": {n: m[n]["docs_per_sec"] for n in MODEL_NAMES},
           "wall_seconds": wall}
    ratios = metrics
    if seeds:
        for name in ("student", "baseline"):
            row["accuracy"][name] = seeds["models"][name]["accuracy"]
            row["ci"][name] = seeds["models"][name]["ci"]
        row["student_vs_baseline"] = seeds["student_vs_baseline"]
        ratios = seeds
    for key in ("gap_closed", "gap_closed_ci", "error_reduction", "error_reduction_ci", "why_null"):
        row[key] = ratios[key]
    row["too_wide"] = too_wide_note(row["student_vs_baseline"], row["n_test"])
    return row


def summary_markdown(rows: List[Dict]) -> str:
    lines = ["# Results across languages", "",
             "Test accuracy in %, 95% bootstrap intervals over test docs (paired for differences). With several "
             "seeds, baseline and student are the mean over seeds and their intervals pool the seeds; the "
             "teacher is one model. Speed-up is the student's docs/s over the teacher's (CPU, measured beside "
             "the run's other steps only if the machine was busy).", "",
             "| lang | n_train | n_test | seeds | baseline | teacher | student | student - baseline | error reduction "
             "| gap closed | student docs/s | teacher docs/s | speed-up | wall time |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        diff = r["student_vs_baseline"]
        speed = r["docs_per_sec"]
        lines.append(
            f"| {r['lang']} | {r['n_train']} | {r['n_test']} | {r['n_seeds']} | "
            + " | ".join(f"{fmt_pct(r['accuracy'][n])} {fmt_ci(r['ci'][n])}" for n in MODEL_NAMES)
            + f" | {100 * diff['difference']:+.1f} {fmt_ci(diff['ci'], True)}"
            + f" | {fmt_pct(r['error_reduction'])} {fmt_ci(r['error_reduction_ci'])}"
            + f" | {fmt_pct(r['gap_closed'])} {fmt_ci(r['gap_closed_ci'])}"
            + f" | {speed['student']:.0f} | {speed['teacher']:.1f} | {speed['student'] / speed['teacher']:.0f}x"
            + f" | {sum(r['wall_seconds'].values()) / 60:.1f} min |")
    lines.append(average_row(rows))
    lines.append(f"| original experiment (6 languages) | | | | | | | +{ORIGINAL_AVERAGE['points']} | "
                 f"{100 * ORIGINAL_AVERAGE['error_reduction']:.0f} | {100 * ORIGINAL_AVERAGE['gap_closed']:.0f} "
                 "| | | | |")
    notes = []
    for r in rows:
        if r["too_wide"]:
            notes.append(f"- **{r['lang']}: student - baseline {r['too_wide']}.**")
        elif not r["student_vs_baseline"]["excludes_zero"]:
            notes.append(f"- {r['lang']}: student - baseline is not measurable (the interval spans 0).")
        if r["why_null"]:
            notes.append(f"- {r['lang']}: no gap closed or error reduction: {r['why_null']}.")
        steps = ", ".join(f"{k} {v / 60:.1f} min" for k, v in r["wall_seconds"].items())
        notes.append(f"- {r['lang']} wall time: {steps}.")
    return "\n".join(lines + [""] + notes + ["", "![results across languages](summary.png)", ""])


def average_row(rows: List[Dict]) -> str:
    """The mean over languages of each point estimate (intervals are per language only)."""
    def mean(values):
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None

    acc = {n: mean([r["accuracy"][n] for r in rows]) for n in MODEL_NAMES}
    diff = mean([r["student_vs_baseline"]["difference"] for r in rows])
    return (f"| average ({len(rows)} languages) | | | | " + " | ".join(fmt_pct(acc[n]) for n in MODEL_NAMES)
            + f" | {100 * diff:+.1f} | {fmt_pct(mean([r['error_reduction'] for r in rows]))} | "
            f"{fmt_pct(mean([r['gap_closed'] for r in rows]))} | | | | |")


def plot(rows: List[Dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.6 * len(rows) + 2, 4))
    width = 0.8 / len(MODEL_NAMES)
    for i, name in enumerate(MODEL_NAMES):
        xs = [j + (i - 1) * width for j in range(len(rows))]
        acc = [100 * r["accuracy"][name] for r in rows]
        err = [[a - 100 * r["ci"][name][0] for a, r in zip(acc, rows)],
               [100 * r["ci"][name][1] - a for a, r in zip(acc, rows)]]
        ax.bar(xs, acc, width, yerr=err, capsize=3, label=name)
    ax.set_xticks(range(len(rows)), [f"{r['lang']}\nn={r['n_train']}/{r['n_test']}" for r in rows])
    ax.set_ylim(40, 100)
    ax.set_ylabel("test accuracy (%), 95% interval")
    ax.set_title("Baseline, teacher and student per language (n = train/test reviews)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(
    langs: str = typer.Option("nl,fr,en,es,de", help="Comma-separated languages, each read from "
                              "assets/reviews/{lang}.jsonl"),
    lang: str = typer.Option("nl", help="The project's own language, read from --reviews (added if not listed)"),
    reviews: str = typer.Option("assets/reviews/nl.jsonl"),
    n_seeds: int = typer.Option(3, help="Seeds for student and baseline per language; 1: one run only"),
    point_vars_text: str = typer.Option("", "--point-vars", help="The project's vars each language runs with, "
                                        "as 'key=value key=value' (project.yml passes them)"),
    output_dir: Path = typer.Option(Path("training")),
):
    if n_seeds < 1:
        raise InputError(f"n-seeds must be at least 1, got {n_seeds}; fix the var n_seeds")
    root = Path.cwd()
    passed = parse_point_vars(point_vars_text)
    plan = plan_languages(langs, lang, reviews, root)
    require(root / "assets" / "backbones" / "teacher" / "config.json", "the teacher backbone", "backbone")
    rows = [run_language(root, name, path, passed, n_seeds) for name, path in plan.items()]
    (output_dir / "languages.json").write_text(json.dumps(rows, indent=2))
    (output_dir / "summary.md").write_text(summary_markdown(rows))
    plot(rows, output_dir / "summary.png")
    msg.good(f"Wrote {output_dir / 'summary.md'}, summary.png and languages.json")


if __name__ == "__main__":
    run_cli(main)
