"""The learning-curve driver on a finished tiny `all` run (see workflow_support.py)."""
import json
import os
import subprocess
import sys

from workflow_support import TINY_TRAINING, TINY_VARS, write_study


def test_learning_curve_runs_nested_sizes_on_one_dev_and_test_set_and_reuses_finished_sizes(project_run,
                                                                                             tiny_backbone):
    project, _ = project_run
    write_study(project, {"curve": {"sizes": "10,20", "pool": 20, "n_dev": 10},
                          "seeds": {"n_seeds": 1}})  # seeds: in the languages test
    curve_vars = {**TINY_VARS, "teacher_backbone": tiny_backbone}
    env = {**os.environ, "SPACY_CONFIG_OVERRIDES": TINY_TRAINING}
    cmd = [sys.executable, "-m", "spacy", "project", "run", "curve", str(project),
           *[f"--vars.{k}={v}" for k, v in curve_vars.items()]]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=project)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    points = json.loads((project / "training/curve-nl/curve.json").read_text())
    assert [p["n_train"] for p in points] == [10, 20]
    assert points[0]["n_test"] == points[1]["n_test"] == 120 - 10 - 20  # every review not in dev or pool
    assert all(p["wall_seconds"] > 0 for p in points)
    vocab = __import__("spacy").blank("nl").vocab
    from spacy.tokens import DocBin

    def texts(n, split):
        path = project / f"training/curve-nl/n{n}/corpus/n{n}/{split}.spacy"
        return [d.text for d in DocBin().from_disk(path).get_docs(vocab)]

    assert texts(10, "test") == texts(20, "test") and texts(10, "dev") == texts(20, "dev")
    assert set(texts(10, "train")) < set(texts(20, "train"))
    assert (project / "training/curve-nl/curve.png").exists()
    assert "| 20 |" in (project / "training/curve-nl/curve.md").read_text()
    (project / "training/curve-nl/curve.json").unlink()  # so weasel runs the command again
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=project)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "learning curve: n_train" not in again.stdout  # both sizes reused
    assert json.loads((project / "training/curve-nl/curve.json").read_text()) == points
