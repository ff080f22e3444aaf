"""`spacy project run all` end to end on tiny fixture data with a tiny teacher built here
(see workflow_support.py), and what is checked on the finished run: outputs, metrics, the
lockfile, the wheel, reproducibility and the students workflow."""
import json
import os
import shutil
import subprocess
import sys
import venv

import pytest

from conftest import ROOT
from fixtures import fixture_reviews
from workflow_support import TINY_TRAINING, make_project, run_all

METRIC_FIELDS = {"accuracy", "macro_f", "auc", "size_mb", "params", "docs_per_sec", "raw_docs_per_sec",
                 "words_per_sec", "latency_p50_ms", "latency_p95_ms"}


def test_run_all_produces_every_declared_output(project_run):
    project, config = project_run
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

    project, _ = project_run
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

    project, _ = project_run
    vectors = spacy.load(project / "training/nl/vectors").vocab.vectors
    student = spacy.load(project / "training/nl/student/model-last")
    baseline = spacy.load(project / "training/nl/baseline/model-last")
    assert student.vocab.vectors.shape == vectors.shape and vectors.shape[0] > 0
    assert baseline.vocab.vectors.shape[0] == 0  # the fair baseline: what spaCy trains without a teacher


def test_metrics_follow_the_schema(project_run):
    project, _ = project_run
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
    assert choice["requested"] == "bf16" and choice["chosen"] in ("bf16", "fp32")
    assert metrics["labelling"]["runtime"] == choice["chosen"] == metrics["student_speedup"]["teacher_runtime"]
    from scripts.teacher.teacher_runtime import unsupported_reason

    if unsupported_reason("bf16") is None:  # named, it is measured behind the gate on both sets
        assert "synthetic" in choice["runtimes"]["bf16"] and "dev_accuracy_drop" in choice["runtimes"]["bf16"]
    assert metrics["transfer_set"]["n_examples"] == metrics["n_synthetic"] == 200
    # the word budget reached the augmenter; 200 short examples stay far below it
    from thinc.api import Config

    per_example = Config().from_disk(ROOT / "configs/settings/augment.cfg")["augment"]["words_per_example"]
    budget = 200 * per_example
    transfer = metrics["transfer_set"]
    assert transfer["max_words"] == budget and 0 < transfer["n_words"] < budget and not transfer["word_capped"]
    assert metrics["student_speedup"]["vs_teacher_fastest"] <= metrics["student_speedup"]["vs_teacher_fp32"] + 1e-9
    shop = metrics["extra_tests"]["other_shop"]  # the extra test set: every model, its own intervals
    assert shop["n"] == 12 and set(shop["models"]) == {"baseline", "teacher", "student"}
    for m in shop["models"].values():
        assert m["accuracy_ci"][0] <= m["accuracy"] <= m["accuracy_ci"][1] and len(m["correct"]) == 12
    assert shop["comparisons"]["student_vs_baseline"]["difference"] == pytest.approx(
        shop["models"]["student"]["accuracy"] - shop["models"]["baseline"]["accuracy"])
    # how the teacher was trained is on record too: precision (auto picks per CPU) and wall time
    training = metrics["models"]["teacher"]["training"]
    assert training["asked"] == "auto" and training["used"] in ("fp32", "bf16") and training["wall_seconds"] > 0
    report = (project / "training/nl/report.md").read_text()
    assert f"The teacher trained in {training['used']}" in report
    assert "| other_shop | 12 |" in report
    assert "| student |" in report and "accuracy_speed.png" in report and "Student - baseline" in report
    assert "too wide to conclude anything" in report  # 20 test reviews: said plainly


def test_second_run_skips_every_finished_step(project_run, tiny_backbone):
    """corpus always runs (it reads the user's files, which are not hashed as deps) and
    writes the same bytes, so every step after it is skipped."""
    project, config = project_run
    again = run_all(project, tiny_backbone)
    assert again.returncode == 0, again.stderr[-2000:]
    for name in config["workflows"]["all"]:
        if name == "corpus":
            assert "Running command: " in again.stdout and "make_corpus" in again.stdout
        else:
            assert f"Skipping '{name}': nothing changed" in again.stdout, name


def test_packaged_student_installs_and_runs_without_torch_or_checkout(project_run, tmp_path):
    project, _ = project_run
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


@pytest.mark.parametrize("overrides", [{}, {"vars.settings": "configs/my_settings"}])
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

    first, _ = project_run
    second = tmp_path_factory.mktemp("project")
    make_project(second)
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


def test_a_curve_size_is_redone_when_a_var_a_setting_or_a_config_changes(tmp_path):
    from scripts.experiments.learning_curve import point_settings
    from scripts.experiments.points import point_fingerprint
    from scripts.experiments.points import make_subproject

    def point_vars(lang, n, pool, n_dev, seed, passed):
        settings = point_settings(main / "configs" / "settings", n, pool, n_dev, tmp_path / f"n{n}" / "settings")
        return {**passed, "lang": lang, "run": f"n{n}", "seed": seed, "settings": str(settings)}

    main = tmp_path / "main"  # the links lead here, so the config edited below is not this checkout's
    main.mkdir()
    shutil.copy(ROOT / "project.yml", main)
    for name in ("configs", "scripts"):
        shutil.copytree(ROOT / name, main / name, ignore=shutil.ignore_patterns("__pycache__"))
    project = make_subproject(tmp_path / "copy", main, links=[])
    base = point_vars("nl", 200, 1000, 500, 0, {"synthetic_size": "20000"})
    fingerprint = point_fingerprint(project, base)
    assert point_fingerprint(project, dict(base)) == fingerprint
    assert point_fingerprint(project, {**base, "synthetic_size": "40000"}) != fingerprint
    assert point_fingerprint(project, point_vars("nl", 500, 1000, 500, 0, {"synthetic_size": "20000"})) != fingerprint
    config = project / "configs" / "student.cfg"
    config.write_text(config.read_text().replace("max_epochs = 4", "max_epochs = 5"))
    changed_config = point_fingerprint(project, base)
    assert changed_config != fingerprint
    augment = tmp_path / "n200" / "settings" / "augment.cfg"  # this size's own settings
    augment.write_text(augment.read_text().replace("p_mask = 0.1", "p_mask = 0.2"))
    assert point_fingerprint(project, base) != changed_config


def test_a_run_folder_links_the_projects_code_and_sets_an_old_copy_aside(tmp_path):
    """Curve sizes, languages and the smoke run get folders of their own (weasel's lockfile),
    but no copies of the code: project.yml, configs/ and scripts/ are links, so an edit in
    the project reaches them. A copy left by an earlier version is set aside, not deleted."""
    from scripts.experiments.points import make_subproject

    main = tmp_path / "main"
    for name in ("configs", "scripts"):
        (main / name / "stage").mkdir(parents=True)
    (main / "project.yml").write_text("title: main\n")
    folder = tmp_path / "run"
    (folder / "scripts").mkdir(parents=True)
    (folder / "scripts" / "notes.txt").write_text("an old copy")
    make_subproject(folder, main, links=["assets/downloads"])
    for name in ("project.yml", "configs", "scripts", "assets/downloads"):
        assert (folder / name).is_symlink() and (folder / name).resolve() == (main / name).resolve(), name
    assert (folder / "scripts.old-copy" / "notes.txt").read_text() == "an old copy"
    (main / "scripts" / "stage" / "step.py").write_text("edited = True\n")
    assert (folder / "scripts" / "stage" / "step.py").read_text() == "edited = True\n"
    make_subproject(folder, main, links=["assets/downloads"])  # a second time changes nothing
    assert (folder / "scripts").is_symlink() and (folder / "scripts.old-copy").is_dir()


def test_students_are_distilled_beside_their_gold_twins_and_drawn_on_one_frontier(project_run):
    """`students` on the finished tiny run: each config distilled on the run's transfer set
    and trained on gold labels alone, with two seeds; accuracy, end-to-end speed and size in
    one table and plot; a rerun trains nothing again."""
    import spacy

    project, _ = project_run
    cmd = [sys.executable, "-m", "scripts.experiments.compare_students", "nl", "--configs",
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
