"""Each setting stated once: project.yml's `recipe` var is what every driver hands its runs."""
import re

import pytest
import srsly
from weasel.util import load_project_config

from conftest import ROOT

# Set by each driver per run, not taken from the recipe.
PER_RUN = {"run"}


def point_step_vars() -> set:
    """Every var that a step of the `point` workflow (one run of the pipeline) reads."""
    project = srsly.read_yaml(ROOT / "project.yml")
    commands = {c["name"]: c for c in project["commands"]}
    used = set()
    for name in project["workflows"]["point"]:
        command = commands[name]
        for line in command["script"] + command.get("deps", []) + command.get("outputs", []):
            used |= set(re.findall(r"\$\{vars\.(\w+)\}", line))
    return used


def test_every_var_a_run_reads_is_in_the_recipe_once():
    from scripts.experiments.points import parse_recipe

    raw = srsly.read_yaml(ROOT / "project.yml")["vars"]["recipe"]
    keys = [item.split("=", 1)[0] for item in raw.split()]
    assert len(keys) == len(set(keys)), "a var is listed twice in the recipe"
    assert all(item == f"{k}=${{vars.{k}}}" for k, item in zip(keys, raw.split())), "the recipe only refers to vars"
    missing = point_step_vars() - PER_RUN - set(parse_recipe("", ROOT))
    assert not missing, f"vars a run reads but the recipe leaves out: {sorted(missing)}"


def test_the_drivers_hand_over_the_recipe_and_state_no_var_by_hand():
    project = srsly.read_yaml(ROOT / "project.yml")
    drivers = [c for c in project["commands"] if "--recipe" in " ".join(c["script"])]
    assert {c["name"] for c in drivers} == {"learning-curve", "train-languages", "augmentation-ablation"}
    for command in drivers:
        script = " ".join(command["script"])
        assert "--recipe '${vars.recipe}'" in script
        assert "--point-vars" not in script and "=${vars." not in script, command["name"]


def test_a_curve_size_sees_every_var_a_run_reads_with_the_users_overrides():
    from scripts.experiments.learning_curve import point_vars
    from scripts.experiments.points import parse_recipe

    recipe = load_project_config(ROOT, overrides={"vars.p_pos": 0.3, "vars.synthetic_size": 999})["vars"]["recipe"]
    view = point_vars("nl", 200, 1000, 500, 0, parse_recipe(recipe, ROOT))
    assert point_step_vars() <= set(view)
    assert view["p_pos"] == "0.3" and view["synthetic_size"] == "999"  # --vars overrides reach the runs
    assert view["n_train"] == 200 and view["run"] == "n200"  # what the driver sets per size wins


def test_a_recipe_given_by_hand_changes_only_what_it_names():
    from scripts.shared.cli_support import InputError
    from scripts.experiments.points import parse_recipe

    defaults = parse_recipe("", ROOT)
    changed = parse_recipe("p_mask=0.3 unlabelled=", ROOT)
    assert changed["p_mask"] == "0.3" and changed["unlabelled"] == ""
    assert {k: v for k, v in changed.items() if k not in ("p_mask", "unlabelled")} == \
        {k: v for k, v in defaults.items() if k not in ("p_mask", "unlabelled")}
    with pytest.raises(InputError, match="key=value"):
        parse_recipe("p_mask", ROOT)


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
