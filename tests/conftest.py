import os
import shutil
import subprocess
import sys
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):  # two workers on two cores: one thread each, as for their subprocesses
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
sys.path.insert(0, str(ROOT))  # the scripts import each other as scripts.STAGE.NAME
sys.path.insert(0, str(ROOT / "tests"))

from scripts.student import distillation  # noqa: E402,F401  (registers what the student and baseline configs name)
from scripts.teacher import teacher_callbacks  # noqa: E402,F401  (registers what the teacher config names)
from scripts.teacher import hf_textcat  # noqa: E402,F401  (registers the component a given Hugging Face teacher is in)


# The test files that run the whole tiny project, in two groups that each go to one
# worker, balanced by their measured durations; the groups start first, and every other
# file goes, whole, to whichever worker is free (pytest-xdist's loadfile otherwise).
# Measured in one CI run: the shared build 3.5 min, ablation 5, curve 6, languages 16;
# three classes 3.5, workflow 7.5.
WORKER_GROUPS = {"test_three_classes.py": "workflow", "test_workflow.py": "workflow", "test_curve.py": "workflow",
                 "test_ablation.py": "experiments", "test_languages_run.py": "experiments"}


def pytest_collection_modifyitems(items):
    """The grouped files first, in the order listed (a group's first file must not wait for
    the shared build: the three-class run makes its own); a stable sort, so each file
    keeps its tests' order."""
    files = list(WORKER_GROUPS)
    items.sort(key=lambda item: files.index(item.path.name) if item.path.name in WORKER_GROUPS else len(files))


@pytest.hookimpl(optionalhook=True)  # a run without pytest-xdist (-p no:xdist) does not know the hook
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class FilesAndGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = nodeid.split("::", 1)[0]
            return WORKER_GROUPS.get(Path(file).name, file)

    return FilesAndGroups(config, log)


def script_module(script: str) -> str:
    """`make_corpus.py` -> `scripts.data.make_corpus`: the module of a script, by file name."""
    found = list(SCRIPTS.rglob(script))
    assert len(found) == 1, f"{script}: expected one script of that name under scripts/, found {found}"
    return ".".join(found[0].relative_to(ROOT).with_suffix("").parts)


def run_script(script: str, *args, cwd=ROOT, env=None) -> subprocess.CompletedProcess:
    """Run one project script the way weasel does (`python -m scripts.STAGE.NAME`),
    capturing its output (`env`: variables to set on top of this process's). From a
    folder without the project's scripts (cwd), this checkout's are used."""
    return subprocess.run(
        [sys.executable, "-m", script_module(script), *map(str, args)],
        capture_output=True, text=True, cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


@pytest.fixture
def write_reviews(tmp_path):
    """Write `n` distinct fixture reviews per label as JSONL and return the path."""
    from fixtures import write_reviews_jsonl

    return lambda n_per_label: write_reviews_jsonl(tmp_path / "reviews.jsonl", n_per_label)


# What train.py's --code takes for the project's configs, as project.yml passes it.
STUDENT_CODE = ROOT / "scripts" / "student" / "distillation.py"
TEACHER_CODE = ROOT / "scripts" / "teacher" / "teacher_callbacks.py"

# Overrides that make the project's real configs train in seconds on tiny data.
TINY_TEACHER_OVERRIDES = ["--components.transformer.model.get_spans.window", "32",
                          "--components.transformer.model.get_spans.stride", "24"]


def built_once(tmp_path_factory, name: str, build) -> Path:
    """The folder `name` that `build(folder)` fills, built once per test session: the
    first worker to ask builds it, and a second one waits for it instead of building it
    again. pytest-xdist's workers share the parent of their own temporary folders."""
    from filelock import FileLock

    worker_root = tmp_path_factory.getbasetemp()
    root = worker_root.parent if os.environ.get("PYTEST_XDIST_WORKER") else worker_root
    folder, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a failed build left behind
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory):
    """One path for every worker, since the finished project's lockfile names it."""
    from fixtures import build_tiny_backbone

    return built_once(tmp_path_factory, "tiny_backbone", build_tiny_backbone)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """train/dev/test DocBins made by the project's own corpus script from fixture reviews."""
    from fixtures import write_reviews_jsonl

    def build(folder):
        reviews = write_reviews_jsonl(folder / "reviews.jsonl", 60)
        result = run_script("make_corpus.py", reviews, folder, "--lang", "nl",
                            "--n-train", 40, "--n-dev", 20, "--n-test", 20)
        assert result.returncode == 0, result.stderr

    return built_once(tmp_path_factory, "tiny_corpus", build)


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory, tiny_backbone, tiny_corpus):
    """The tiny backbone fine-tuned for a few steps through the real configs/teacher.cfg."""
    def build(output):
        result = run_script("train.py", ROOT / "configs/teacher.cfg", output, "--code", TEACHER_CODE, "--evals", 2,
                            "--paths.train", tiny_corpus / "train.spacy", "--paths.dev", tiny_corpus / "dev.spacy",
                            "--components.transformer.model.name", tiny_backbone, *TINY_TEACHER_OVERRIDES)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    return built_once(tmp_path_factory, "tiny_teacher", build) / "model-last"


@pytest.fixture(scope="module")
def project_run(tmp_path_factory, tiny_backbone):
    """A copy of `spacy project run all` finished on a tiny project (workflow_support.py).
    The run is made once per test session; each test file gets its own copy to run more
    steps in, so the files that need it can run in two workers side by side."""
    from workflow_support import copy_project, make_project, run_all

    def build(project):
        make_project(project)
        first = run_all(project, tiny_backbone)
        assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]

    finished = built_once(tmp_path_factory, "finished_project", build)
    project = tmp_path_factory.mktemp("project")
    return project, copy_project(finished, project)


@pytest.fixture(scope="session")
def tiny_hf_classifier(tmp_path_factory):
    """A fine-tuned Hugging Face sequence classifier (labels negative/positive), as a user brings one."""
    from fixtures import build_tiny_hf_classifier

    return built_once(tmp_path_factory, "tiny_hf_classifier", lambda folder: build_tiny_hf_classifier(folder / "model")) \
        / "model"


@pytest.fixture(scope="session")
def tiny_spacy_teacher(tmp_path_factory):
    """A spaCy pipeline with a trained bag-of-words textcat and no transformer."""
    from fixtures import build_tiny_spacy_teacher

    return built_once(tmp_path_factory, "tiny_spacy_teacher", lambda folder: build_tiny_spacy_teacher(folder / "nlp")) \
        / "nlp"
