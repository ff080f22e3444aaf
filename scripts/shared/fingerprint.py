"""One fingerprint of what made a result: the settings, the project's code and the inputs.

Every cache in the experiment drivers (a seed's model, a curve size, an ablation
variant's synthetic set) is reused only while this is unchanged, so an edit to a loss in
distillation.py, a config, a var or an input file redoes the work it affects.
"""
import ast
import hashlib
import json
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Union

from scripts.shared.cli_support import sha256_of

CODE = Path(__file__).resolve().parents[1]  # scripts/


def code_files(code: Optional[Path] = None, entry: Union[str, Sequence[str], None] = None) -> List[Path]:
    """The pipeline's code: every script a step may run or import, in every stage folder.
    The experiment drivers are left out: they only plan, run and render, and their
    settings reach the fingerprint as the commands they run.

    With `entry` (a module such as "scripts.shared.train", or several): only the files
    those modules import from scripts/, directly or through each other, themselves included. Imports inside
    functions count too (the configs' registered code is imported that way), so an edit to
    a loss retrains a seed while an edit to the evaluation or the report does not."""
    code = code or CODE
    if entry is None:
        return sorted(p for p in code.rglob("*.py") if "experiments" not in p.relative_to(code).parts)
    entries = [entry] if isinstance(entry, str) else list(entry)
    return sorted(set().union(*(import_closure(e, code) for e in entries)))


def module_file(module: str, code: Path) -> Optional[Path]:
    """The file of a `scripts.*` module (or package) under `code`, or None."""
    parts = module.split(".")
    if parts[0] != code.name:
        return None
    base = code.joinpath(*parts[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def file_module(path: Path, code: Optional[Path] = None) -> Optional[str]:
    """The module name of a .py file under `code` (scripts/student/distillation.py ->
    scripts.student.distillation), or None for a file elsewhere."""
    code = code or CODE
    path = Path(path).resolve()
    if path.suffix != ".py" or not path.is_file() or code.resolve() not in path.parents:
        return None
    return ".".join((code.name, *path.relative_to(code.resolve()).with_suffix("").parts))


def import_closure(entry: str, code: Path) -> set:
    """The files of `entry` and of every project module it imports, transitively."""
    seen, todo = set(), [entry]
    while todo:
        module = todo.pop()
        path = module_file(module, code)
        if path is None or path in seen:
            continue
        todo.extend(module.rsplit(".", depth)[0] for depth in range(1, module.count(".") + 1))  # its packages run first
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                todo.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                # `from scripts.student import distillation` names a module; `from
                # scripts.shared.cli_support import run_cli` a function (not a file: skipped).
                todo.append(node.module)
                todo.extend(f"{node.module}.{alias.name}" for alias in node.names)
    if not seen:
        raise ValueError(f"fingerprint: no module '{entry}' under {code}")
    return seen


def folder_fingerprint(folder: Path) -> str:
    """sha256 over every file's relative path and contents: a retrained teacher differs."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + sha256_of(path).encode())
    return digest.hexdigest()


def contents_fingerprint(*paths: Path) -> str:
    """One sha256 over the contents of each path in turn, a file or a folder (every file in it)."""
    digest = hashlib.sha256()
    for path in map(Path, paths):
        digest.update((folder_fingerprint(path) if path.is_dir() else sha256_of(path)).encode() + b"\0")
    return digest.hexdigest()


def fingerprint(settings: Dict, inputs: Iterable[Path] = (), skip: Iterable[Path] = (),
                code: Optional[Path] = None, entry: Union[str, Sequence[str], None] = None) -> str:
    """sha256 over the settings (as JSON), the project's code (all of it, or what `entry`
    imports), and the contents of every file in `inputs` (folders recursively), except
    under `skip` (e.g. the output)."""
    skipped = [Path(p).resolve() for p in skip]
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in code_files(code, entry):
        digest.update(str(path.relative_to(code or CODE)).encode() + b"\0" + path.read_bytes())
    def is_skipped(path: Path) -> bool:
        path = path.resolve()
        return any(path == s or s in path.parents for s in skipped)

    for root in inputs:
        root = Path(root)
        files = [root] if root.is_file() else sorted(f for f in root.rglob("*") if f.is_file()) if root.is_dir() else []
        for f in files:
            if not is_skipped(f):
                digest.update(str(f).encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()
