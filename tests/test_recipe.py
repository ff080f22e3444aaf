"""Each setting stated once: at most 20 vars in project.yml, every other setting of a step
in its own file under configs/settings/, the study's in configs/study.cfg; what the
drivers hand their runs."""
import inspect
import re

import pytest
import srsly
from thinc.api import Config

from conftest import ROOT

# The vars a driver sets per run itself, and the main run's own (never handed on).
PER_RUN = {"run", "lang", "package_name", "package_version"}
DRIVERS = {"learning-curve", "train-languages", "augmentation-ablation"}


def step_vars(workflow: str = "point") -> set:
    """Every var that a step of `workflow` (`point`: one run of the pipeline) reads."""
    project = srsly.read_yaml(ROOT / "project.yml")
    commands = {c["name"]: c for c in project["commands"]}
    used = set()
    for name in project["workflows"][workflow]:
        command = commands[name]
        for line in command["script"] + command.get("deps", []) + command.get("outputs", []):
            used |= set(re.findall(r"\$\{vars\.(\w+)\}", line))
    return used


def test_project_yml_has_at_most_20_vars_and_none_restates_another():
    variables = srsly.read_yaml(ROOT / "project.yml")["vars"]
    assert len(variables) <= 20 and "recipe" not in variables
    for name, value in variables.items():  # a default may build on one other var (run, reviews), no more
        assert len(re.findall(r"\$\{vars\.", str(value))) <= 1, name


def test_each_driver_hands_its_runs_every_var_a_run_reads():
    from scripts.experiments.points import parse_vars

    project = srsly.read_yaml(ROOT / "project.yml")
    drivers = {c["name"]: " ".join(c["script"]) for c in project["commands"] if "--vars '" in " ".join(c["script"])}
    assert set(drivers) == DRIVERS
    needed = step_vars() - PER_RUN - {"train", "dev", "test", "teacher"}  # the study runs the project's reviews
    for name, script in drivers.items():
        handed = set(parse_vars(re.search(r"--vars '([^']*)'", script).group(1), ROOT)) - PER_RUN
        passed = set(re.findall(r"(\w+)=\$\{vars\.\1\}", script))
        assert needed <= passed, f"{name} does not hand on {sorted(needed - passed)}"
        assert needed <= handed


def test_a_driver_sees_project_yml_s_vars_with_what_its_command_passes_over_them():
    from scripts.shared.cli_support import InputError
    from scripts.experiments.points import parse_vars

    defaults = parse_vars("", ROOT)
    assert defaults["synthetic_size"] == "20000" and "run" not in defaults
    changed = parse_vars("synthetic_size=999 unlabelled=", ROOT)
    assert changed["synthetic_size"] == "999" and changed["unlabelled"] == ""
    assert {k: v for k, v in changed.items() if k not in ("synthetic_size", "unlabelled")} == \
        {k: v for k, v in defaults.items() if k not in ("synthetic_size", "unlabelled")}
    with pytest.raises(InputError, match="expected key=value"):
        parse_vars("synthetic_size", ROOT)


def settings_readers() -> dict:
    """{script module: the settings sections and study sections its run_cli reads}."""
    readers = {}
    for path in sorted((ROOT / "scripts").rglob("*.py")):
        line = next((x for x in path.read_text().splitlines() if x.strip().startswith("run_cli(main")), "")
        call = re.search(r"settings=\(([^)]*)\)", line)
        study = re.search(r"study=\(([^)]*)\)", line)
        if call or study:
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            sections = lambda m: re.findall(r'"(\w+)"', m.group(1)) if m else []  # noqa: E731
            readers[module] = (sections(call), sections(study))
    return readers


def test_every_setting_reaches_an_option_of_a_script_that_reads_it():
    """A key no script takes would be a setting that changes nothing."""
    import importlib

    taken = {}
    for module, (sections, study) in settings_readers().items():
        options = set(inspect.signature(importlib.import_module(module).main).parameters)
        for section in [*sections, *(f"study.{s}" for s in study)]:
            taken.setdefault(section, set()).update(options)
    for path in sorted((ROOT / "configs" / "settings").glob("*.cfg")):
        config = Config().from_disk(path)
        assert list(config) == [path.stem], f"{path}: one section, named as the file"
        unused = set(config[path.stem]) - taken.get(path.stem, set())
        assert not unused, f"{path}: {sorted(unused)} reach no script"
    study = Config().from_disk(ROOT / "configs" / "study.cfg")
    for section, values in study.items():
        unused = set(values) - taken.get(f"study.{section}", set())
        assert not unused, f"configs/study.cfg [{section}]: {sorted(unused)} reach no script"


def test_each_step_depends_on_the_settings_files_it_reads():
    """weasel reruns a step when a dep changes: a step lists exactly the settings files it
    passes, so an edit to the augmentation reruns augment and what follows, not the teacher."""
    project = srsly.read_yaml(ROOT / "project.yml")
    for command in project["commands"]:
        script = " ".join(command["script"])
        passed = set(re.findall(r"--settings (\$\{vars\.settings\}/\w+\.cfg)", script))
        listed = {d for d in command.get("deps", []) if d.startswith("${vars.settings}/")}
        assert passed == listed, command["name"]
        if "--study configs/study.cfg" in script:
            assert "configs/study.cfg" in command["deps"], command["name"]
    steps = {c["name"]: c for c in project["commands"]}
    assert "${vars.settings}/augment.cfg" not in steps["teacher"]["deps"]
    assert "${vars.settings}/evaluate.cfg" not in steps["label"]["deps"]


def test_a_settings_file_fills_the_options_the_command_line_leaves_out(tmp_path):
    from scripts.shared.cli_support import InputError, settings_args

    def main(p_mask: float = 0.0, ngram_max: int = 1, seed: int = 0):
        pass

    (tmp_path / "augment.cfg").write_text("[augment]\np_mask = 0.3\nngram_max = 4\np_lexicon = 0.5\n")
    args = settings_args(["in.spacy", "--settings", str(tmp_path / "augment.cfg"), "--ngram-max", "2"], main,
                         ("augment",))
    # the file's p_mask; the command line's ngram_max wins; p_lexicon is no option of main
    assert args == ["in.spacy", "--ngram-max", "2", "--p-mask", "0.3"]
    with pytest.raises(InputError, match="no \\[train\\] section"):
        settings_args(["--settings", str(tmp_path / "augment.cfg")], main, ("train",))
    with pytest.raises(InputError, match="does not exist"):
        settings_args(["--settings", str(tmp_path / "nope.cfg")], main, ("augment",))


def project_imports(module: str) -> set:
    """`module` and every project module it imports, directly or through others."""
    import ast

    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        path = ROOT / (name.replace(".", "/") + ".py")
        if name in seen or not path.exists():
            continue
        seen.add(name)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scripts."):
                todo += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                todo += [a.name for a in node.names if a.name.startswith("scripts.")]
    return seen


def test_every_step_depends_on_the_code_it_runs_and_the_drivers_always_run():
    """weasel reruns a step only when a dep changed, so a step must list every script it
    runs or imports (an edited loss in distillation.py retrains). The drivers launch whole
    pipelines, whose code no deps list can name; they always run (no_skip) and their own
    fingerprint decides what is stale."""
    project = srsly.read_yaml(ROOT / "project.yml")
    for command in project["commands"]:
        modules = set()
        for line in command["script"]:
            for module in re.findall(r"-m (scripts\.[\w.]+)", line):
                modules |= project_imports(module)
            for code in re.findall(r"--code (\S+)", line):  # files train.py or spacy package import by path
                modules |= {m for c in code.split(",") for m in project_imports(c[:-len(".py")].replace("/", "."))}
        if not modules or not command.get("deps"):
            continue  # spaCy's own commands; fetch steps, which check each file's sha256 themselves
        if any(m.startswith("scripts.experiments.") for m in modules):
            assert command.get("no_skip"), f"{command['name']}: a driver should always run (no_skip: true)"
            continue
        files = {m.replace(".", "/") + ".py" for m in modules}
        missing = sorted(files - set(command["deps"]))
        assert not missing, f"{command['name']}: runs or imports {missing}, not in its deps"


def test_an_edit_to_the_students_code_never_retrains_or_reruns_the_teacher():
    """The teacher's steps import nothing of the student's (its config uses spaCy's own
    scorer), so a new loss in distillation.py reruns the student's steps only: not the
    teacher's training nor the labelling of the transfer set, each many minutes."""
    project = srsly.read_yaml(ROOT / "project.yml")
    steps = {c["name"]: c for c in project["commands"]}
    for name in ("teacher", "vectors", "augment", "teacher-runtime", "calibrate-teacher", "label"):
        assert "scripts/student/distillation.py" not in steps[name]["deps"], name
    for name in ("train-student", "train-baseline", "evaluate", "package"):
        assert "scripts/student/distillation.py" in steps[name]["deps"], name
    from scripts.teacher.make_teacher import TEACHER_CODE

    assert TEACHER_CODE == "scripts/teacher/teacher_callbacks.py" and TEACHER_CODE in steps["teacher"]["deps"]
