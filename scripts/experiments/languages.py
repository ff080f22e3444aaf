"""Every language with data: the whole pipeline per language, one summary table and plot.

By default (`teacher_langs` "all") one pooled teacher (see language_plan.py), in
training/languages-pooled/teacher, labels every language's synthetic data; each
language then runs in training/languages-pooled/{lang}.

With `teacher_langs` "own", each language gets its own teacher. The project's own
language then runs in the project itself, so what `spacy project run all` and `seeds`
finished is reused (weasel decides, as for any rerun); every other language runs in a
folder of its own, training/languages/{lang}. Those have their own lockfiles, so
languages never make each other redo steps, and share the fetched archives, the
backbone and the taggers (each built once, in training/taggers/{lang}). When both kinds
of run have finished, the summary compares them per language, paired on the same test
reviews.

With n_seeds >= 2 the student and the baseline are also trained with seeds 0..n-1,
and the summary shows their mean over seeds with pooled intervals.

With --jobs 2 (the default) two languages run side by side, each with half the cores:
torch's speed-up from a second thread is small, and spaCy's own training uses one core,
so two single-threaded runs finish more work than one run with both cores. Each
language's step output then goes to training/{run}/languages.log in its folder.
"""
import json
import time
from functools import partial
from pathlib import Path
from typing import Dict, List, Optional

import typer
from wasabi import msg

from scripts.shared.cli_support import InputError, require, run_cli
from scripts.evaluation.measure import language_row
from scripts.experiments.points import (POINT_WORKFLOW, SHARED_DATA, make_subproject, parse_vars, pending_steps,
                                       read_settings, run_in, run_part, run_script_in, side_by_side, thread_env,
                                       usable_cores, workflow_steps)
from scripts.experiments.language_plan import (OWN, POOLED, link_teacher, parse_teacher_langs,
                                              plan_languages, pooled_teacher, run_order, teacher_words)
from scripts.experiments.render import compare_teachers, languages_plot, summary_markdown


def run_language(project: Path, root: Path, lang: str, run: str, overrides: Dict, n_seeds: int,
                 steps: List[str], env: Optional[Dict] = None, to_log: bool = False,
                 seed_routes: Optional[str] = None) -> Dict:
    """Tagger (once per language), the run's steps and the seeds, in `project`; with
    `to_log` (run beside other languages) the steps' output goes to the language's log.
    The seeds train as configs/study.cfg says, or with `seed_routes` where given."""
    log = project / "training" / run / "languages.log" if to_log else None
    record_path = project / "training" / run / "language.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    record = {"wall_seconds": record.get("wall_seconds", {}), "reused": record.get("reused", [])}
    if not (root / "training" / "taggers" / lang / "model-best").exists():
        run_part(project, ["tagger-data", "tagger"], overrides, f"{lang}: tagger", record, "tagger", env, log)
    point_was_done = not pending_steps(project, steps, overrides)
    run_part(project, steps, overrides, f"{lang}: teacher, student and baseline", record, "point", env, log)
    seeds_path = project / "training" / run / "seeds.json"
    seeds_done = point_was_done and "seeds" in record["wall_seconds"] and seeds_path.exists() and \
        json.loads(seeds_path.read_text()).get("n_seeds") == n_seeds
    if n_seeds >= 2 and seed_routes is None:
        run_part(project, ["train-seeds"], overrides, f"{lang}: {n_seeds} seeds", record, "seeds", env, log)
    elif n_seeds >= 2 and seeds_done:  # nothing they read changed since they ran
        msg.info(f"{lang}: {n_seeds} seeds: already done by an earlier run; reused")
    elif n_seeds >= 2:  # the seeds step's own script, with its routes given on the command line
        start = time.time()
        run_script_in(project, "scripts.experiments.run_seeds",
                      [run, "--lang", lang, "--gpu-id", overrides.get("gpu_id", "-1"),
                       "--student-config", overrides.get("student_config", "configs/student.cfg"),
                       "--settings", f"{overrides.get('settings', 'configs/settings')}/train.cfg",
                       "--study", "configs/study.cfg",
                       "--seed-routes", seed_routes], f"{lang}: train-seeds ({n_seeds} seeds, {seed_routes})",
                      env=env, log=log)
        record["wall_seconds"]["seeds"] = round(time.time() - start, 1)
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps(record, indent=2))
    metrics = json.loads((project / "training" / run / "metrics.json").read_text())
    seeds = json.loads((project / "training" / run / "seeds.json").read_text()) if n_seeds >= 2 else None
    return summary_row(lang, metrics, seeds, record["wall_seconds"], record["reused"])


def summary_row(lang: str, metrics: Dict, seeds: Optional[Dict], wall: Dict, reused: List[str]) -> Dict:
    """One language's accuracies (language_row), plus its transfer set (size, rounds per
    review, the teacher runtime that labelled it) and end-to-end speeds: raw text through
    nlp.pipe, the student against the fp32 teacher and the fastest gated runtime."""
    row = language_row(lang, metrics, seeds, wall, reused)
    transfer, labelling = metrics.get("transfer_set") or {}, metrics.get("labelling") or {}
    models = metrics["models"]
    row["transfer"] = {"n_synthetic": metrics["n_synthetic"], "rounds": transfer.get("rounds"),
                       "saturated": bool(transfer.get("saturated")), "word_capped": bool(transfer.get("word_capped")),
                       "n_words": transfer.get("n_words"), "labelled_by": labelling.get("runtime")}
    # evaluate's speed-ups as it computed them (vs_teacher_fp32, vs_teacher_fastest, teacher_runtime)
    row["end_to_end"] = {"student": models["student"]["raw_docs_per_sec"],
                         "teacher_fp32": models["teacher"]["raw_docs_per_sec"], **metrics["student_speedup"]}
    return row


def main(
    langs: str = typer.Option("nl,fr,en,es,de", help="Comma-separated languages, each read from "
                              "assets/reviews/{lang}.jsonl"),
    lang: str = typer.Option("nl", help="The project's own language, read from --reviews (added if not listed)"),
    run: str = typer.Option("nl", help="The project's own run folder (var run); its language runs in the project"),
    n_seeds: int = typer.Option(3, help="Seeds for student and baseline per language; 1: one run only"),
    teacher_langs: str = typer.Option("all", help="Languages whose pooled training reviews fine-tune one shared "
                                      "teacher: 'all' every language run, 'own' one teacher per language, or "
                                      "a list such as nl,fr"),
    jobs: int = typer.Option(2, help="Languages run side by side, sharing the cores out (1: one after another, "
                             "each with every core)"),
    vars_text: str = typer.Option("", "--vars", help="The project's vars each language runs with, 'key=value "
                                  "...' (project.yml passes them); reviews is the project's own language's"),
    output_dir: Path = typer.Option(Path("training")),
):
    if n_seeds < 1:
        raise InputError(f"n-seeds must be at least 1, got {n_seeds}; fix configs/study.cfg [seeds]")
    if jobs < 1:
        raise InputError(f"jobs must be at least 1, got {jobs}; fix configs/study.cfg [languages]")
    start = time.time()
    root = Path.cwd()
    passed = parse_vars(vars_text)
    reviews = passed.pop("reviews", f"assets/reviews/{lang}.jsonl")
    plan = plan_languages(langs, lang, reviews, root)
    pooled_langs = parse_teacher_langs(teacher_langs, plan)
    require(root / "assets" / "backbones" / "teacher" / "config.json", "the teacher backbone", "backbone")
    point = workflow_steps(root, POINT_WORKFLOW)

    def language_vars(name: str, path: Path) -> Dict:
        # The tagger var is for the project's own language; the others use their offline taggers.
        return {**passed, "lang": name, "run": name, "reviews": str(path),
                "tagger": passed.get("tagger", "train") if name == lang else "train"}

    env, parallel = thread_env(jobs, usable_cores()), jobs > 1 and len(plan) > 1

    def language_order(project_of: Dict[str, Path]) -> List[str]:
        size = int(passed.get("synthetic_size", 0))
        budget = int(read_settings(root / passed["settings"], "augment")["words_per_example"])
        order = run_order(list(plan), lang, {name: teacher_words(project_of[name] / "corpus" / name, size, budget)
                                             for name in plan if name != lang})
        if parallel:
            msg.info(f"Languages in this order ({lang} first, then the longest): {', '.join(order)}")
        return order

    def run_all_languages(project_of: Dict[str, Path], order: List[str], steps: List[str]) -> List[Dict]:
        tasks = []
        for name in order:
            if name == lang and project_of[name] == root:  # `all` and `seeds` may have done it
                overrides = {**passed, "lang": lang, "run": run, "reviews": reviews}
                tasks.append(partial(run_language, root, root, name, run, overrides, n_seeds, steps, env, parallel))
            else:  # student and baseline seeds only, not the vectors' routes (configs/study.cfg's for lang)
                tasks.append(partial(run_language, project_of[name], root, name, name,
                                     language_vars(name, plan[name]), n_seeds, steps, env, parallel, "no-routes"))
        by_lang = dict(zip(order, side_by_side(tasks, jobs if parallel else 1)))
        return [by_lang[name] for name in plan]

    teacher = None
    if not pooled_langs:
        mode = OWN
        projects = {name: root if name == lang else make_subproject(root / "training" / "languages" / name, root,
                                                                    SHARED_DATA) for name in plan}
        order = language_order(projects)  # on a first run no corpus is made yet: the listed order
        rows = run_all_languages(projects, order, point)
    else:
        mode, folder = POOLED, root / "training" / "languages-pooled"
        projects = {name: make_subproject(folder / name, root, SHARED_DATA) for name in plan}
        for name, path in plan.items():
            run_in(projects[name], "corpus", language_vars(name, path), f"the {name} corpus")
        teacher = pooled_teacher(folder, root, {n: p / "corpus" / n for n, p in projects.items()}, pooled_langs,
                                 passed)
        for name in plan:
            link_teacher(projects[name], name, teacher["path"])
        order = language_order(projects)
        rows = run_all_languages(projects, order, [s for s in point if s != "teacher"])
        teacher = {k: (str(v) if isinstance(v, Path) else v) for k, v in teacher.items()}
    result = {"mode": mode, "teacher": teacher, "rows": rows,
              "run": {"order": order, "jobs": jobs if parallel else 1,
                      "threads": int(env["OMP_NUM_THREADS"]) if env else None,
                      "wall_seconds": round(time.time() - start, 1)}}
    (output_dir / f"languages-{mode}.json").write_text(json.dumps(result, indent=2))
    (output_dir / "languages.json").write_text(json.dumps(result, indent=2))
    text = summary_markdown(rows, teacher, result["run"])
    other = output_dir / f"languages-{POOLED if mode == OWN else OWN}.json"
    if other.exists():
        both = {mode: result, OWN if mode == POOLED else POOLED: json.loads(other.read_text())}
        text += "\n" + compare_teachers(both[OWN], both[POOLED])
    (output_dir / "summary.md").write_text(text)
    languages_plot(rows, output_dir / "summary.png")
    msg.good(f"Wrote {output_dir / 'summary.md'}, summary.png and languages.json")


if __name__ == "__main__":
    run_cli(main, study=("languages", "seeds"))
