import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
sys.path.insert(0, str(SCRIPTS))


def run_script(script: str, *args, cwd=ROOT) -> subprocess.CompletedProcess:
    """Run one project script the way weasel does, capturing its output."""
    return subprocess.run(
        [sys.executable, str(SCRIPTS / script), *map(str, args)],
        capture_output=True, text=True, cwd=cwd,
    )


@pytest.fixture
def write_reviews(tmp_path):
    """Write `n` distinct reviews per label as JSONL and return the path."""

    def write(n_per_label: int, name: str = "reviews.jsonl") -> Path:
        import json

        path = tmp_path / name
        with path.open("w", encoding="utf-8") as f:
            for i in range(n_per_label):
                f.write(json.dumps({"text": f"Geweldig boek nummer {i}, echt aanrader.", "stars": 5}) + "\n")
                f.write(json.dumps({"text": f"Slecht boek nummer {i}, zonde van het geld.", "label": "NEG"}) + "\n")
        return path

    return write
