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
    from subproject import parse_recipe

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
    from learning_curve import point_vars
    from subproject import parse_recipe

    recipe = load_project_config(ROOT, overrides={"vars.p_pos": 0.3, "vars.synthetic_size": 999})["vars"]["recipe"]
    view = point_vars("nl", 200, 1000, 500, 0, parse_recipe(recipe, ROOT))
    assert point_step_vars() <= set(view)
    assert view["p_pos"] == "0.3" and view["synthetic_size"] == "999"  # --vars overrides reach the runs
    assert view["n_train"] == 200 and view["run"] == "n200"  # what the driver sets per size wins


def test_a_recipe_given_by_hand_changes_only_what_it_names():
    from cli_support import InputError
    from subproject import parse_recipe

    defaults = parse_recipe("", ROOT)
    changed = parse_recipe("p_mask=0.3 unlabelled=", ROOT)
    assert changed["p_mask"] == "0.3" and changed["unlabelled"] == ""
    assert {k: v for k, v in changed.items() if k not in ("p_mask", "unlabelled")} == \
        {k: v for k, v in defaults.items() if k not in ("p_mask", "unlabelled")}
    with pytest.raises(InputError, match="key=value"):
        parse_recipe("p_mask", ROOT)
