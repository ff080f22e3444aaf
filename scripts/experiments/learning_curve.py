"""Learning curve: baseline, teacher and student against the number of labelled reviews.

One dev set and one large test set are fixed (dev first, then a training pool, then every
other review as test; see make_corpus.py), and each training set is the first n reviews
of the pool, so the sets are nested. At each size the whole per-run pipeline runs (teacher,
augmentation, labelling, student, baseline, evaluation) in a folder of its own,
training/curve-{lang}/n{size}, so neither the main project's lockfile nor another size's
is touched. A finished size is reused only while its settings (the configs and the
resolved step commands) are unchanged; weasel resumes a size cut off part-way.
"""
import json
from pathlib import Path

import typer
from wasabi import msg

from scripts.shared.cli_support import InputError, require, run_cli
from scripts.experiments.points import (POINT_WORKFLOW, SHARED_DATA, make_subproject, parse_vars, pending_steps,
                                       point_fingerprint, settings_variant,
                                       run_in)
from scripts.experiments.render import curve_markdown, curve_plot, write_results

# A point is timed more briefly than the main run: its speed is not what the curve is about.
POINT_SPEED = {"rounds": 1, "latency_docs": 10, "speed_docs": 100}


def point_settings(base: Path, n_train: int, pool: int, n_dev: int, output: Path) -> Path:
    """The project's settings with this size's split: n_train of a fixed pool, fixed dev,
    and every other review as test (n_test 0)."""
    return settings_variant(base, {"corpus": {"n_train": n_train, "n_pool": pool, "n_dev": n_dev, "n_test": 0},
                                   "evaluate": POINT_SPEED}, output)


def main(
    lang: str = typer.Option("nl"),
    sizes: str = typer.Option("100,200,500,1000", help="Comma-separated training-set sizes"),
    pool: int = typer.Option(1000, help="Training pool; the largest size must fit in it"),
    n_dev: int = typer.Option(500),
    n_seeds: int = typer.Option(1, help="Seeds for student and baseline at each size (one teacher per size); "
                                "1: one run only"),
    vars_text: str = typer.Option("", "--vars", help="The project's vars each size runs with, 'key=value ...' "
                                  "(project.yml passes them)"),
):
    try:
        n_values = sorted({int(x) for x in sizes.split(",") if x.strip()})
    except ValueError:
        raise InputError(f"sizes '{sizes}': give whole numbers separated by commas, e.g. 100,200,500,1000") from None
    if not n_values or n_values[0] < 2 or n_values[-1] > pool:
        raise InputError(f"sizes '{sizes}': each must be at least 2 and at most the pool ({pool}); fix sizes "
                         "or pool in configs/study.cfg [curve]")
    passed = parse_vars(vars_text)
    if "reviews" in passed:  # a path relative to this project, not to the folder a size runs in
        passed["reviews"] = str((Path.cwd() / passed["reviews"]).resolve())
    root = Path.cwd()
    require(root / "assets" / "backbones" / "teacher" / "config.json", "the teacher backbone", "backbone")
    require(root / "training" / "taggers" / lang / "model-best", "the POS tagger", "tagger")
    out_dir = root / "training" / f"curve-{lang}"
    points = []
    for n in n_values:
        project = make_subproject(out_dir / f"n{n}", root, SHARED_DATA)
        settings = point_settings(root / passed["settings"], n, pool, n_dev, out_dir / f"n{n}" / "settings")
        overrides = {**passed, "lang": lang, "run": f"n{n}", "settings": str(settings)}
        metrics_path = project / "training" / f"n{n}" / "metrics.json"
        record_path = metrics_path.with_name("point.json")
        fingerprint = point_fingerprint(project, overrides)
        record = json.loads(record_path.read_text()) if record_path.exists() else {}
        if not metrics_path.exists() or record.get("fingerprint") != fingerprint:
            if metrics_path.exists():
                msg.warn(f"n_train = {n}: settings changed since it was run; running it again")
                metrics_path.unlink()
            msg.divider(f"learning curve: n_train = {n}")
            record_path.parent.mkdir(parents=True, exist_ok=True)
            seconds = run_in(project, POINT_WORKFLOW, overrides, f"the curve point n_train={n}")
            record = {"fingerprint": fingerprint, "wall_seconds": round(seconds, 1)}
            record_path.write_text(json.dumps(record, indent=2))
        point = json.loads(metrics_path.read_text())
        if n_seeds >= 2:  # student and baseline with seeds 0..n-1 against this size's teacher
            seeds_vars = overrides  # the seeds' number and routes: configs/study.cfg [seeds]
            if "seeds_wall_seconds" not in record or pending_steps(project, ["train-seeds"], seeds_vars):
                msg.divider(f"learning curve: n_train = {n}, {n_seeds} seeds")
                record["seeds_wall_seconds"] = round(run_in(project, "seeds", seeds_vars,
                                                            f"the seeds at n_train={n}"), 1)
                record_path.write_text(json.dumps(record, indent=2))
            point["seeds"] = json.loads((metrics_path.parent / "seeds.json").read_text())
        stats = json.loads((project / "corpus" / f"n{n}" / "stats.json").read_text())
        point.update(n_train=n, n_dev=stats["splits"]["dev"]["n"],
                     wall_seconds=record["wall_seconds"] + (record.get("seeds_wall_seconds", 0) if n_seeds >= 2 else 0))
        points.append(point)
    write_results(out_dir, "curve", points, curve_markdown(points, lang), lambda png: curve_plot(points, png, lang))


if __name__ == "__main__":
    run_cli(main, study=("curve", "seeds"))
