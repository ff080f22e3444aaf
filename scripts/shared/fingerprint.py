"""One fingerprint of what made a result: the settings, the project's code and the inputs.

Every cache in the experiment drivers (a seed's model, a curve size, an ablation
variant's synthetic set) is reused only while this is unchanged, so an edit to a loss in
distillation.py, a config, a var or an input file redoes the work it affects.
"""
import hashlib
import json
from pathlib import Path
from typing import Dict, Iterable, Optional

CODE = Path(__file__).resolve().parents[1]  # scripts/


def code_files(code: Optional[Path] = None):
    """The pipeline's code: every script a step may run or import, in every stage folder.
    The experiment drivers are left out: they only plan, run and render, and their
    settings reach the fingerprint as the commands they run."""
    code = code or CODE
    return sorted(p for p in code.rglob("*.py") if "experiments" not in p.relative_to(code).parts)


def fingerprint(settings: Dict, inputs: Iterable[Path] = (), skip: Iterable[Path] = (),
                code: Optional[Path] = None) -> str:
    """sha256 over the settings (as JSON), every file of the project's code, and the contents
    of every file in `inputs` (folders recursively), except under `skip` (e.g. the output)."""
    skipped = [Path(p).resolve() for p in skip]
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in code_files(code):
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
