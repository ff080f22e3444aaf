"""Fit a temperature that makes the teacher's probabilities mean what they say.

A fine-tuned transformer is often over-confident: its probabilities sit at 0 or 1 even
where it is wrong, and such targets tell the student little. Temperature scaling (Guo
et al. 2017) divides the teacher's log-probabilities by one number T and renormalises
(for two classes: the log-odds divided by T), with T fitted on the dev set by
multi-class log-loss; T does not change which label wins, only how sure the teacher is.
The labeller applies it. Writes {"temperature": T, ...} with the dev log-loss and ECE
before and after.
"""
import json
from pathlib import Path

import typer
from spacy.tokens import DocBin
from wasabi import msg

from scripts.shared.cli_support import InputError, require, run_cli
from scripts.shared.fingerprint import contents_fingerprint
from scripts.evaluation.scoring import calibration, gold_classes, score_docs
from scripts.teacher.teacher_runtime import gated_dev_probs, load_teacher, read_chosen_runtime
from scripts.teacher.temperature import apply_temperature, fit_temperature

def main(
    teacher_path: Path = typer.Argument(..., help="The fine-tuned teacher pipeline"),
    dev_path: Path = typer.Argument(..., help="Gold dev docs (.spacy); never the test set"),
    output_path: Path = typer.Argument(..., help="Writes the temperature as JSON here"),
    runtime_file: Path = typer.Option(None, help="Run the teacher in the runtime choose_runtime.py chose "
                                      "(default fp32), as labelling will"),
):
    require(teacher_path, "the trained teacher", "teacher")
    require(dev_path, "the dev docs", "corpus")
    import spacy

    runtime = read_chosen_runtime(runtime_file) if runtime_file else "fp32"
    docs = list(DocBin().from_disk(dev_path).get_docs(spacy.blank("xx").vocab))
    if docs and all(d.user_data.get("label_source") == "teacher" for d in docs):
        # no gold labels (the `unlabelled` workflow): the teacher's own labels cannot calibrate it
        result = {"temperature": 1.0, "fitted": False, "dev_docs": len(docs), "runtime": runtime,
                  "why": "no gold dev labels: the dev set was labelled by the teacher itself"}
        output_path.parent.mkdir(parents=True, exist_ok=True)
        output_path.write_text(json.dumps(result, indent=2))
        msg.info(f"No gold dev labels: no temperature fitted (1.0); wrote {output_path}")
        return
    if not docs or any(not d.cats for d in docs):
        raise InputError(f"{dev_path}: {sum(not d.cats for d in docs)} of {len(docs)} docs have no gold cats; "
                         "calibration needs the labelled dev set (corpus/RUN/dev.spacy)")
    if len(docs) < 10:
        raise InputError(f"{dev_path}: {len(docs)} dev docs are too few to fit a temperature; use 10 or more")
    labels, gold = gold_classes(docs)
    gated = gated_dev_probs(runtime_file, runtime, contents_fingerprint(teacher_path, dev_path)) if runtime_file else None
    if gated is not None and gated[0] == labels:
        msg.info(f"The teacher's {runtime} probabilities on these {len(docs)} dev docs, from the runtime gate")
        probs = gated[1]
    else:
        _, probs, _ = score_docs(load_teacher(teacher_path, runtime), docs, progress="calibrate")
    temperature = fit_temperature(probs, gold)
    result = {"temperature": temperature, "dev_docs": len(docs), "runtime": runtime, "labels": labels,
              "dev_before": calibration(probs, gold, labels),
              "dev_after": calibration(apply_temperature(probs, temperature), gold, labels)}
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(json.dumps(result, indent=2))
    msg.good(f"Teacher temperature {temperature:.2f}: dev log-loss {result['dev_before']['log_loss']:.3f} -> "
             f"{result['dev_after']['log_loss']:.3f}, ECE {result['dev_before']['ece']:.3f} -> "
             f"{result['dev_after']['ece']:.3f}; wrote {output_path}")


if __name__ == "__main__":
    run_cli(main)
