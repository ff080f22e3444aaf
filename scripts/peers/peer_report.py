"""The peers' table (peers.md) and plot (peers.png): the student beside the classifiers a
user would pick instead, accuracy against end-to-end speed."""
import json
from pathlib import Path
from typing import Dict

from wasabi import msg

from scripts.evaluation.measure import difference_line, fmt_ci, fmt_pct


PEER_TITLES = {"tfidf_lr": "TF-IDF + logistic regression", "fasttext": "fastText",
               "model2vec_lr": "Model2Vec + logistic regression"}


def peers_markdown(r: Dict) -> str:
    sp = r["speed"]
    lines = [f"# {r['run']}: the classifiers a user would pick instead, beside the student ({r['n_test']} test docs)",
             "", f"Intervals: {r['intervals']}. Speed: raw text in, predictions out, {sp['docs']} test texts, median "
             f"of {sp['rounds']} interleaved rounds with the student, the baseline, the teacher ({sp['teacher_runtime']}, "
             f"the runtime it labels in) and spaCy's tokenizer (alone: {r['tokenizer_docs_per_sec']:,.0f} docs/s). "
             "gold: trained on "
             "the gold training reviews; distilled: on the student's transfer set with the teacher's labels "
             "(probabilities for the logistic regressions, the argmax for fastText). Model2Vec's training time "
             f"includes distilling its static model from the backbone ({r['model2vec_distill_seconds']:.0f} s, "
             "once for both rows).", "",
             "| model | trained on | accuracy [95% CI] | − student [95% CI] | docs/s | MB | training s |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name in ("student", "baseline", "teacher"):
        m = r["models"][name]
        what = {"student": "transfer set (shipped)", "baseline": "gold", "teacher": "gold (fine-tuned)"}[name]
        lines.append(f"| {name} | {what} | {fmt_pct(m['accuracy'])} {fmt_ci(m['ci'])} | | "
                     f"{m['raw_docs_per_sec']:,.0f} | {m['size_mb']:.1f} | |")
    for row in r["peers"].values():
        d = row["vs_student"]
        seeds = f" ({row['n_seeds']} seeds)" if row["n_seeds"] > 1 else ""
        lines.append(f"| {PEER_TITLES[row['peer']]} | {row['route']}{seeds} | {fmt_pct(row['accuracy'])} "
                     f"{fmt_ci(row['ci'])} | {100 * d['difference']:+.1f} {fmt_ci(d['ci'], True)} | "
                     f"{row['raw_docs_per_sec']:,.0f} | {row['size_mb']:.1f} | {row['train_seconds']:.0f} |")
    lines.append("")
    winners = [name for name, row in r["peers"].items() if row["beats_student"]]
    if winners:
        lines.append("Better than the student on both axes (more accurate beyond the paired interval, and faster in "
                     f"every round): {', '.join(winners)}.")
    else:
        lines.append("No peer is both more accurate than the student (beyond the paired interval) and faster.")
    for name, row in r["peers"].items():
        lines.append(difference_line(f"{name} - student", row["vs_student"]))
        if "vs_gold" in row:
            lines.append(difference_line(f"{name} - {row['peer']}/gold", row["vs_gold"]))
    return "\n".join(lines) + "\n"


def peers_plot(r: Dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))

    def point(x, acc, ci, **style):
        ax.errorbar(x, 100 * acc, yerr=[[100 * (acc - ci[0])], [100 * (ci[1] - acc)]], capsize=3, **style)

    for name, marker in (("student", "*"), ("baseline", "D"), ("teacher", "s")):
        m = r["models"][name]
        point(m["raw_docs_per_sec"], m["accuracy"], m["ci"], fmt=marker, color="black" if name != "student" else "C3",
              markersize=10 if name == "student" else 6, label=f"{name} ({m['size_mb']:.1f} MB)")
    for i, peer in enumerate(PEER_TITLES):
        for row in (v for v in r["peers"].values() if v["peer"] == peer):
            filled = row["route"] == "distilled"
            point(row["raw_docs_per_sec"], row["accuracy"], row["ci"], fmt="o", color=f"C{i}",
                  mfc=None if filled else "white",
                  label=f"{PEER_TITLES[peer]}, {row['route']} ({row['size_mb']:.1f} MB)")
    ax.axvline(r["tokenizer_docs_per_sec"], color="grey", linestyle=":", label="spaCy tokenizer alone")
    ax.set_xscale("log")
    ax.set_xlabel("docs/s end to end (raw text)")
    ax.set_ylabel("test accuracy % (95% CI)")
    ax.set_title(f"{r['run']}: the student beside the classifiers a user would pick instead")
    ax.legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)



def write_peers(folder: Path, result: Dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "peers.json").write_text(json.dumps(result, indent=2))
    (folder / "peers.md").write_text(peers_markdown(result))
    peers_plot(result, folder / "peers.png")
    msg.good(f"Wrote {folder}/peers.md, peers.json and peers.png")
