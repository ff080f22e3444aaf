"""Run the whole default workflow at tiny sizes in its own folder, smoke/.

It is the same real path as `spacy project run all`: real reviews, the real
pretrained backbone and every step, with 100 reviews per split, 1000 synthetic
examples, 1 training epoch, 10 teacher steps and teacher vectors for 2000 words.
Archives fetched with pip are shared with the main project through
smoke/assets/downloads, so they are fetched once.
"""
import os
import subprocess
import sys
from pathlib import Path

import typer
from wasabi import msg

from scripts.shared.cli_support import InputError, run_cli
from scripts.experiments.points import make_subproject, settings_variant

SMOKE_SETTINGS = {
    "corpus": {"n_train": 100, "n_dev": 100, "n_test": 100},
    "teacher": {"min_steps": 10, "evals": 1}, "vectors": {"n_words": 2000}, "train": {"evals": 2},
    "evaluate": {"speed_docs": 50, "rounds": 1, "min_round_seconds": 0.2, "latency_docs": 20},
}


def main(
    smoke_dir: Path = typer.Argument(Path("smoke")),
    lang: str = typer.Option("nl"),
):
    if smoke_dir.resolve() == Path.cwd().resolve() or Path.cwd().resolve() in smoke_dir.resolve().parents and \
            smoke_dir.resolve().name in ("configs", "scripts", "assets", "corpus", "training"):
        raise InputError(f"smoke dir '{smoke_dir}' is the project or one of its folders; the smoke run links the "
                         "project into its own folder: pass a new folder such as smoke")
    make_subproject(smoke_dir, Path.cwd(), links=["assets/downloads"])
    settings = settings_variant(Path("configs/settings"), SMOKE_SETTINGS, smoke_dir / "settings")
    overrides = [f"--vars.{k}={v}" for k, v in {"synthetic_size": 1000, "lang": lang, "settings": settings}.items()]
    env = {**os.environ, "SPACY_CONFIG_OVERRIDES": "--training.max_epochs=1"}
    cmd = [sys.executable, "-m", "spacy", "project", "run", "all", str(smoke_dir), *overrides]
    msg.info("Smoke run: " + " ".join(cmd[3:]))
    if subprocess.run(cmd, env=env).returncode != 0:
        raise InputError("the smoke run failed; see the step output above")
    msg.good(f"Smoke run finished; see {smoke_dir}/training/{lang}/report.md")


if __name__ == "__main__":
    run_cli(main)
