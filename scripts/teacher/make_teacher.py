"""The run's teacher, in OUTPUT_DIR/model-last: fine-tuned here, or the one you bring.

  teacher = train   fine-tune teacher_backbone through configs/teacher.cfg (the backbone
                    is put in assets/backbones/teacher first, unless it is already there)
  teacher = PATH    a spaCy pipeline with a textcat, or a fine-tuned Hugging Face
  or HUB NAME       sequence classifier: used as it is (nothing is trained), its classes
                    matched to the data's (var label_map renames them)

Either way the result is a spaCy pipeline with a `textcat` over the run's classes, which
every later step reads the same way.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import typer
from wasabi import msg

from scripts.data.reviews import parse_label_map
from scripts.shared.cli_support import InputError, require, run_cli, script_command
from scripts.teacher.backbones import put_backbone
from scripts.teacher.given_teacher import TRAIN, check_classes, load_given_teacher, teacher_kind

TEACHER_CODE = "scripts/teacher/teacher_callbacks.py"  # relative, as weasel runs it from the project folder
# What an earlier teacher of this step left beside model-last: stale once another teacher is there.
TRAINING_RECORDS = ("model-best", "schedule.json", "inputs.json", "given.json")


def adopt(teacher: str, output_dir: Path, stats: dict, stats_path: Path, lang: str, label_map: str) -> None:
    mapping = parse_label_map(label_map)
    nlp = load_given_teacher(teacher, lang, mapping)
    classes = list(nlp.get_pipe("textcat").labels)
    zero_label = stats.get("mode") == "unlabelled"
    check_classes(classes, stats["labels"], teacher, str(stats_path), mapping, subset=zero_label)
    kind = teacher_kind(nlp)
    nlp.meta.setdefault("distill", {})["given_teacher"] = {"teacher": teacher, "kind": kind}
    partial = output_dir / "model-last.partial"
    output_dir.mkdir(parents=True, exist_ok=True)
    if partial.exists():
        shutil.rmtree(partial)  # this step's own unfinished copy
    nlp.to_disk(partial)
    for name in ("model-last", *TRAINING_RECORDS):
        old = output_dir / name
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    partial.rename(output_dir / "model-last")
    (output_dir / "given.json").write_text(json.dumps({"teacher": teacher, "kind": kind, "classes": classes}, indent=2))
    msg.good(f"Teacher: {teacher} as it is ({kind}; classes {', '.join(classes)}), nothing trained; "
             f"wrote {output_dir}/model-last")


def main(
    teacher: str = typer.Argument(..., help="'train', or a spaCy pipeline folder, Hugging Face folder or hub name"),
    output_dir: Path = typer.Argument(..., help="Writes model-last/ here"),
    stats_path: Path = typer.Option(..., "--stats", help="The corpus step's stats.json (the data's classes)"),
    backbone: str = typer.Option("multilingual-e5-small", help="What `train` fine-tunes (var teacher_backbone)"),
    backbone_dir: Path = typer.Option(Path("assets/backbones/teacher"), help="Where the backbone is put"),
    config: Path = typer.Option(Path("configs/teacher.cfg"), help="The teacher's training config"),
    train_path: Path = typer.Option(None, "--train", help="Training docs (.spacy) for `train`"),
    dev_path: Path = typer.Option(None, "--dev", help="Dev docs (.spacy) for `train`"),
    lang: str = typer.Option("nl"),
    seed: int = typer.Option(0),
    precision: str = typer.Option("auto", help="The teacher's training precision: fp32, bf16 or auto"),
    evals: int = typer.Option(1), min_steps: int = typer.Option(150), gpu_id: int = typer.Option(-1),
    label_map: str = typer.Option("", help="RAW=CLASS pairs that rename a given teacher's classes"),
):
    stats = json.loads(require(stats_path, "the corpus statistics", "corpus").read_text())
    if teacher != TRAIN:
        adopt(teacher, output_dir, stats, stats_path, lang, label_map)
        return
    if stats.get("mode") == "unlabelled":
        raise InputError("teacher is 'train' but this run has no gold labels to fine-tune it on; set the var "
                         "teacher to your fine-tuned classifier (a spaCy pipeline or Hugging Face folder)")
    put_backbone(backbone, backbone_dir, rebuild=False)
    given = output_dir / "given.json"
    if given.exists():
        given.unlink()  # an earlier given teacher's record; this one is trained
    args = [config, output_dir, "--code", TEACHER_CODE, "--evals", evals, "--min-steps", min_steps,
            "--gpu-id", gpu_id, "--paths.train", train_path, "--paths.dev", dev_path,
            "--components.transformer.model.name", backbone_dir, "--nlp.lang", lang, "--system.seed", seed,
            "--initialize.after_init.precision", precision]
    # the project's training script, run as weasel runs it: its own output and one-line errors
    result = subprocess.run([*script_command("scripts.shared.train"), *map(str, args)])
    if result.returncode:
        sys.exit(result.returncode)


if __name__ == "__main__":
    run_cli(main, settings=("teacher",))
