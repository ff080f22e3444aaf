"""Fit a temperature that makes the teacher's probabilities mean what they say.

A fine-tuned transformer is often over-confident: its P(POS) sits at 0 or 1 even where
it is wrong, and such targets tell the student little. Temperature scaling (Guo et al.
2017) divides the teacher's log-odds by one number T, fitted on the dev set by
log-loss; T does not change which label wins, only how sure the teacher says it is.
The labeller applies it. Writes {"temperature": T, ...} with the dev log-loss and ECE
before and after.
"""
import json
from pathlib import Path

import numpy
import typer
from spacy.tokens import DocBin
from wasabi import msg

from choose_runtime import read_chosen_runtime
from cli_support import InputError, require, run_cli
from evaluate import calibration, score_docs
from teacher_runtime import load_teacher

LOG_ODDS_LIMIT = 30.0


def log_odds(p_pos: numpy.ndarray) -> numpy.ndarray:
    p = numpy.clip(p_pos, 1e-13, 1 - 1e-13)
    return numpy.clip(numpy.log(p) - numpy.log1p(-p), -LOG_ODDS_LIMIT, LOG_ODDS_LIMIT)


def apply_temperature(p_pos: numpy.ndarray, temperature: float) -> numpy.ndarray:
    return 1.0 / (1.0 + numpy.exp(-log_odds(p_pos) / temperature))


def fit_temperature(p_pos: numpy.ndarray, gold_pos: numpy.ndarray) -> float:
    """The T in [0.05, 100] with the lowest log-loss. The log-loss is convex in 1/T, so a
    bounded scalar search (over log T, scipy's Brent) finds the one minimum."""
    from scipy.optimize import minimize_scalar

    z, y = log_odds(p_pos), gold_pos.astype(float)

    def nll(log_t: float) -> float:
        s = z / numpy.exp(log_t)
        return float(numpy.mean(numpy.logaddexp(0.0, s) - y * s))

    found = minimize_scalar(nll, bounds=(numpy.log(0.05), numpy.log(100.0)), method="bounded",
                            options={"xatol": 1e-6})
    return float(numpy.exp(found.x))


def main(
    teacher_path: Path = typer.Argument(..., help="The fine-tuned teacher pipeline"),
    dev_path: Path = typer.Argument(..., help="Gold dev docs (.spacy); never the test set"),
    output_path: Path = typer.Argument(..., help="Writes the temperature as JSON here"),
    runtime_file: Path = typer.Option(None, help="Run the teacher in the runtime choose_runtime.py chose "
                                      "(default fp32), as labelling will"),
):
    require(teacher_path, "the trained teacher", "train-teacher")
    require(dev_path, "the dev docs", "corpus")
    runtime, int8_scales = read_chosen_runtime(runtime_file) if runtime_file else ("fp32", None)
    teacher = load_teacher(teacher_path, runtime, int8_scales)
    docs = list(DocBin().from_disk(dev_path).get_docs(teacher.vocab))
    if not docs or any(not d.cats for d in docs):
        raise InputError(f"{dev_path}: {sum(not d.cats for d in docs)} of {len(docs)} docs have no gold cats; "
                         "calibration needs the labelled dev set (corpus/RUN/dev.spacy)")
    if len(docs) < 10:
        raise InputError(f"{dev_path}: {len(docs)} dev docs are too few to fit a temperature; use 10 or more")
    _, p_pos, _ = score_docs(teacher, docs, progress="calibrate")
    gold = numpy.array([d.cats.get("POS", 0.0) > 0.5 for d in docs], dtype=int)
    temperature = fit_temperature(p_pos, gold)
    result = {"temperature": temperature, "dev_docs": len(docs), "runtime": runtime,
              "dev_before": calibration(p_pos, gold), "dev_after": calibration(apply_temperature(p_pos, temperature), gold)}
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(json.dumps(result, indent=2))
    msg.good(f"Teacher temperature {temperature:.2f}: dev log-loss {result['dev_before']['log_loss']:.3f} -> "
             f"{result['dev_after']['log_loss']:.3f}, ECE {result['dev_before']['ece']:.3f} -> "
             f"{result['dev_after']['ece']:.3f}; wrote {output_path}")


if __name__ == "__main__":
    run_cli(main)
