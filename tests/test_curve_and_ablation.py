"""The curve and ablation drivers on a finished tiny `all` run (see workflow_support.py)."""
import json
import os
import subprocess
import sys

from workflow_support import TINY_TRAINING, TINY_VARS


def test_learning_curve_runs_nested_sizes_on_one_dev_and_test_set_and_reuses_finished_sizes(project_run,
                                                                                             tiny_backbone):
    project, _, _ = project_run
    curve_vars = {**TINY_VARS, "teacher_backbone": tiny_backbone, "curve_sizes": "10,20", "curve_pool": 20,
                  "curve_dev": 10, "n_seeds": 1}  # seeds: in the languages test
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


def test_ablation_switches_each_method_off_and_subsamples_the_synthetic_set(project_run):
    """On the finished tiny run: each method off in turn is augmented and labelled anew, a
    smaller set is a subset of the run's own synthetic set, a larger one is made with more
    rounds, and every variant is compared with the full recipe; a rerun trains nothing again."""
    from conftest import run_script

    project, _, _ = project_run
    args = ["training/nl", "--output-dir", "training/ablation-nl", "--n-seeds", 1, "--synthetic-sizes", "30,300",
            "--recipe", "synthetic_size=200"]
    result = run_script("ablation.py", *args, cwd=project)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    (run,) = json.loads((project / "training/ablation-nl/ablation.json").read_text())
    variants = run["variants"]
    assert list(variants) == ["full", "no_mask", "no_pos", "no_ngram", "no_sentence", "synthetic_30", "synthetic_300"]
    assert variants["synthetic_30"]["n_synthetic"] == 30
    assert all("vs_full" in v for name, v in variants.items() if name != "full")
    from spacy.tokens import DocBin
    import spacy

    vocab = spacy.blank("nl").vocab
    full = {d.text for d in DocBin().from_disk(project / "corpus/nl/synthetic.spacy").get_docs(vocab)}
    subset = {d.text for d in DocBin().from_disk(project / "training/nl/ablation/synthetic_30/synthetic.spacy")
              .get_docs(vocab)}
    assert subset < full
    assert len(full) < variants["synthetic_300"]["n_synthetic"] <= 300  # more rounds made a larger set
    larger = [d for d in DocBin(store_user_data=True).from_disk(
        project / "training/nl/ablation/synthetic_300/synthetic.spacy").get_docs(vocab)]
    assert all(0.0 < d.cats["POS"] < 1.0 for d in larger)  # labelled by the teacher
    no_mask = [d.text for d in DocBin().from_disk(project / "training/nl/ablation/no_mask/synthetic.spacy")
               .get_docs(vocab)]
    assert any("[MASK]" in t for t in full)  # the tiny teacher's mask token
    assert no_mask and not any("[MASK]" in t for t in no_mask)
    assert "| no_mask |" in (project / "training/ablation-nl/ablation.md").read_text()
    again = run_script("ablation.py", *args, cwd=project)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
    assert "Trained in" not in again.stdout  # every model reused
    # reused work still reports the time it took (augmenting, labelling, training)
    (rerun,) = json.loads((project / "training/ablation-nl/ablation.json").read_text())
    assert {n: v["wall_seconds"] for n, v in rerun["variants"].items()} == {
        n: v["wall_seconds"] for n, v in variants.items()}
    assert variants["no_mask"]["wall_seconds"] > variants["full"]["wall_seconds"]  # its set was made here
