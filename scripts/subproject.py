"""A copy of this project in a folder of its own, for workflows that must not touch the
main project's lockfile (the smoke run, the learning curve): weasel keeps one lock entry
per command name, so runs with other vars in the main folder would make `all` redo
every step. Code and configs are copied; the named data folders are linked, so what
was fetched or built once is shared."""
import shutil
from pathlib import Path
from typing import Iterable

PROJECT_FILES = ("project.yml", "configs", "scripts")


def make_subproject(folder: Path, root: Path, links: Iterable[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        target = folder / name
        if target.is_dir():
            shutil.rmtree(target)
        if (root / name).is_dir():
            shutil.copytree(root / name, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(root / name, target)
    for rel in links:
        source, link = (root / rel).resolve(), folder / rel
        source.mkdir(parents=True, exist_ok=True)
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink() and not link.exists():
            link.symlink_to(source, target_is_directory=True)
    return folder
