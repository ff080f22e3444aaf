"""Synthetic sets for the ablation: a run's training reviews augmented anew with one
method switched off or to another size, and labelled by the run's teacher; or a random
subset of an existing set. Each is reused only while what made it is unchanged."""
import json
import random
import subprocess
import time
from pathlib import Path
from typing import Dict, List

import spacy
from spacy.tokens import DocBin
from wasabi import msg

from scripts.shared.cli_support import InputError, script_command
from scripts.shared.fingerprint import fingerprint


def run_step(cmd: List[str], what: str) -> float:
    start = time.time()
    if subprocess.run(cmd).returncode != 0:
        raise InputError(f"{what} failed; see the output above, then rerun (finished work is kept)")
    return time.time() - start


def make_synthetic(project: Path, run: str, variant: str, recipe: Dict, folder: Path, changes: Dict,
                   target_size: int) -> float:
    """Augment the run's training reviews with the recipe's settings but `changes` (a method
    off), `target_size` examples, and have the teacher label them in the run's runtime."""
    corpus, training = project / "corpus" / run, project / "training" / run
    lang = json.loads((corpus / "stats.json").read_text())["lang"]
    args = {**{k: recipe[k] for k in ("p_mask", "p_pos", "p_ng", "ngram_max", "p_sentence", "lexicon_words", "p_lexicon", "seed")},
            **changes}
    augmented, synthetic = folder / "augmented.spacy", folder / "synthetic.spacy"
    # A variant's set is reused only while what made it is unchanged: the recipe, the code,
    # the teacher, its runtime and temperature, the tagger and the training reviews.
    signature = fingerprint({"augment": args, "target_size": target_size,
                             "label": {k: recipe[k] for k in ("label_batch_size", "teacher_temperature")}},
                            [corpus / "train.spacy", corpus / "unlabelled.spacy", training / "teacher" / "model-last",
                             training / "teacher_runtime.json",
                             training / "teacher_temperature.json",
                             project / "training" / "taggers" / lang / "model-best"])
    inputs_path = folder / "inputs.json"
    if inputs_path.exists() and json.loads(inputs_path.read_text()).get("signature") != signature:
        msg.warn(f"{folder}: made under other conditions (recipe, code, teacher or data changed); making it anew")
        for path in (augmented, synthetic, folder / "wall_seconds.json"):  # only what this step wrote
            if path.exists():
                path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    inputs_path.write_text(json.dumps({"signature": signature}))
    # The time each step took is kept beside its output, so a resumed ablation still reports it.
    record_path = folder / "wall_seconds.json"
    seconds = json.loads(record_path.read_text()) if record_path.exists() else {}

    def record(step: str, took: float) -> None:
        seconds[step] = round(took, 1)
        folder.mkdir(parents=True, exist_ok=True)
        record_path.write_text(json.dumps(seconds))

    if not augmented.exists():
        unlabelled = corpus / "unlabelled.spacy"
        record("augment", run_step([*script_command("scripts.transfer.augment"), str(corpus / "train.spacy"),
                             str(project / "training" / "taggers" / lang / "model-best"),
                             str(training / "teacher" / "model-last"), str(augmented),
                             *[f"--{k.replace('_', '-')}={v}" for k, v in args.items()],
                             f"--target-size={target_size}",
                             *([f"--unlabelled={unlabelled}"] if unlabelled.exists() else [])],
                            f"augmenting {run} {variant}"))
    if not synthetic.exists():
        record("label", run_step([*script_command("scripts.transfer.label_with_teacher"),
                             str(training / "teacher" / "model-last"), str(augmented), str(synthetic),
                             f"--batch-size={recipe['label_batch_size']}", f"--gpu-id={recipe['gpu_id']}",
                             f"--runtime-file={training / 'teacher_runtime.json'}",
                             f"--temperature={recipe['teacher_temperature']}",
                             f"--temperature-file={training / 'teacher_temperature.json'}"], f"labelling {run} {variant}"))
    return sum(seconds.values())


def subsample(source: Path, target: Path, k: int, seed: int) -> None:
    """k docs of `source`; reused only while it was drawn from this very source."""
    signature = fingerprint({"k": k, "seed": seed}, [source])
    record = target.with_name("inputs.json")
    if target.exists() and record.exists() and json.loads(record.read_text()).get("signature") == signature:
        return
    db = DocBin(store_user_data=True).from_disk(source)
    docs = list(db.get_docs(spacy.blank("xx").vocab))
    if k >= len(docs):
        k = len(docs)  # a larger set came out smaller after deduplication: all of it
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    out = DocBin(store_user_data=True, docs=[docs[i] for i in sorted(order[:k])])
    target.parent.mkdir(parents=True, exist_ok=True)
    out.to_disk(target)
    record.write_text(json.dumps({"signature": signature}))
