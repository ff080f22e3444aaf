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


def test_the_readme_commands_block_is_what_spacy_project_document_prints():
    """The generated block lists every command, workflow and asset of project.yml as they are."""
    import subprocess
    import sys

    start, end = "<!-- WEASEL: AUTO-GENERATED DOCS START (do not remove) -->", \
        "<!-- WEASEL: AUTO-GENERATED DOCS END (do not remove) -->"
    generated = subprocess.run([sys.executable, "-m", "spacy", "project", "document", str(ROOT)],
                               capture_output=True, text=True, check=True).stdout
    readme = (ROOT / "README.md").read_text()
    assert start in readme and end in readme
    block = readme[readme.index(start):readme.index(end) + len(end)]
    wanted = generated[generated.index(start):generated.index(end) + len(end)]
    # weasel links an asset's file name only where the file exists locally: compare without links
    unlinked = lambda text: re.sub(r"\[(`[^`]+`)\]\([^)]*\)", r"\1", text).strip()  # noqa: E731
    assert unlinked(block) == unlinked(wanted), "regenerate it: spacy project document --output README.md"


def test_the_readme_is_short_and_opens_with_the_three_starting_points():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    first_screen = "\n".join(readme.splitlines()[:70])
    for command in ("--vars.train", "--vars.teacher", "spacy project run unlabelled"):
        assert command in first_screen, command
