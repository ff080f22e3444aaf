"""The experiment layer: one run of the pipeline (a point: a curve size, a language, a
seed) under given vars, side by side with others, reused while its fingerprint holds.

Folders of their own for workflows that must not touch the main project's lockfile
(the smoke run, the learning curve, the languages): weasel keeps one lock entry per
command name next to project.yml, so runs with other vars in one folder would make each
other redo every step. Each curve size and each language therefore gets a folder whose
project.yml, configs/ and scripts/ are links to the project's own: one copy of the code,
so an edit reaches every run, and grep finds it once. The named data folders are linked
too, so what was fetched or built once (archives, the backbone, the taggers) is shared."""
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import numpy

from wasabi import msg

from scripts.shared.cli_support import InputError, read_settings_file, require, script_command
from scripts.shared.fingerprint import fingerprint

PROJECT_FILES = ("project.yml", "configs", "scripts")
# Data folders every run folder shares with the project: the fetched archives, the
# backbone and the taggers, each built once.
SHARED_DATA = ("assets", "training/taggers")
# The steps of one run (a curve size or a language) after the shared data is in place.
POINT_WORKFLOW = "point"
# What a trained model folder holds; a seed counts as trained only with both.
CHECKPOINTS = ("model-best", "model-last")
# The configs the seed drivers train, relative to the project folder they run from.
CONFIGS = {m: Path("configs") / f"{m}.cfg" for m in ("student", "baseline")}
# The code that registers what those configs name, passed to train.py as --code.
STUDENT_CODE = Path("scripts") / "student" / "distillation.py"


def link_to(target: Path, source: Path) -> None:
    """Make `target` a link to `source`. A link to elsewhere is replaced (only the link
    goes); a real file or folder (a copy made by an earlier version of this project) is
    set aside as NAME.old-copy, never deleted."""
    if target.is_symlink():
        if target.resolve() == source:
            return
        target.unlink()
    elif target.exists():
        aside = target.with_name(target.name + ".old-copy")
        if aside.exists() or aside.is_symlink():
            raise InputError(f"{target} is a real file or folder and {aside} exists too; move them away, "
                             "then rerun (this folder should hold links to the project's own)")
        target.rename(aside)
        msg.warn(f"{target}: an earlier copy, set aside as {aside.name}; it is now a link to {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source, target_is_directory=source.is_dir())


def make_subproject(folder: Path, root: Path, links: Iterable[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        link_to(folder / name, (root / name).resolve())
    for rel in links:
        source, link = (root / rel).resolve(), folder / rel
        source.mkdir(parents=True, exist_ok=True)
        if not link.exists() or link.is_symlink():  # a real data folder already there is used as it is
            link_to(link, source)
    return folder


# project.yml's vars that are the main run's own, never handed to a driver's runs.
OWN_VARS = ("run", "package_name", "package_version")


def parse_vars(text: str, project: Optional[Path] = None) -> Dict[str, str]:
    """The vars a driver hands to each of its runs: project.yml's (of `project`, default
    here) with the 'key=value key=value' items of `text` over them, as the driver's command
    in project.yml passes them with the user's --vars overrides already in."""
    from weasel.util import load_project_config

    project = project or Path.cwd()
    if not (project / "project.yml").exists():
        raise InputError(f"{project}: no project.yml; run the workflow from the project folder")
    base = {k: str(v) for k, v in load_project_config(project)["vars"].items() if k not in OWN_VARS}
    pairs = [item.split("=", 1) for item in text.split()]
    bad = [item for item, pair in zip(text.split(), pairs) if len(pair) != 2 or not pair[0]]
    if bad:
        raise InputError(f"--vars: expected key=value items separated by spaces, got {bad[0]!r}; fix it")
    given = {**base, **dict(pairs)}
    # run folders link configs/, so a settings folder under it reads the same there; another is made absolute
    settings = Path(given.get("settings", ""))
    if given.get("settings") and not settings.is_absolute() and settings.parts[:1] != ("configs",):
        given["settings"] = str((project / settings).resolve())
    return given


def settings_variant(base: Path, changes: Dict[str, Dict], output: Path) -> Path:
    """A copy of the settings folder `base` (one STEP.cfg per step, as configs/settings/)
    at `output`, with `changes` ({step: {key: value}}): the settings of a run that differs
    from the project's (a curve size, the smoke run). A file is rewritten only when its
    text changes, so weasel still skips the steps whose settings stayed the same."""
    from thinc.api import Config

    require(base, "the settings folder (var settings)", "all")
    unknown = sorted(set(changes) - {p.stem for p in Path(base).glob("*.cfg")})
    if unknown:
        raise InputError(f"{base}: no {unknown[0]}.cfg to change; the settings are "
                         f"{', '.join(sorted(p.stem for p in Path(base).glob('*.cfg')))}")
    output.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(base).glob("*.cfg")):
        config = Config().from_disk(path, interpolate=False)
        for section, values in changes.items():
            if section in config:
                config[section].update(values)
        target = output / path.name
        text = config.to_str()
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
    return output.resolve()


def read_settings(folder: Path, step: str) -> Dict:
    """One step's settings: [step] of folder/step.cfg."""
    path = require(Path(folder) / f"{step}.cfg", f"the {step} settings (var settings)", "all")
    return dict(read_settings_file(path)[step])


def point_fingerprint(project: Path, overrides: Dict, workflow: str = POINT_WORKFLOW) -> str:
    """What decides a run's results: the workflow's step commands with their vars, the
    configs and the code (the project's own, through the folder's links)."""
    from weasel.util import load_project_config

    config = load_project_config(project, overrides={f"vars.{k}": v for k, v in overrides.items()})
    steps = {c["name"]: c["script"] for c in config["commands"] if c["name"] in config["workflows"][workflow]}
    # (weasel applies --vars overrides to the commands; its vars dict keeps project.yml's values)
    settings = project / str(overrides.get("settings") or config["vars"]["settings"])
    return fingerprint({"steps": steps}, [project / "configs", settings], code=project / "scripts")


def run_logged(cmd: List[str], what: str, env: Optional[Dict], log: Optional[Path], cwd: Optional[Path] = None,
               rerun_note: str = "finished steps are skipped") -> None:
    """Run `cmd`, its output to the console or appended to `log` (for runs side by side,
    after a line that says what runs); one line naming where to look if it fails."""
    if log is None:
        code = subprocess.run(cmd, cwd=cwd, env=env).returncode
        where = "the output above"
    else:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as out:
            out.write(f"\n=== {what}: {' '.join(cmd[1:])}\n")
            out.flush()
            code = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
        where = f"the end of {log}"
    if code != 0:
        raise InputError(f"{what} failed; see {where}, then rerun ({rerun_note})")


def run_in(project: Path, name: str, overrides: Dict, what: str, env: Optional[Dict] = None,
           log: Optional[Path] = None) -> float:
    """`spacy project run NAME` in the run folder `project` with the given vars; the wall time in seconds.
    With `log`, the step's output is appended there instead of the console (for runs
    side by side); `env` replaces the environment (e.g. thread limits)."""
    start = time.time()
    run_logged([sys.executable, "-m", "spacy", "project", "run", name, str(project),
                *[f"--vars.{k}={v}" for k, v in overrides.items()]], what, env, log)
    return time.time() - start


def run_script_in(project: Path, module: str, args: List[str], what: str, env: Optional[Dict] = None,
                  log: Optional[Path] = None) -> None:
    """One of the project's scripts run in the run folder `project` (its output to `log` where given)."""
    if log is None:
        msg.divider(what)
    run_logged([*script_command(module), *map(str, args)], what, env, log, cwd=project,
               rerun_note="finished models are kept")


def pending_steps(project: Path, steps: List[str], overrides: Dict) -> List[str]:
    """The steps weasel would run (not skip) in `project` with these vars. A driver step
    (no_skip, e.g. train-seeds) counts as done while its lock entry holds: its inputs are
    then unchanged, and a code edit shows up first in the point's own steps."""
    from weasel.cli.run import check_rerun
    from weasel.util import load_project_config

    config = load_project_config(project, overrides={f"vars.{k}": v for k, v in overrides.items()})
    commands = {c["name"]: {**c, "no_skip": False} for c in config["commands"]}
    return [s for s in steps if any(not (project / d).exists() for d in commands[s].get("deps", []))
            or check_rerun(project, commands[s])]


# What torch (OpenMP) and numpy's BLAS read for their thread counts.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def workflow_steps(project: Path, workflow: str) -> List[str]:
    from weasel.util import load_project_config

    return list(load_project_config(project)["workflows"][workflow])


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def thread_env(jobs: int, cores: int) -> Optional[Dict]:
    """The environment of one of `jobs` runs side by side: the cores shared out, so that
    the runs do not fight over them. None (inherit everything) for one run at a time."""
    if jobs <= 1:
        return None
    return {**os.environ, **{name: str(max(1, cores // jobs)) for name in THREAD_VARS}}


def side_by_side(tasks: List[Callable], jobs: int) -> List:
    """Run the tasks `jobs` at a time, in the order given; their results in that order.
    A failed task lets the others finish (their work is kept), then its error is raised."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(task) for task in tasks]
    results, failures = [], []
    for future in futures:
        error = future.exception()
        if error is None:
            results.append(future.result())
        elif isinstance(error, InputError):
            failures.append(str(error))
        else:
            raise error
    if failures:
        raise InputError("; ".join(failures))
    return results


def run_part(project: Path, steps: List[str], overrides: Dict, what: str, record: Dict, part: str,
             env: Optional[Dict] = None, log: Optional[Path] = None) -> None:
    """Run `steps` in `project` unless weasel would skip them all; time what ran. A part
    finished earlier keeps its recorded time, or is marked as done by another run."""
    todo = pending_steps(project, steps, overrides)
    if not todo:
        if part not in record["wall_seconds"] and part not in record["reused"]:
            record["reused"].append(part)
            msg.info(f"{what}: already done by an earlier run; reused")
        return
    msg.divider(what)
    if log is not None:
        msg.info(f"{what}: output in {log}")
    start = time.time()
    for number, step in enumerate(steps, start=1):  # weasel skips the finished ones
        if log is not None:  # beside other languages: one console line per step, the rest in the log
            msg.info(f"{what}: step {number}/{len(steps)} {step}, {(time.time() - start) / 60:.1f} min so far")
        run_in(project, step, overrides, what, env=env, log=log)
    record["wall_seconds"][part] = round(time.time() - start, 1)
    record["reused"] = [p for p in record["reused"] if p != part]


def inputs_signature(cmd: List[str]) -> str:
    """What a seed's model depends on (train.py's training_signature of the command): the
    options and overrides, the contents of every file or folder they name (config,
    corpora, vectors) and the project code the training imports, but not the output
    folder. A model is reused only while this is unchanged, so a new config, synthetic set
    or loss retrains it, and an edit to the evaluation does not."""
    from scripts.shared.train import signature_of_args

    return signature_of_args(cmd[len(train_script()):])


def train_script() -> List[str]:
    return script_command("scripts.shared.train")


def is_trained(output: Path, signature: str) -> bool:
    from scripts.shared.train import INPUTS_RECORD

    done = all((output / c).exists() for c in CHECKPOINTS) and (output / "schedule.json").exists()
    record = output / INPUTS_RECORD
    return done and record.exists() and json.loads(record.read_text()).get("signature") == signature


def copy_trained(twin: Path, output: Path) -> None:
    """Put the model trained in `twin` at `output`: its checkpoints (replacing any at
    `output`, which are this driver's own), schedule and inputs record."""
    import shutil

    from scripts.shared.train import INPUTS_RECORD

    output.mkdir(parents=True, exist_ok=True)
    for checkpoint in CHECKPOINTS:
        if (output / checkpoint).exists():
            shutil.rmtree(output / checkpoint)
        shutil.copytree(twin / checkpoint, output / checkpoint)
    for record in ("schedule.json", INPUTS_RECORD):  # the record last: a copy cut short is not a trained model
        shutil.copy2(twin / record, output / record)


def train(cmd: List[str]) -> bool:
    """Run one `python -m scripts.shared.train ...` command in this process, which saves
    each model the ~12 s of imports a new process pays; True if it trained."""
    from scripts.shared.train import train_here

    assert cmd[:len(train_script())] == train_script(), f"not a train.py command: {cmd}"
    return train_here(cmd[len(train_script()):])


def train_models(jobs: Iterable[Tuple[str, int, List[str], Path]],
                 twins: Iterable[Path] = ()) -> Dict[str, Dict[int, float]]:
    """Train each (name, seed, command, output) in turn, unless it is already trained with
    these inputs, or one of the `twins` (model folders trained elsewhere, e.g. the `all`
    run's student and baseline) was: then that one is copied. Training is deterministic
    on one machine (seed 0 of `seeds` came out byte-identical to the `all` run's models),
    so the copy is the model training would make. Returns the training's own wall seconds
    by name and seed (from its schedule.json, so a reused model reports the time it took
    when it was trained)."""
    twins = [Path(t) for t in twins]
    wall: Dict[str, Dict[int, float]] = {}
    for name, seed, cmd, output in jobs:
        signature = inputs_signature(cmd)
        done = is_trained(output, signature)
        twin = None if done else next(
            (t for t in twins if t.resolve() != output.resolve() and is_trained(t, signature)), None)
        if done:
            msg.info(f"{name}, seed {seed}: already trained with these inputs")
        elif twin is not None:
            copy_trained(twin, output)
            msg.info(f"{name}, seed {seed}: trained from the same inputs in {twin}: copied, not retrained")
        else:
            msg.divider(f"{name}, seed {seed}")
            if not train(cmd):
                raise InputError(f"training {name} with seed {seed} failed; see the spaCy output above, then "
                                 "rerun (finished seeds are kept)")
        wall.setdefault(name, {})[seed] = json.loads((output / "schedule.json").read_text())["wall_seconds"]
    return wall


def score_seeds(models: Iterable[Path], *splits: List) -> List[numpy.ndarray]:
    """For each split of docs, 1 where a model's top label is the gold one: one row per
    model (seed), one column per doc. Each model is loaded once for all the splits."""
    import spacy

    from scripts.evaluation.scoring import score_docs
    from scripts.student import distillation  # noqa: F401  (registers the student's component)

    rows = [[score_docs(nlp, docs)[0] for docs in splits] for nlp in map(spacy.load, models)]
    return [numpy.array(split_rows) for split_rows in zip(*rows)]


def check_run(run: str, n_seeds: int, checkpoint: str) -> Tuple[Path, Path]:
    """(corpus, training) folders of a finished run with its splits and synthetic set,
    after checking the settings every multi-seed driver shares."""
    if n_seeds < 2:
        raise InputError(f"n-seeds must be at least 2 to give a spread, got {n_seeds}; fix n_seeds in [seeds] of configs/study.cfg")
    if checkpoint not in CHECKPOINTS:
        raise InputError(f"checkpoint must be one of {', '.join(CHECKPOINTS)}, got '{checkpoint}'")
    corpus, training = Path("corpus") / run, Path("training") / run
    for name, step in (("synthetic.spacy", "label"), ("test.spacy", "corpus"), ("dev.spacy", "corpus")):
        require(corpus / name, name, step)
    return corpus, training
