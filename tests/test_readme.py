"""The README's two commands are the ones CI runs, so a new user's path is the tested path."""
import re

from conftest import ROOT

SETUP = "pip install -r requirements.txt"
TESTS = "python -m pytest tests"


def test_readme_opens_with_setup_run_and_test_commands_in_order():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == [SETUP, "spacy project run all", TESTS]


def test_ci_runs_exactly_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert SETUP in ci and TESTS in ci


def test_requirements_pin_the_cpu_torch_and_compatible_transformers():
    reqs = (ROOT / "requirements.txt").read_text()
    assert "torch==2.13.0" in reqs
    assert "spacy-transformers==1.4.0" in reqs and "<4.53.3" in reqs
