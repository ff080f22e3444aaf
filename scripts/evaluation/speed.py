"""How big and how fast a model is: size on disk, parameters, and docs/s timed in
interleaved rounds (each round a new random order, so a noisy machine slows every model
alike), end to end from raw text and pre-tokenized, beside the tokenizer's own rate."""
import random
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy
from spacy.cli.benchmark_speed import annotate
from wasabi import msg


def dir_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def count_params(nlp) -> int:
    total = 0
    for _, component in nlp.pipeline:
        hf_model = getattr(component, "hf_model", None)  # a given Hugging Face classifier
        if hf_model is not None:
            total += sum(p.numel() for p in hf_model.parameters())
        model = getattr(component, "model", None)
        if model is None:
            continue
        for node in model.walk():
            total += sum(node.get_param(n).size for n in node.param_names if node.has_param(n))
            for shim in node.shims:
                torch_model = getattr(shim, "_model", None)
                if torch_model is not None and hasattr(torch_model, "parameters"):
                    total += sum(p.numel() for p in torch_model.parameters())
    return total


def repeat_for(run_once: Callable[[], None], min_seconds: float) -> Tuple[int, float]:
    """Call run_once until at least min_seconds passed: (calls, seconds)."""
    calls = 0
    start = time.perf_counter()
    while True:
        run_once()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return calls, elapsed


def batch_speed(nlp, texts: List[str], batch_size: int, min_seconds: float) -> Dict[str, float]:
    """One round: the texts annotated in batches, repeated until at least min_seconds passed."""
    docs = [nlp.make_doc(t) for t in texts]
    calls, elapsed = repeat_for(lambda: annotate(nlp, docs, batch_size), min_seconds)
    return {"docs_per_sec": calls * len(docs) / elapsed, "seconds": elapsed,
            "words_per_sec": calls * sum(len(d) for d in docs) / elapsed}


def raw_text_speed(nlp, texts: List[str], batch_size: int, min_seconds: float) -> Dict[str, float]:
    """One round end to end, as a user meets it: raw texts through nlp.pipe, tokenizer included."""
    calls, elapsed = repeat_for(lambda: list(nlp.pipe(texts, batch_size=batch_size)), min_seconds)
    return {"docs_per_sec": calls * len(texts) / elapsed, "seconds": elapsed}


def tokenizer_speed(nlp, texts: List[str], min_seconds: float) -> float:
    """Docs/s of the pipeline's tokenizer alone on raw texts: what no pipeline can beat."""
    calls, elapsed = repeat_for(lambda: list(nlp.tokenizer.pipe(texts)), min_seconds)
    return calls * len(texts) / elapsed


def speed_rounds(models: Dict, texts: List[str], rounds: int, min_seconds: float, batch_size: int,
                 rng: random.Random, tokenizer_of, rounds_of: Optional[Dict[str, int]] = None,
                 docs_of: Optional[Dict[str, int]] = None
                 ) -> Tuple[Dict[str, Dict[str, List[Dict[str, float]]]], List[float]]:
    """Every model timed on `texts` (the first `docs_of[name]` where given) in `rounds`
    rounds (`rounds_of[name]` where given), pre-tokenized
    (batch_speed) and from raw text (raw_text_speed), in a new random order each round, so
    a noisy machine slows all of them alike: ({name: {"pretokenized": [round, ...], "raw":
    [round, ...]}}, and the docs/s of `tokenizer_of`'s tokenizer alone, timed in each round
    beside them: the ceiling every pipeline pays)."""
    rounds_of = {name: (rounds_of or {}).get(name, rounds) for name in models}
    texts_of = {name: texts[:(docs_of or {}).get(name, len(texts))] for name in models}
    out = {name: {"pretokenized": [], "raw": []} for name in models}
    tokenizer = []
    order = list(models)
    for nlp in models.values():  # warm-up: first calls allocate and fill caches
        list(nlp.pipe(texts[:batch_size]))
    for r in range(max(rounds_of.values())):
        rng.shuffle(order)
        for name in (n for n in order if r < rounds_of[n]):
            out[name]["pretokenized"].append(batch_speed(models[name], texts_of[name], batch_size, min_seconds))
            out[name]["raw"].append(raw_text_speed(models[name], texts_of[name], batch_size, min_seconds))
        tokenizer.append(tokenizer_speed(tokenizer_of, texts, min_seconds))
        msg.info(f"Speed round {r + 1}/{rounds} done")
    return out, tokenizer


def median_of(rounds: List[Dict[str, float]], key: str = "docs_per_sec") -> float:
    return float(numpy.median([r[key] for r in rounds]))




def text_rounds(predictors: Dict[str, Callable[[List[str]], Any]], texts: List[str], rounds: int,
                min_seconds: float, rng: random.Random, tokenizer=None) -> Tuple[Dict[str, List[float]], List[float]]:
    """Docs/s of each predictor (raw texts in, predictions out: a spaCy pipeline, a
    scikit-learn model, fastText...) in each of `rounds` interleaved rounds, a new random
    order each round, and of `tokenizer` (a spaCy tokenizer) timed in the same rounds."""
    out = {name: [] for name in predictors}
    tokens = []
    order = list(predictors)
    for predict in predictors.values():  # warm-up: first calls allocate and fill caches
        predict(texts[:100])
    for r in range(rounds):
        rng.shuffle(order)
        for name in order:
            calls, elapsed = repeat_for(lambda: predictors[name](texts), min_seconds)
            out[name].append(calls * len(texts) / elapsed)
        if tokenizer is not None:
            calls, elapsed = repeat_for(lambda: list(tokenizer.pipe(texts)), min_seconds)
            tokens.append(calls * len(texts) / elapsed)
        msg.info(f"Speed round {r + 1}/{rounds} done")
    return out, tokens
