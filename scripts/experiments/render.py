"""The experiments' tables and plots: every markdown table and figure that the drivers
(seeds, students, curve, languages, ablation) write, from the results they computed."""
import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from wasabi import msg

from scripts.evaluation.measure import (MODEL_NAMES, difference_line, fmt_ci, fmt_pct, headline, paired_difference,
                                        ratios_line, resample_indices)


def write_results(folder: Path, name: str, result: Any, markdown: str, plot: Callable[[Path], None]) -> None:
    """A driver's results: NAME.json (every number), NAME.md (the table) and NAME.png."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(result, indent=2))
    (folder / f"{name}.md").write_text(markdown)
    plot(folder / f"{name}.png")
    msg.good(f"Wrote {folder / name}.md, {name}.json and {name}.png")


# The original experiment's average over its six languages (student against baseline).
ORIGINAL_AVERAGE = {"points": 7.3, "error_reduction": 0.39, "gap_closed": 0.87, "n_synthetic": 60000}


def wall_text(row: Dict) -> str:
    minutes = f"{sum(row['wall_seconds'].values()) / 60:.1f} min"
    return minutes + (f" (+ {', '.join(row['reused'])} reused)" if row["reused"] else "")


def pass_wall_text(row: Dict) -> str:
    """One pass of the pipeline for a language (its seeds and tagger left out)."""
    if "point" in row["wall_seconds"]:
        return f"{row['wall_seconds']['point'] / 60:.1f} min"
    return "reused" if "point" in row["reused"] else "-"


def transfer_text(row: Dict) -> str:
    transfer = row["transfer"]
    rounds = f" ({transfer['rounds']:g})" if transfer["rounds"] is not None else ""
    saturated = ", saturated" if transfer["saturated"] else ""
    # the word budget (words_per_example in augment.cfg) stopped the set before synthetic_size
    capped = ", word budget" if transfer.get("word_capped") else ""
    return f"{transfer['n_synthetic']:,}{rounds}{saturated}{capped}, {transfer['labelled_by']}"


def speed_text(row: Dict) -> str:
    speed = row["end_to_end"]
    fastest = speed["student"] / speed["vs_teacher_fastest"]  # the fastest gated teacher runtime's docs/s
    return (f"{speed['student']:,.0f} | {speed['teacher_fp32']:.1f} / {fastest:.1f} ({speed['teacher_runtime']}) | "
            f"{speed['vs_teacher_fp32']:.0f}x / {speed['vs_teacher_fastest']:.0f}x")


def summary_markdown(rows: List[Dict], teacher: Optional[Dict] = None, run: Optional[Dict] = None) -> str:
    if teacher:
        seen = ", ".join(teacher["langs"])
        intro = (f"One teacher for every language, fine-tuned on the pooled training reviews of {seen} "
                 f"({teacher['n_train']} reviews, {teacher['steps']} steps). A teacher marked † saw no labelled "
                 "review of that language (cross-lingual transfer).")
    else:
        intro = "Each language has its own teacher, fine-tuned on that language's training reviews."
    lines = ["# Results across languages", "", intro, "",
             "Test accuracy in %, 95% bootstrap intervals over test docs (paired for differences). With several "
             "seeds, baseline and student are the mean over seeds and their intervals pool the seeds; the "
             "teacher is one model. Synthetic: the transfer set's size and the augmenter's rounds per "
             "training review, labelled by the teacher runtime named. Speeds are end to end (raw text through "
             "nlp.pipe, tokenizer included), on the CPU beside the run's other steps when several languages "
             "ran side by side; the speed-up is the student's docs/s over the fp32 teacher's and over the "
             "fastest teacher runtime that passed the quality gate.", "",
             "| lang | n_train | n_test | seeds | baseline | teacher | student | student - baseline | error reduction "
             "| gap closed | synthetic (rounds) | student docs/s | teacher docs/s fp32 / fastest | speed-up | "
             "wall time |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        diff = r["student_vs_baseline"]
        cross = "†" if teacher and r["lang"] not in teacher["langs"] else ""
        cells = [f"{fmt_pct(r['accuracy'][n])} {fmt_ci(r['ci'][n])}" + (cross if n == "teacher" else "")
                 for n in MODEL_NAMES]
        lines.append(
            f"| {r['lang']} | {r['n_train']} | {r['n_test']} | {r['n_seeds']} | " + " | ".join(cells)
            + f" | {100 * diff['difference']:+.1f} {fmt_ci(diff['ci'], True)}"
            + f" | {fmt_pct(r['error_reduction'])} {fmt_ci(r['error_reduction_ci'])}"
            + f" | {fmt_pct(r['gap_closed'])} {fmt_ci(r['gap_closed_ci'])}"
            + f" | {transfer_text(r)} | {speed_text(r)} | {wall_text(r)} |")
    lines.append(average_row(rows))
    lines.append(f"| original experiment (6 languages) | | | | | | | +{ORIGINAL_AVERAGE['points']} | "
                 f"{100 * ORIGINAL_AVERAGE['error_reduction']:.0f} | {100 * ORIGINAL_AVERAGE['gap_closed']:.0f} "
                 f"| {ORIGINAL_AVERAGE['n_synthetic']:,} | | | | |")
    notes = []
    if teacher:
        notes.append(f"- The pooled teacher trained once, in {sum(teacher['wall_seconds'].values()) / 60:.1f} min"
                     + (" (reused)" if teacher["reused"] else "") + "; the wall times above do not include it.")
        notes += [f"- **{r['lang']}: cross-lingual transfer: the teacher saw no labelled {r['lang']} review.**"
                  for r in rows if r["lang"] not in teacher["langs"]]
    for r in rows:
        if r["too_wide"]:
            notes.append(f"- **{r['lang']}: student - baseline {r['too_wide']}.**")
        elif not r["student_vs_baseline"]["excludes_zero"]:
            notes.append(f"- {r['lang']}: student - baseline is not measurable (the interval spans 0).")
        if r["why_null"]:
            notes.append(f"- {r['lang']}: no gap closed or error reduction: {r['why_null']}.")
        steps = ", ".join(f"{k} {v / 60:.1f} min" for k, v in r["wall_seconds"].items())
        reused = f"; reused from an earlier run: {', '.join(r['reused'])}" if r["reused"] else ""
        notes.append(f"- {r['lang']} wall time: {steps or 'nothing ran'}{reused}.")
    if run:
        side = (f"{run['jobs']} languages side by side, {run['threads']} thread(s) each, so the times per "
                "language overlap" if run["jobs"] > 1 else "one language at a time")
        notes.append(f"- This run of every language: {run['wall_seconds'] / 60:.1f} min wall ({side}).")
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
            f"{fmt_pct(mean([r['gap_closed'] for r in rows]))} | {mean([r['transfer']['n_synthetic'] for r in rows]):,.0f} "
            "| | | | |")


def compare_teachers(own: Dict, pooled: Dict) -> str:
    """Per language: teacher and student with the pooled teacher against their own teacher,
    paired on the same test reviews, and the wall time of each kind of run."""
    lines = ["## One teacher per language against one pooled teacher", "",
             f"Pooled teacher: {', '.join(pooled['teacher']['langs'])} "
             f"({pooled['teacher']['n_train']} reviews, {pooled['teacher']['steps']} steps, "
             f"{sum(pooled['teacher']['wall_seconds'].values()) / 60:.1f} min). Differences are pooled - own, "
             "paired 95% intervals (students: mean over each run's seeds; seeds own / pooled in the last column). "
             "† marks a language the pooled teacher saw no labels of. Wall time is one pass of the pipeline "
             "(teacher, labelling, student, baseline), so that runs with different seed counts compare; the "
             "pooled teacher's own training is counted once, in the total.", "",
             "| lang | teacher own | teacher pooled | pooled - own | student own | student pooled | pooled - own "
             "| wall own | wall pooled | seeds |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    by_lang = {r["lang"]: r for r in pooled["rows"]}
    for a in own["rows"]:
        b = by_lang.get(a["lang"])
        if b is None:
            continue
        cells = []
        same_test = a["test_sha256"] and a["test_sha256"] == b["test_sha256"]
        for name in ("teacher", "student"):
            diff = "-"
            if same_test and a["correct"][name] and b["correct"][name]:
                d = paired_difference(b["correct"][name], a["correct"][name], resample_indices(a["n_test"]))
                diff = f"{100 * d['difference']:+.1f} {fmt_ci(d['ci'], True)}" + (
                    "" if d["excludes_zero"] else " (no measurable difference)")
            cross = "†" if name == "teacher" and a["lang"] not in pooled["teacher"]["langs"] else ""
            cells += [f"{fmt_pct(a['accuracy'][name])} {fmt_ci(a['ci'][name])}",
                      f"{fmt_pct(b['accuracy'][name])} {fmt_ci(b['ci'][name])}" + cross, diff]
        lines.append(f"| {a['lang']} | " + " | ".join(cells) + f" | {pass_wall_text(a)} | {pass_wall_text(b)} | "
                     f"{a['n_seeds']} / {b['n_seeds']} |")
    total_own = sum(r["wall_seconds"].get("point", 0.0) for r in own["rows"])
    total_pooled = sum(r["wall_seconds"].get("point", 0.0) for r in pooled["rows"]) + sum(
        pooled["teacher"]["wall_seconds"].values())
    lines += ["", f"Wall time of one pass over every language (reused passes not counted): "
              f"own teachers {total_own / 60:.1f} min, pooled teacher {total_pooled / 60:.1f} min "
              "(its one teacher included).", ""]
    return "\n".join(lines)


def languages_plot(rows: List[Dict], path: Path) -> None:
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


def seeds_markdown(r: Dict) -> str:
    lines = [f"# {r['run']}: {r['n_seeds']} seeds ({r['checkpoint']}), {r['n_test']} test reviews", "",
             "| model | per seed | mean ± sd | 95% interval (docs and seeds) |", "|---|---|---:|---:|"]
    for name in [*MODEL_NAMES, *r.get("routes", {})]:
        m = r["models"][name]
        per_seed = " / ".join(fmt_pct(x) for x in m.get("per_seed", [m["accuracy"]]))
        sd = f" ± {100 * m['sd']:.2f}" if "sd" in m else " (one teacher)"
        lines.append(f"| {name} | {per_seed} | {100 * m['accuracy']:.2f}{sd} | {fmt_ci(m['ci'])} |")
    lines.append("")
    lines += [difference_line(label, r[key]) for key, label in
              (("student_vs_baseline", "Student - baseline"), ("student_vs_teacher", "Student - teacher"))]
    lines.append(ratios_line(r))
    if r.get("routes"):
        lines += ["", "Routes of the teacher's knowledge: every variant against the baseline (gold labels, "
                  "no teacher vectors).", ""]
        for name, route in r["routes"].items():
            lines.append(difference_line(f"{name} - baseline", route["vs_baseline"]))
            lines.append("  " + ratios_line(route))
    if r.get("vectors_effect"):
        lines += ["", "What the teacher's vectors add to each model (with minus without):", ""]
        lines += [difference_line(f"{model} with - without the teacher's vectors", d)
                  for model, d in r["vectors_effect"].items()]
    lines += ["", "Dev against test accuracy (mean over seeds): how far each checkpoint's dev number flatters it.", "",
              "| model | checkpoint | dev | test | dev - test |", "|---|---|---:|---:|---:|"]
    for model, by_ckpt in r["dev_test_drift"].items():
        for ckpt, d in by_ckpt.items():
            lines.append(f"| {model} | {ckpt} | {fmt_pct(d['dev'])} | {fmt_pct(d['test'])} | "
                         f"{100 * (d['dev'] - d['test']):+.1f} |")
    lines += ["", "Training wall time per seed (s): " + json.dumps(r["wall_seconds"]), ""]
    return "\n".join(lines)


def ablation_markdown(results: List[Dict]) -> str:
    lines = ["# Augmentation ablation", "",
             "Student test accuracy in %, mean over seeds with a 95% bootstrap interval pooled over seeds; "
             "each variant against the full recipe with a paired interval. Wall time: augmenting, labelling and "
             "training every seed of that variant (the full recipe's synthetic set comes from the run itself). "
             "Dev accuracy (mean over seeds) is the number to choose a recipe by; test is for reporting only.", ""]
    for r in results:
        lines += [f"## {r['run_dir']}: {r['n_train']} training reviews, {r['n_test']} test reviews, "
                  f"{r['n_seeds']} seeds", "",
                  f"Baseline {fmt_pct(r['baseline']['accuracy'])} {fmt_ci(r['baseline']['ci'])}, teacher "
                  f"{fmt_pct(r['teacher']['accuracy'])} {fmt_ci(r['teacher']['ci'])}.", "",
                  "| variant | synthetic | dev | student | - full | verdict | wall time |",
                  "|---|---:|---:|---:|---:|---|---:|"]
        for name, v in r["variants"].items():
            diff = v.get("vs_full")
            change = f"{100 * diff['difference']:+.1f} {fmt_ci(diff['ci'], True)}" if diff else "-"
            verdict = "-" if not diff else ("no measurable difference" if not diff["excludes_zero"]
                                            else "worse" if diff["difference"] < 0 else "better")
            lines.append(f"| {name} | {v['n_synthetic']} | {fmt_pct(v['dev_accuracy'])} | "
                         f"{fmt_pct(v['accuracy'])} {fmt_ci(v['ci'])} | {change} | "
                         f"{verdict} | {v['wall_seconds'] / 60:.1f} min |")
        lines.append("")
    return "\n".join(lines + ["![ablation](ablation.png)", ""])


def ablation_plot(results: List[Dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
    for ax, r in zip(axes[0], results):
        names = list(r["variants"])
        acc = [100 * r["variants"][n]["accuracy"] for n in names]
        err = [[a - 100 * r["variants"][n]["ci"][0] for a, n in zip(acc, names)],
               [100 * r["variants"][n]["ci"][1] - a for a, n in zip(acc, names)]]
        ax.errorbar(range(len(names)), acc, yerr=err, fmt="o", capsize=3, label="student")
        for key, style in (("baseline", ":"), ("teacher", "--")):
            ax.axhline(100 * r[key]["accuracy"], linestyle=style, color="grey")
            ax.annotate(key, (len(names) - 1, 100 * r[key]["accuracy"]), fontsize=8)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_ylabel("test accuracy (%), 95% interval")
        ax.set_title(f"n_train {r['n_train']} ({r['n_seeds']} seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def students_markdown(r: Dict) -> str:
    lines = [f"# {r['run']}: student architectures, {r['n_seeds']} seeds ({r['checkpoint']}), {r['n_test']} test docs",
             "", f"Intervals: {r['intervals']}. Speed: {r['speed']['docs']} test texts, median of "
             f"{r['speed']['rounds']} rounds, batch {r['speed']['batch_size']}, {r['speed']['model']}. The tokenizer "
             f"alone: {r['tokenizer_docs_per_sec']:,.0f} docs/s.", "",
             "| student | accuracy [95% CI] | same model, gold labels | gain over gold | docs/s end to end "
             "(pre-tokenized) | % of tokenizer | x teacher (fp32) | MB | % of teacher |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in r["students"].items():
        gain = s["vs_gold"]
        lines.append(
            f"| {name}{' (shipped)' if name == r['shipped'] else ''} | {fmt_pct(s['accuracy'])} {fmt_ci(s['ci'])} | "
            f"{fmt_pct(s['gold']['accuracy'])} {fmt_ci(s['gold']['ci'])} | {100 * gain['difference']:+.1f} "
            f"{fmt_ci(gain['ci'], True)} | {s['raw_docs_per_sec']:,.0f} ({s['pretokenized_docs_per_sec']:,.0f}) | "
            f"{100 * s['share_of_tokenizer']:.0f} | {s['speedup_vs_teacher_fp32']:.0f} | {s['size_mb']:.1f} | "
            f"{100 * s['share_of_teacher_size']:.1f} |")
    t = r["teacher"]
    lines += [f"| teacher | {fmt_pct(t['accuracy'])} {fmt_ci(t['ci'])} | | | {t['raw_docs_per_sec']:,.1f} | | 1 | "
              f"{t['size_mb']:.1f} | 100 |", ""]
    for name, s in r["students"].items():
        lines.append(difference_line(f"{name} - its gold-label twin", s["vs_gold"]))
        if name != r["shipped"]:
            lines.append(difference_line(f"{name} - {r['shipped']}", s["vs_shipped"]))
        lines.append(difference_line(f"{name} - teacher", s["vs_teacher"]))
    return "\n".join(lines) + "\n"


def frontier_plot(r: Dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, s in r["students"].items():
        for acc, ci, fill in ((s["accuracy"], s["ci"], True), (s["gold"]["accuracy"], s["gold"]["ci"], False)):
            ax.errorbar(s["raw_docs_per_sec"], 100 * acc, yerr=[[100 * (acc - ci[0])], [100 * (ci[1] - acc)]],
                        fmt="o", mfc=None if fill else "white", capsize=3, color=f"C{list(r['students']).index(name)}",
                        label=f"{name} ({s['size_mb']:.1f} MB)" if fill else None)
    t = r["teacher"]
    ax.errorbar(t["raw_docs_per_sec"], 100 * t["accuracy"], yerr=[[100 * (t["accuracy"] - t["ci"][0])],
                [100 * (t["ci"][1] - t["accuracy"])]], fmt="s", color="black", capsize=3,
                label=f"teacher ({t['size_mb']:.0f} MB)")
    ax.axvline(r["tokenizer_docs_per_sec"], color="grey", linestyle=":", label="tokenizer alone")
    ax.set_xscale("log")
    ax.set_xlabel("docs/s end to end (raw text, 2 CPU cores)")
    ax.set_ylabel("test accuracy % (95% CI)")
    ax.set_title(f"{r['run']}: students distilled (filled) and on gold labels (open)")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def curve_plot(points: List[Dict], path: Path, lang: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    sizes = [p["n_train"] for p in points]
    rows = [headline(p, p.get("seeds")) for p in points]
    for name in MODEL_NAMES:
        acc = [100 * r["accuracy"][name] for r in rows]
        lo = [100 * r["ci"][name][0] for r in rows]
        hi = [100 * r["ci"][name][1] for r in rows]
        ax.plot(sizes, acc, marker="o", label=name)
        ax.fill_between(sizes, lo, hi, alpha=0.2)
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set_xlabel("labelled training reviews")
    ax.set_ylabel("test accuracy (%), 95% interval")
    ax.set_title(f"{lang}: learning curve ({points[0]['n_test']} test reviews)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def curve_markdown(points: List[Dict], lang: str) -> str:
    lines = [f"# Learning curve: {lang}", "",
             f"Dev {points[0]['n_dev']} and test {points[0]['n_test']} reviews, the same at every size; "
             "accuracy in %, 95% bootstrap intervals (paired for the difference). With several seeds, student "
             "and baseline are the mean over seeds, their intervals pooled over seeds; one teacher per size.", "",
             "| n_train | synthetic | seeds | baseline | teacher | student | student - baseline | gap closed "
             "| wall time |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rows = [headline(p, p.get("seeds")) for p in points]
    for p, r in zip(points, rows):
        diff = r["student_vs_baseline"]
        gap = f"{fmt_pct(r['gap_closed'])} {fmt_ci(r['gap_closed_ci'])}" if r["gap_closed"] is not None else "-"
        wall = f"{p['wall_seconds'] / 60:.1f} min" if p.get("wall_seconds") else "-"
        lines.append(f"| {p['n_train']} | {p['n_synthetic']} | {r['n_seeds']} | "
                     + " | ".join(f"{fmt_pct(r['accuracy'][n])} {fmt_ci(r['ci'][n])}" for n in MODEL_NAMES)
                     + f" | {100 * diff['difference']:+.1f} {fmt_ci(diff['ci'], True)} | {gap} | {wall} |")
    notes = [f"- n_train {p['n_train']}: gap closed not given, {r['why_null']}" for p, r in zip(points, rows)
             if r["why_null"]]
    return "\n".join(lines + [""] + notes + ["", "![learning curve](curve.png)", ""])

