"""Write training/{lang}/report.md with a plot, and training/summary.md over every language run."""
import json
from pathlib import Path
from typing import Dict

import typer
from wasabi import msg

from cli_support import InputError, run_cli
from evaluate import MODEL_NAMES

# baseline and student share a size and speed, so their labels go above and below
LABEL_OFFSETS = {"baseline": (10, 8), "teacher": (10, -4), "student": (10, -22)}


def pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def model_table(metrics: Dict) -> str:
    lines = ["| model | accuracy | macro F | AUC | size (MB) | params | docs/s | words/s | p50 ms | p95 ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in MODEL_NAMES:
        m = metrics["models"][name]
        lines.append(
            f"| {name} | {pct(m['accuracy'])} | {pct(m['macro_f'])} | {pct(m['auc'])} | {m['size_mb']:.1f} | "
            f"{m['params'] / 1e6:.2f}M | {m['docs_per_sec']:.0f} | {m['words_per_sec']:.0f} | "
            f"{m['latency_p50_ms']:.2f} | {m['latency_p95_ms']:.2f} |"
        )
    return "\n".join(lines)


def plot(metrics: Dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    sizes = [metrics["models"][n]["size_mb"] for n in MODEL_NAMES]
    biggest = max(sizes)
    for name, size in zip(MODEL_NAMES, sizes):
        m = metrics["models"][name]
        ax.scatter(m["docs_per_sec"], 100 * m["accuracy"], s=40 + 1500 * size / biggest, alpha=0.6, label=name)
        ax.annotate(f"{name}\n{size:.1f} MB", (m["docs_per_sec"], 100 * m["accuracy"]),
                    textcoords="offset points", xytext=LABEL_OFFSETS[name], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("docs/s (log scale, CPU)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{metrics['lang']}: accuracy vs speed (marker area ~ size on disk)")
    ax.margins(x=0.3, y=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(
    training_dir: Path = typer.Argument(Path("training")),
    lang: str = typer.Argument("nl"),
):
    metrics_path = training_dir / lang / "metrics.json"
    if not metrics_path.exists():
        raise InputError(f"{metrics_path}: missing; run `spacy project run evaluate` first")
    metrics = json.loads(metrics_path.read_text())
    plot_path = training_dir / lang / "accuracy_speed.png"
    plot(metrics, plot_path)
    m = metrics["models"]
    text = [
        f"# Distillation report: {lang}", "",
        f"Training reviews: {metrics['n_train']}; synthetic examples: {metrics['n_synthetic']}; "
        f"test reviews: {metrics['n_test']}.", "",
        "## As in the original experiment", "",
        "| | baseline | teacher | student |", "|---|---:|---:|---:|",
        f"| accuracy | {pct(m['baseline']['accuracy'])} | {pct(m['teacher']['accuracy'])} | {pct(m['student']['accuracy'])} |",
        "", f"- Error reduction of the student over the baseline: {pct(metrics['error_reduction'])}%",
        f"- Baseline-to-teacher gap closed by the student: {pct(metrics['gap_closed'])}%",
        f"- Student and teacher agree on {pct(metrics['student_teacher_agreement'])}% of test reviews", "",
        "## Quality, size and speed", "", model_table(metrics), "",
        f"Speed: {metrics['speed']['method']}; {metrics['speed']['docs']} docs, "
        f"{metrics['speed']['rounds']} interleaved rounds (median), batch size {metrics['speed']['batch_size']}.",
        "", f"![accuracy against speed]({plot_path.name})", "",
    ]
    (training_dir / lang / "report.md").write_text("\n".join(text))
    rows = ["| lang | n_train | n_synthetic | baseline | teacher | student | gap closed | student docs/s | teacher docs/s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for path in sorted(training_dir.glob("*/metrics.json")):
        r = json.loads(path.read_text())
        mm = r["models"]
        rows.append(f"| {r['lang']} | {r['n_train']} | {r['n_synthetic']} | {pct(mm['baseline']['accuracy'])} | "
                    f"{pct(mm['teacher']['accuracy'])} | {pct(mm['student']['accuracy'])} | {pct(r['gap_closed'])} | "
                    f"{mm['student']['docs_per_sec']:.0f} | {mm['teacher']['docs_per_sec']:.0f} |")
    (training_dir / "summary.md").write_text("# All languages run\n\n" + "\n".join(rows) + "\n")
    msg.good(f"Wrote {training_dir / lang / 'report.md'}, {plot_path} and {training_dir / 'summary.md'}")


if __name__ == "__main__":
    run_cli(main)
