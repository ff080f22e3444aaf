"""The data stage: reading user reviews, bad input, and balanced non-overlapping splits."""
import json

import pytest
import spacy
from spacy.tokens import DocBin

from conftest import run_script
from scripts.data.make_corpus import deduplicate, plan_split_sizes
from scripts.data.reviews import read_reviews


def load_split(folder, split):
    nlp = spacy.blank("nl")
    return list(DocBin().from_disk(folder / f"{split}.spacy").get_docs(nlp.vocab))


def test_stars_map_to_labels_and_three_stars_are_counted(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("text,stars\nmooi,5\nprima,4\ngaat wel,3\nslecht,2\nvreselijk,1\n", encoding="utf-8")
    reviews, dropped = read_reviews(path, "nl")
    assert [r["label"] for r in reviews] == ["POS", "POS", "NEG", "NEG"]
    assert dropped["three_stars"] == 1


def test_csv_text_spanning_lines_and_labels(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('text,label\n"Titel. Eerste regel\ntweede regel",positive\nkort,NEG\n', encoding="utf-8")
    reviews, _ = read_reviews(path, "nl")
    assert reviews[0] == {"text": "Titel. Eerste regel tweede regel", "label": "POS",
                          "lang": "nl", "source": "r.csv"}
    assert reviews[1]["label"] == "NEG"


def test_label_sets_come_from_the_data(tmp_path):
    """Sentiment spellings still read as POS/NEG; any other set is kept as written, so a
    0/1/2 file has three classes (not NEG, POS and 2); stars can be five classes."""
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"text": f"t{i}", "label": label}) + "\n"
                            for i, label in enumerate([0, 1, 2, "NONE"])))
    assert [r["label"] for r in read_reviews(path, "nl")[0]] == ["0", "1", "2", "NONE"]
    path.write_text("".join(json.dumps({"text": f"t{i}", "label": label}) + "\n"
                            for i, label in enumerate([1, "negative", -1, " POS "])))
    assert [r["label"] for r in read_reviews(path, "nl")[0]] == ["POS", "NEG", "NEG", "POS"]
    path.write_text("".join(json.dumps({"text": f"t{i}", "stars": n}) + "\n" for i, n in enumerate([1, 3, 5])))
    reviews, dropped = read_reviews(path, "nl", star_classes=True)
    assert [r["label"] for r in reviews] == ["1_STAR", "3_STARS", "5_STARS"] and not dropped


def test_three_classes_split_balanced_with_every_class_in_the_cats(tmp_path):
    path = tmp_path / "r.jsonl"
    rows = [{"text": f"review {label} {i}", "label": label} for label in ("P", "N", "NONE") for i in range(20)]
    rows += [{"text": f"extra P {i}", "label": "P"} for i in range(15)]  # P is the common class
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run_script("make_corpus.py", path, tmp_path / "out", "--n-train", 30, "--n-dev", 15, "--n-test", 15)
    assert result.returncode == 0, result.stdout + result.stderr
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["labels"] == ["N", "NONE", "P"]
    assert stats["splits"]["train"] == {**stats["splits"]["train"], "n": 30, "N": 10, "NONE": 10, "P": 10}
    assert "pos_share" not in stats["splits"]["train"]
    for doc in load_split(tmp_path / "out", "test"):
        assert sorted(doc.cats) == ["N", "NONE", "P"] and sum(doc.cats.values()) == 1.0
        assert doc.cats[doc.text.split()[1]] == 1.0


def test_duplicates_are_counted_and_conflicts_dropped():
    rows = [{"text": "Goed boek", "label": "POS"}, {"text": "goed  boek", "label": "POS"},
            {"text": "Twijfel", "label": "POS"}, {"text": "twijfel", "label": "NEG"}]
    rows = [{**r, "text": " ".join(r["text"].split())} for r in rows]
    unique, dropped = deduplicate(rows)
    assert [r["text"] for r in unique] == ["Goed boek"]
    assert dropped == {"duplicates": 1, "conflicting_labels": 2}


def test_proportional_rule_shrinks_all_splits_alike():
    per_label, scale = plan_split_sizes({"POS": 300, "NEG": 150}, {"train": 200, "dev": 100, "test": 100}, 5, "x")
    assert scale == pytest.approx(0.75)
    assert per_label == {"train": 75, "dev": 37, "test": 37}


def test_splits_are_balanced_disjoint_and_deterministic(tmp_path, write_reviews):
    reviews = write_reviews(40)
    outs = []
    for name in ("a", "b"):
        result = run_script("make_corpus.py", reviews, tmp_path / name, "--lang", "nl",
                            "--n-train", 20, "--n-dev", 10, "--n-test", 10, "--seed", 3)
        assert result.returncode == 0, result.stderr
        outs.append({s: [d.text for d in load_split(tmp_path / name, s)] for s in ("train", "dev", "test")})
    assert outs[0] == outs[1]
    texts = outs[0]
    assert (len(texts["train"]), len(texts["dev"]), len(texts["test"])) == (20, 10, 10)
    assert not set(texts["train"]) & set(texts["dev"])
    assert not set(texts["train"]) & set(texts["test"])
    assert not set(texts["dev"]) & set(texts["test"])
    docs = load_split(tmp_path / "a", "train")
    assert sum(d.cats["POS"] for d in docs) == 10
    assert all(d.cats["POS"] + d.cats["NEG"] == 1.0 for d in docs)
    stats = json.loads((tmp_path / "a" / "stats.json").read_text())
    assert stats["splits"]["train"]["POS"] == stats["splits"]["train"]["NEG"] == 10
    assert set(stats["splits"]["dev"]["length"]) == {"chars", "words"}


def test_extra_test_sets_are_scored_apart_and_never_repeat_a_split_text(tmp_path, write_reviews):
    reviews = write_reviews(40)
    args = [reviews, tmp_path / "out", "--n-train", 20, "--n-dev", 10, "--n-test", 10, "--seed", 3]
    assert run_script("make_corpus.py", *args).returncode == 0
    train_texts = [d.text for d in load_split(tmp_path / "out", "train")]
    extra = tmp_path / "extra"
    extra.mkdir()
    new = [{"text": f"Een andere winkel, review {i}.", "label": "POS" if i % 2 else "NEG"} for i in range(5)]
    rows = new + [{"text": t, "label": "POS"} for t in train_texts[:2]] + [new[0]]
    (extra / "other_shop.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (extra / "notes.md").write_text("not a test set")
    result = run_script("make_corpus.py", *args, "--extra-tests", extra)
    assert result.returncode == 0, result.stderr
    docs = load_split(tmp_path / "out" / "extra", "other_shop")
    assert [d.text for d in docs] == [r["text"] for r in new]
    assert [d.cats["POS"] for d in docs] == [0.0, 1.0, 0.0, 1.0, 0.0]
    assert [d.text for d in load_split(tmp_path / "out", "train")] == train_texts  # the splits do not move
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())["extra_tests"]
    assert set(stats) == {"other_shop"}
    assert (stats["other_shop"]["n"], stats["other_shop"]["dropped_in_splits"],
            stats["other_shop"]["dropped_duplicates"]) == (5, 2, 1)
    assert run_script("make_corpus.py", *args, "--extra-tests", "").returncode == 0
    assert not list((tmp_path / "out" / "extra").iterdir())  # none asked for: none left from before


BAD_INPUTS = {
    "malformed_json": ("r.jsonl", b'{"text": "goed", "stars": 5}\n{"text": "slecht",\n', "r.jsonl:2: malformed JSON"),
    "missing_text": ("r.jsonl", b'{"stars": 5}\n', "r.jsonl:1: no field 'text' (the row has ['stars']); set the var text_column"),
    "empty_text": ("r.jsonl", b'{"text": "  ", "stars": 5}\n', "r.jsonl:1: missing or empty 'text'"),
    "stars_out_of_range": ("r.jsonl", b'{"text": "goed", "stars": 7}\n', "r.jsonl:1: stars must be a whole number from 1 to 5"),
    "stars_not_a_number": ("r.csv", b"text,stars\ngoed,veel\n", "r.csv:2: stars must be a whole number from 1 to 5"),
    "one_class": ("r.jsonl", b'{"text": "goed", "label": "MIXED"}\n', "every review has the label 'MIXED'"),
    "label_not_a_value": ("r.jsonl", b'{"text": "goed", "label": ["POS"]}\n', "r.jsonl:1: the label must be one value"),
    # a typo is a class of its own, so the split check names every class and the likely cause
    "typo_class": ("r.jsonl", b''.join(b'{"text": "goed %d", "label": "POS"}\n{"text": "slecht %d", "label": "NEG"}\n'
                                       % (i, i) for i in range(30)) + b'{"text": "fijn", "label": "PSO"}\n',
                   "(30 NEG, 30 POS, 1 PSO unique)"),
    "not_utf8": ("r.jsonl", b'{"text": "goed", "stars": 5}\n{"text": "caf\xe9", "stars": 1}\n', "r.jsonl:2: bytes that are not UTF-8"),
    "csv_missing_columns": ("r.csv", b"review,score\ngoed,5\n", "r.csv:1: no column 'text' for the text; the file has columns ['review', 'score']"),
    "missing_class": ("r.jsonl", b''.join(b'{"text": "goed %d", "stars": 5}\n' % i for i in range(50)), "every review has the label 'POS'"),
    "too_few_reviews": ("r.jsonl", b''.join(b'{"text": "goed %d", "stars": 5}\n{"text": "slecht %d", "stars": 1}\n' % (i, i) for i in range(12)), "too few reviews for the requested split"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_one_clear_line(tmp_path, case):
    name, content, expected = BAD_INPUTS[case]
    path = tmp_path / name
    path.write_bytes(content)
    result = run_script("make_corpus.py", path, tmp_path / "out", "--n-train", 20, "--n-dev", 10, "--n-test", 10)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [ln for ln in (result.stdout + result.stderr).splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert expected in lines[0]
    assert not (tmp_path / "out" / "train.spacy").exists()


def test_stars_as_classes_keeps_three_stars_and_an_unknown_setting_is_one_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"text": f"boek {stars} {i}", "stars": stars}) + "\n"
                            for stars in range(1, 6) for i in range(12)))
    out = tmp_path / "out"
    result = run_script("make_corpus.py", path, out, "--n-train", 25, "--n-dev", 10, "--n-test", 10,
                        "--min-per-label", 2, "--stars-as", "classes")
    assert result.returncode == 0, result.stdout + result.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["labels"] == ["1_STAR", "2_STARS", "3_STARS", "4_STARS", "5_STARS"]
    assert stats["splits"]["train"]["3_STARS"] == 5 and stats["dropped"].get("three_stars", 0) == 0
    bad = run_script("make_corpus.py", path, tmp_path / "bad", "--stars-as", "five")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "stars-as 'five': use 'sentiment' or 'classes'; fix stars_as in corpus.cfg of the settings folder (var settings)" in bad.stderr
