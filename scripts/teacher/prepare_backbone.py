"""Put the teacher's pretrained backbone in a local Hugging Face folder (see backbones.py)."""
from pathlib import Path

import typer

from scripts.shared.cli_support import run_cli
from scripts.teacher.backbones import put_backbone


def main(
    backbone: str = typer.Argument("multilingual-e5-small"),
    output_dir: Path = typer.Argument(Path("assets/backbones/teacher")),
):
    put_backbone(backbone, output_dir)


if __name__ == "__main__":
    run_cli(main)
