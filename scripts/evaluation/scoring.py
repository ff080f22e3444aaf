"""A pipeline's verdicts on labelled docs: which it gets right, its probabilities, and how
well calibrated they are. Any pipeline: it imports no model code of the project's, so
the teacher's steps that score (calibration) do not depend on the student's code."""
from typing import Dict, List, Tuple

import numpy
from spacy.tokens import Doc
from spacy.training import Example

from scripts.data.reviews import is_sentiment


def gold_classes(docs: List[Doc]) -> Tuple[List[str], numpy.ndarray]:
    """The labels (in the docs' cats order) and each doc's gold class as a column index."""
    labels = list(docs[0].cats)
    return labels, numpy.array([labels.index(max(d.cats, key=d.cats.get)) for d in docs])


def calibration(probs: numpy.ndarray, gold: numpy.ndarray, labels: List[str], n_bins: int = 10) -> Dict:
    """Multi-class log-loss, expected calibration error (equal-width bins of the top class's
    probability, from 1/k to 1) and a histogram of that confidence; for POS/NEG also of P(POS)."""
    k = probs.shape[1]
    clipped = numpy.clip(probs, 1e-7, 1 - 1e-7)  # a log-loss without infinities
    if k == 2:  # the second class as 1 - the first, clipped, as every binary figure has been computed
        clipped[:, 1] = 1 - clipped[:, 0]
    log_loss = float(-numpy.mean(numpy.log(clipped[numpy.arange(len(probs)), gold])))
    confidence = clipped.max(axis=1)
    right = probs.argmax(axis=1) == gold
    bins = numpy.minimum((confidence - 1 / k) / (1 - 1 / k) * n_bins, n_bins - 1).astype(int)
    ece = sum(abs(right[bins == b].mean() - confidence[bins == b].mean()) * (bins == b).mean()
              for b in range(n_bins) if (bins == b).any())
    out = {"log_loss": log_loss, "ece": float(ece),
           "confidence_histogram": [int(x) for x in numpy.bincount(numpy.maximum(bins, 0), minlength=n_bins)]}
    if is_sentiment(labels):
        hist, _ = numpy.histogram(probs[:, 0], bins=n_bins, range=(0.0, 1.0))
        out.update({"p_pos_range": [float(probs[:, 0].min()), float(probs[:, 0].max())],
                    "p_pos_histogram": [int(x) for x in hist]})
    return out


def score_docs(nlp, gold_docs: List[Doc], progress: str = "") -> Tuple[numpy.ndarray, numpy.ndarray, List[Example]]:
    """Per test doc: 1 if the model's top label is the gold one, and its probability of
    each label (columns in the gold cats' order). With `progress`, a progress bar of that
    name (for the teacher, which takes minutes)."""
    from tqdm import tqdm

    predicted = nlp.pipe(d.text for d in gold_docs)
    if progress:
        predicted = tqdm(predicted, total=len(gold_docs), desc=progress, unit="docs")
    examples = [Example(pred, gold) for pred, gold in zip(predicted, gold_docs)]
    correct = numpy.array([max(eg.predicted.cats, key=eg.predicted.cats.get) ==
                           max(eg.reference.cats, key=eg.reference.cats.get) for eg in examples], dtype=int)
    labels = list(gold_docs[0].cats)
    probs = numpy.array([[eg.predicted.cats.get(label, 0.0) for label in labels] for eg in examples]).reshape(-1, len(labels))
    return correct, probs, examples
