"""Write training/{run}/report.md with a plot of accuracy against speed."""
import json
from pathlib import Path
from typing import Dict

import typer
from wasabi import msg

from scripts.shared.cli_support import require, run_cli
from scripts.evaluation.measure import MODEL_NAMES, difference_line, fmt_ci, fmt_pct, ratios_line, too_wide_note

# baseline and student share a size and speed: the better one's label goes above, the other's below
ABOVE, BELOW, BESIDE = (10, 8), (10, -22), (10, -4)


def names_in(metrics: Dict) -> list:
    """The models a run scored: a run without gold training labels has no baseline."""
    return [n for n in MODEL_NAMES if n in metrics["models"]]


def score_key(metrics: Dict) -> str:
    """accuracy, or, without gold test labels, agreement with the teacher's labels."""
    return "accuracy" if metrics.get("gold_test", True) else "agreement_with_teacher"


def model_table(metrics: Dict) -> str:
    key = score_key(metrics)
    lines = [f"| model | {'accuracy' if key == 'accuracy' else 'agreement with the teacher'} [95% CI] | macro F [95% CI] | AUC | size (MB) | params | vector floats | docs/s raw text "
             "| docs/s pre-tokenized | p50 ms | p95 ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in names_in(metrics):
        m = metrics["models"][name]
        lines.append(
            f"| {name} | {fmt_pct(m[key])} {fmt_ci(m[key + '_ci'])} | {fmt_pct(m['macro_f'])} "
            f"{fmt_ci(m.get('macro_f_ci'))} | "
            f"{fmt_pct(m['auc'])} | {m['size_mb']:.1f} | {m['params'] / 1e6:.2f}M | "
            f"{m.get('vector_floats', 0) / 1e6:.2f}M | {m.get('raw_docs_per_sec', float('nan')):.0f} | "
            f"{m['docs_per_sec']:.0f} | {m['latency_p50_ms']:.2f} | {m['latency_p95_ms']:.2f} |"
        )
    fast = metrics["models"]["teacher"].get("runtime")
    if fast:
        lines.append(f"| teacher ({fast['name']}) | {fmt_pct(fast['accuracy'])} {fmt_ci(fast['accuracy_ci'])} | "
                     f"{fmt_pct(fast['macro_f'])} | {fmt_pct(fast['auc'])} | | | | {fast['raw_docs_per_sec']:.0f} | "
                     f"{fast['docs_per_sec']:.0f} | | |")
    speedup = metrics.get("student_speedup")
    if metrics.get("tokenizer_docs_per_sec"):
        lines += ["", f"spaCy's tokenizer alone runs at {metrics['tokenizer_docs_per_sec']:.0f} docs/s on the same "
                      "raw texts: the ceiling of any spaCy pipeline."]
    if speedup:
        lines += ["", f"End to end (raw text, tokenizer included) the student runs {speedup['vs_teacher_fp32']:.0f}x "
                      f"the fp32 teacher's docs/s and {speedup['vs_teacher_fastest']:.0f}x the teacher's fastest "
                      f"runtime that passed the quality gate ({speedup['teacher_runtime']})."]
    training = metrics["models"]["teacher"].get("training") or {}
    if training.get("used"):
        lines += ["", f"The teacher trained in {training['used']} ({training.get('why', '')})"
                      + (f": {training['max_steps']} steps in {training['wall_seconds']:.0f} s." if "wall_seconds" in training
                         else ".")]
    labelling = metrics.get("labelling")
    transfer = metrics.get("transfer_set")
    if labelling or transfer:
        lines += ["", "Transfer set: " + (f"{transfer['n_examples']} synthetic examples from {transfer['n_reviews']} "
                                          f"reviews and {transfer.get('n_unlabelled_sources', 0)} unlabelled texts in "
                                          f"{transfer['rounds']} rounds"
                                          + (f", {transfer['n_words']:,} words" if transfer.get("n_words") else "")
                                          + (" (the word budget, words_per_example in augment.cfg of the settings, ended it)"
                                             if transfer.get("word_capped") else "")
                                          if transfer else "")
                  + (f"; labelled by the {labelling['runtime']} teacher" if labelling else "")
                  + (f"; plus {metrics['n_unlabelled']} unlabelled texts as they are, labelled by the teacher."
                     if metrics.get("n_unlabelled") else ".")]
    return "\n".join(lines)


def comparison_lines(metrics: Dict) -> str:
    agreement = (f"- Student and teacher agree on {fmt_pct(metrics['student_teacher_agreement'])}% "
                 f"{fmt_ci(metrics.get('student_teacher_agreement_ci'))} of the {metrics['n_test']} test texts.")
    if not metrics.get("gold_test", True):
        return "\n".join([f"- **No accuracy was measured**: the test texts were held out of the unlabelled file and "
                          "have no gold labels (give a labelled test file, var test, to measure accuracy).", agreement])
    labels = (("student_vs_baseline", "Student - baseline"), ("student_vs_teacher", "Student - teacher"),
              ("teacher_vs_baseline", "Teacher - baseline"))
    comparisons = metrics["comparisons"]
    wide = too_wide_note(comparisons["student_vs_baseline"], metrics["n_test"]) \
        if "student_vs_baseline" in comparisons else None
    return "\n".join([difference_line(label, comparisons[key]) for key, label in labels if key in comparisons]
                     + [ratios_line(metrics), agreement] + ([f"- **Student - baseline: {wide}.**"] if wide else []))


def extra_tests_section(metrics: Dict) -> list:
    """The same models on test sets from other sources (assets/extra_tests/LANG), one row each."""
    extra = metrics.get("extra_tests") or {}
    if not extra:
        return []
    names = names_in(metrics)
    pairs = [k for k in ("student_vs_baseline", "student_vs_teacher") if k in next(iter(extra.values()))["comparisons"]]
    lines = ["## Test sets from other sources", "",
             "| test set | docs | " + " | ".join(names + [k.replace("_vs_", " - ") for k in pairs]) + " |",
             "|---|---:|" + "---:|" * (len(names) + len(pairs))]
    for name, e in extra.items():
        cells = [f"{fmt_pct(e['models'][m]['accuracy'])} {fmt_ci(e['models'][m]['accuracy_ci'])}" for m in names]
        diffs = [f"{100 * e['comparisons'][k]['difference']:+.1f} {fmt_ci(e['comparisons'][k]['ci'], True)}"
                 for k in pairs]
        lines.append(f"| {name} | {e['n']} | " + " | ".join(cells + diffs) + " |")
    return lines + [""]


def per_class_table(metrics: Dict) -> list:
    """F of each class for every model: what the macro F averages."""
    labels = metrics.get("labels") or list(metrics["models"]["student"].get("f_per_class", {}))
    if not labels:
        return []
    lines = ["| F per class | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    for name in names_in(metrics):
        f = metrics["models"][name].get("f_per_class", {})
        lines.append(f"| {name} | " + " | ".join(fmt_pct(f.get(label)) for label in labels) + " |")
    return lines + [""]


def calibration_line(cal) -> str:
    if not cal:
        return ""
    line = f"- Teacher calibration on test: log-loss {cal['log_loss']:.3f}, ECE {cal['ece']:.3f}"
    if "p_pos_histogram" not in cal:  # more than two classes, or two that are not POS/NEG
        return line + f"; histogram over 10 bins of the top class's probability (1/k to 1): {cal['confidence_histogram']}."
    return (line + f", P(POS) from "
            f"{cal['p_pos_range'][0]:.3f} to {cal['p_pos_range'][1]:.3f}; histogram over 10 bins of P(POS): "
            f"{cal['p_pos_histogram']} on test"
            + (f", {cal['synthetic_p_pos_histogram']} on the synthetic set" if "synthetic_p_pos_histogram" in cal else "")
            + ".")


def plot(metrics: Dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    key = score_key(metrics)
    names = [n for n in names_in(metrics) if metrics["models"][n][key] is not None]  # the teacher has no
    sizes = [metrics["models"][n]["size_mb"] for n in names]                         # agreement with itself
    biggest = max(sizes)
    small = sorted((n for n in ("baseline", "student") if n in names), key=lambda n: metrics["models"][n][key])
    offsets = {**{n: o for n, o in zip(small, (BELOW, ABOVE) if len(small) == 2 else (ABOVE,))}, "teacher": BESIDE}
    for name, size in zip(names, sizes):
        m = metrics["models"][name]
        y = 100 * m[key]
        ax.scatter(m["docs_per_sec"], y, s=40 + 1500 * size / biggest, alpha=0.6, label=name)
        lo, hi = (100 * x for x in m[key + "_ci"])
        ax.errorbar(m["docs_per_sec"], y, yerr=[[y - lo], [hi - y]], fmt="none", ecolor="grey", capsize=3)
        ax.annotate(f"{name}\n{size:.1f} MB", (m["docs_per_sec"], y),
                    textcoords="offset points", xytext=offsets[name], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("docs/s (log scale, CPU)")
    ax.set_ylabel(("test accuracy" if key == "accuracy" else "agreement with the teacher") + " (%), 95% interval")
    ax.set_title(f"{metrics['lang']}: accuracy vs speed (marker area ~ size on disk)")
    ax.margins(x=0.3, y=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(
    training_dir: Path = typer.Argument(Path("training")),
    run: str = typer.Argument("nl", help="The run's folder under training/"),
):
    metrics_path = training_dir / run / "metrics.json"
    require(metrics_path, "the test metrics", "evaluate")
    metrics = json.loads(metrics_path.read_text())
    plot_path = training_dir / run / "accuracy_speed.png"
    plot(metrics, plot_path)
    m = metrics["models"]
    key = score_key(metrics)
    names = names_in(metrics)
    text = [
        f"# Distillation report: {run}", "",
        f"Training reviews: {metrics['n_train']}; synthetic examples: {metrics['n_synthetic']}; "
        + (f"unlabelled texts: {metrics['n_unlabelled']}; " if metrics.get("n_unlabelled") else "")
        + f"test texts: {metrics['n_test']}. Intervals: {metrics['intervals']}.", "",
        "## Baseline, teacher and student" if "baseline" in names else "## Teacher and student", "",
        "| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names),
        f"| {'accuracy' if key == 'accuracy' else 'agreement with the teacher'} | "
        + " | ".join(f"{fmt_pct(m[n][key])} {fmt_ci(m[n][key + '_ci'])}" for n in names) + " |",
        "", comparison_lines(metrics), "",
        calibration_line(m["teacher"].get("calibration")), "",
        "## Quality, size and speed", "", model_table(metrics), "", *per_class_table(metrics),
        f"Speed: {metrics['speed']['method']}; {metrics['speed']['docs']} docs, "
        f"{metrics['speed']['rounds']} interleaved rounds of at least {metrics['speed']['min_round_seconds']} s "
        f"(median), batch size {metrics['speed']['batch_size']}, {metrics['speed']['torch_threads']} torch threads.",
        "", f"![accuracy against speed]({plot_path.name})", "",
        *extra_tests_section(metrics),
    ]
    (training_dir / run / "report.md").write_text("\n".join(text))
    msg.good(f"Wrote {training_dir / run / 'report.md'} and {plot_path}")


if __name__ == "__main__":
    run_cli(main)
