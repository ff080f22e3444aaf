"""The ablation driver on a finished tiny `all` run (see workflow_support.py)."""
import json


def test_ablation_switches_each_method_off_and_subsamples_the_synthetic_set(project_run):
    """On the finished tiny run: each method off in turn is augmented and labelled anew, a
    smaller set is a subset of the run's own synthetic set, a larger one is made with more
    rounds, and every variant is compared with the full recipe; a rerun trains nothing again."""
    from conftest import run_script

    project, _ = project_run
    args = ["training/nl", "--output-dir", "training/ablation-nl", "--n-seeds", 1, "--synthetic-sizes", "30,300",
            "--vars", "synthetic_size=200 settings=configs/tiny_settings"]
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
