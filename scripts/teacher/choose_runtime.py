"""Choose the runtime the teacher labels with, behind a quality gate measured on this run.

bf16 (see teacher_runtime.py) labels a sample of the synthetic docs and the dev set side
by side with fp32. It passes when its labels agree with fp32's on at least
`min_agreement` of the docs in each set and it loses at most `max_dev_drop` of dev
accuracy. `auto` takes it only where it passes and is faster than fp32 on this machine:
it labels the synthetic sample first, which gives its speed, and goes on to dev only if
it beats fp32 there. Named by hand, bf16 is measured on both sets and used whenever it
passes, however fast it is (a timing never changes the labels); it falls back to fp32 when
it fails, and says why. The choice and its figures go to a JSON file that the
label, calibrate and evaluate steps read; the chosen runtime's dev probabilities go
beside it, so calibration does not run the teacher over dev again.
"""
import json
import random
from pathlib import Path
from typing import Dict, List

import numpy
import typer
from spacy.tokens import DocBin
from wasabi import msg

from scripts.shared.cli_support import InputError, require, run_cli
from scripts.shared.fingerprint import contents_fingerprint
from scripts.teacher.teacher_runtime import (AUTO_CANDIDATES, RUNTIMES, agreement_figures, dev_probs_path,
                                             load_teacher, save_dev_probs, teacher_reason, timed_probs,
                                             unsupported_reason)


def candidates_for(requested: str) -> List[str]:
    if requested == "auto":
        return list(AUTO_CANDIDATES)
    if requested not in RUNTIMES:
        raise InputError(f"teacher runtime '{requested}': choose one of {', '.join(RUNTIMES)} or auto; "
                         "fix runtime in label.cfg of the settings folder (var settings)")
    return [] if requested == "fp32" else [requested]


def gold_indices(docs, source: Path) -> numpy.ndarray:
    if any(not d.cats for d in docs):
        raise InputError(f"{source}: {sum(not d.cats for d in docs)} docs have no gold cats; the runtime gate "
                         "needs the labelled dev set (corpus/RUN/dev.spacy)")
    return numpy.array([max(d.cats, key=d.cats.get) for d in docs])


def gate(figures: Dict, min_agreement: float, max_dev_drop: float) -> List[str]:
    """Why a runtime fails the gate on the sets it was measured on (empty: it passes)."""
    why = []
    for key in ("synthetic", "dev"):
        if key in figures and figures[key]["agreement"] < min_agreement:
            why.append(f"{100 * figures[key]['agreement']:.2f}% agreement with fp32 on {key} "
                       f"(< {100 * min_agreement:.1f}%)")
    if figures.get("dev_accuracy_drop", 0.0) > max_dev_drop:
        why.append(f"{100 * figures['dev_accuracy_drop']:.2f} points of dev accuracy lost "
                   f"(> {100 * max_dev_drop:.1f})")
    return why


def main(
    teacher_path: Path = typer.Argument(..., help="The fine-tuned teacher pipeline"),
    dev_path: Path = typer.Argument(..., help="Gold dev docs (.spacy)"),
    synthetic_path: Path = typer.Argument(..., help="Synthetic docs to be labelled (.spacy); a sample is used"),
    output_path: Path = typer.Argument(..., help="Writes the chosen runtime and the gate's figures here"),
    runtime: str = typer.Option("auto", help="fp32, bf16, or auto: bf16 where it passes the gate and is faster"),
    sample_docs: int = typer.Option(500, help="Synthetic docs sampled for the gate and the speed figures"),
    batch_size: int = typer.Option(64),
    min_agreement: float = typer.Option(0.995, help="Least share of docs whose label matches fp32's"),
    max_dev_drop: float = typer.Option(0.003, help="Most dev accuracy a runtime may lose against fp32"),
    seed: int = typer.Option(0),
):
    import spacy

    candidates = candidates_for(runtime)
    require(teacher_path, "the trained teacher", "teacher")
    require(dev_path, "the dev docs", "corpus")
    require(synthetic_path, "the synthetic docs", "augment")
    if sample_docs < 1 or batch_size < 1:
        raise InputError(f"sample-docs and batch-size must be at least 1, got {sample_docs} and {batch_size}")
    vocab = spacy.blank("xx").vocab
    dev_docs = list(DocBin().from_disk(dev_path).get_docs(vocab))
    gold = gold_indices(dev_docs, dev_path)
    synthetic = [d.text for d in DocBin().from_disk(synthetic_path).get_docs(vocab)]
    sample = random.Random(seed).sample(synthetic, min(sample_docs, len(synthetic)))
    dev_texts = [d.text for d in dev_docs]
    result = {"requested": runtime, "min_agreement": min_agreement, "max_dev_drop": max_dev_drop,
              "sample_docs": len(sample), "dev_docs": len(dev_texts), "batch_size": batch_size, "runtimes": {}}

    def on_sample(name: str) -> Dict:
        teacher = load_teacher(teacher_path, name)
        labels, sample_probs, docs_per_sec = timed_probs(teacher, sample, batch_size)
        return {"teacher": teacher, "labels": labels, "docs_per_sec": docs_per_sec, "_sample": sample_probs}

    def on_dev(figures: Dict) -> None:
        _, figures["_dev"], _ = timed_probs(figures["teacher"], dev_texts, batch_size)
        figures["dev_accuracy"] = float((numpy.array(figures["labels"])[figures["_dev"].argmax(1)] == gold).mean()) \
            if len(gold) else 0.0

    skipped = {}
    for name in candidates:
        reason = unsupported_reason(name) or teacher_reason(name, teacher_path)
        if reason:
            msg.warn(f"Runtime {name} not tried: {reason}")
            skipped[name] = reason
    tried = [name for name in candidates if name not in skipped]
    passed = ["fp32"]
    dev_probs = {}
    dev_probs_path(output_path).unlink(missing_ok=True)  # never left over from an earlier choice
    if not tried:  # nothing to compare: fp32 as trained, no gate to run
        result["runtimes"]["fp32"] = {"passed": True}
    else:
        msg.info(f"Runtime gate: fp32 on {len(sample)} synthetic and {len(dev_texts)} dev docs")
        reference = on_sample("fp32")
        on_dev(reference)
        result["runtimes"]["fp32"] = {"docs_per_sec": reference["docs_per_sec"],
                                      "dev_accuracy": reference["dev_accuracy"], "passed": True}
        dev_probs["fp32"] = reference

    def gate_on_dev(name: str, figures: Dict) -> Dict:
        on_dev(figures)
        entry = {"docs_per_sec": figures["docs_per_sec"], "dev_accuracy": figures["dev_accuracy"],
                 "dev_accuracy_drop": reference["dev_accuracy"] - figures["dev_accuracy"],
                 "synthetic": agreement_figures(reference["_sample"], figures["_sample"]),
                 "dev": agreement_figures(reference["_dev"], figures["_dev"])}
        entry["why"] = gate(entry, min_agreement, max_dev_drop)
        entry["passed"] = not entry["why"]
        entry["speedup_vs_fp32"] = entry["docs_per_sec"] / reference["docs_per_sec"]
        if not entry["passed"]:
            msg.warn(f"Runtime {name} fails the quality gate: {'; '.join(entry['why'])}")
        return entry

    for name in tried:
        msg.info(f"Runtime gate: {name} on the synthetic sample")
        figures = on_sample(name)
        entry = {"docs_per_sec": figures["docs_per_sec"],
                 "synthetic": agreement_figures(reference["_sample"], figures["_sample"]),
                 "speedup_vs_fp32": figures["docs_per_sec"] / reference["docs_per_sec"]}
        if runtime == "auto" and figures["docs_per_sec"] <= reference["docs_per_sec"]:
            entry["why"] = [f"not gated on dev: no faster than fp32 on the synthetic sample "
                            f"({figures['docs_per_sec']:.1f} against {reference['docs_per_sec']:.1f} docs/s)"]
        elif runtime == "auto" and entry["synthetic"]["agreement"] < min_agreement:
            entry["why"] = gate(entry, min_agreement, max_dev_drop) + ["not gated on dev"]
            msg.warn(f"Runtime {name} fails the quality gate: {'; '.join(entry['why'])}")
        else:
            msg.info(f"Runtime gate: {name} on dev")
            entry = gate_on_dev(name, figures)
            dev_probs[name] = figures
            if entry["passed"]:
                passed.append(name)
        entry.setdefault("passed", False)
        result["runtimes"][name] = entry
    for name, reason in skipped.items():
        result["runtimes"][name] = {"passed": False, "why": [reason]}
    if runtime == "auto":
        chosen = max(passed, key=lambda r: result["runtimes"][r].get("docs_per_sec", 0.0))
    else:  # named by hand: used whenever it passes, so the labels never hang on a timing
        chosen = runtime if runtime in passed else "fp32"
    result["chosen"] = chosen
    if chosen != runtime and runtime != "auto":
        msg.warn(f"Runtime {runtime} requested; falling back to {chosen}")
    rows = []
    for name, entry in result["runtimes"].items():
        rows.append((name, f"{entry['docs_per_sec']:.1f}" if "docs_per_sec" in entry else "-",
                     f"{100 * entry['synthetic']['agreement']:.2f}" if "synthetic" in entry else "-",
                     f"{100 * entry['dev']['agreement']:.2f}" if "dev" in entry else "-",
                     f"{entry['synthetic']['mean_abs_dp']:.4f}" if "synthetic" in entry else "-",
                     f"{100 * entry['dev_accuracy']:.1f}" if "dev_accuracy" in entry else "-",
                     "yes" if entry["passed"] else "no"))
    msg.table(rows, header=("runtime", "docs/s", "agree syn %", "agree dev %", "mean |dP|", "dev acc %", "pass"),
              divider=True)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(json.dumps(result, indent=2))
    if chosen in dev_probs:  # calibration reads these instead of running the teacher over dev again
        save_dev_probs(dev_probs_path(output_path), dev_probs[chosen]["_dev"], dev_probs[chosen]["labels"],
                       chosen, contents_fingerprint(teacher_path, dev_path))
    speed = result["runtimes"][chosen].get("docs_per_sec")
    msg.good(f"Teacher runtime: {chosen}" + (f" ({speed:.1f} docs/s on synthetic docs)" if speed else "")
             + f"; wrote {output_path}")


if __name__ == "__main__":
    run_cli(main, settings=("label",))
