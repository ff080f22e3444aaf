"""The languages workflow on a finished tiny `all` run (see workflow_support.py): one
teacher per language, then one pooled teacher."""
import json

import pytest

from workflow_support import run_languages


@pytest.fixture(scope="module")
def languages_run(project_run, tiny_backbone):
    """The languages workflow with one teacher per language, after `all` (the project's own
    language, nl, runs in the project itself and reuses what `all` finished; de runs beside
    it in a copy, as languages_jobs 2 has it)."""
    project, _ = project_run
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
    assert languages["run"]["order"] == ["nl", "de"]  # the project's own language starts first
    de_log = project / "training/languages/de/training/de/languages.log"  # side by side: steps log to a file
    assert "teacher" in de_log.read_text() and "train-seeds" in de_log.read_text()
    # Seed 0 of student and baseline repeats the pass's training: copied from it, not retrained.
    de_said, de_run = " ".join(de_log.read_text().split()), project / "training/languages/de/training/de"
    for model in ("student", "baseline"):
        assert f"{model}, seed 0: trained from the same inputs in training/de/{model}: copied" in de_said
        assert (de_run / f"seeds/0/{model}/model-last/textcat/model").read_bytes() == \
            (de_run / f"{model}/model-last/textcat/model").read_bytes()
    assert "student, seed 1: trained from the same inputs" not in de_said
    assert rows[1]["reused"] == [] and {"point", "seeds"} <= set(rows[1]["wall_seconds"])
    assert (project / "training/languages/de/training/de/teacher/model-last").exists()
    assert rows[0]["n_train"] == 40 and rows[0]["n_test"] == 20
    assert rows[0]["reused"] == ["point"] and set(rows[0]["wall_seconds"]) == {"seeds"}
    assert rows[0]["wall_seconds"]["seeds"] > 0
    seeds = json.loads((project / "training/nl/seeds.json").read_text())  # in the project itself
    # routes: student and baseline also trained with the teacher's vectors switched the other way
    assert set(seeds["models"]) == {"baseline", "teacher", "student", "student_no_vectors", "baseline_vectors"}
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
