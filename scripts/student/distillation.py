"""The student's registered code: the soft textcat component, its losses, its reader and
the scorer. `spacy package --code scripts/student/distillation.py` ships this file, and only
this file, with the student, so it imports only spaCy and thinc: the student runs
without torch or spacy-transformers. The teacher's own callbacks live in
teacher_callbacks.py, which is never shipped.
"""
import re
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy
from spacy.attrs import IDS
from spacy.language import Language
from spacy.pipeline.textcat import TextCategorizer
from spacy.scorer import Scorer
from spacy.tokens import Doc
from spacy.training import Corpus, Example
from spacy.util import registry
from spacy.ml.models.textcat import build_bow_text_classifier_v3
from spacy.ml.staticvectors import StaticVectors
from thinc.api import Model, chain, get_array_module, ragged2list
from thinc.types import Floats2d


# ---------------------------------------------------------------------------
# Student: a textcat that learns soft (teacher) probabilities
# ---------------------------------------------------------------------------
# The gradient a textcat model's output layer expects from the loss:
# thinc's `Softmax` (Ensemble, Reduce, CNN, ParametricAttention) passes the incoming
# gradient straight to its logits; `softmax_activation` (BOW.v3) applies the softmax
# Jacobian itself, so it wants the gradient with respect to the probabilities.
GRAD_LOGITS = "logits"
GRAD_PROBS = "probabilities"
PROB_FLOOR = 1e-7

LossFunction = Callable[[Floats2d, Floats2d, str], Tuple[float, Floats2d]]


def output_gradient_kind(model: Model) -> str:
    # Follow the last layer of each chain down to the layer that makes the output.
    # (The Ensemble's bag-of-words half has a softmax_activation of its own, inside.)
    node = model
    while node.name not in ("softmax", "softmax_activation") and node.layers:
        node = node.layers[-1]
    if node.name == "softmax_activation":
        return GRAD_PROBS
    if node.name == "softmax":
        return GRAD_LOGITS
    raise ValueError(
        f"soft_textcat needs an exclusive-classes model ending in a softmax, but this one "
        f"ends in '{node.name}': set exclusive_classes = true in the model block"
    )


def _softmax(xp, logits: Floats2d) -> Floats2d:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = xp.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _centred_log(xp, probs: Floats2d) -> Floats2d:
    """Logits recovered from probabilities, up to the softmax's free constant."""
    logp = xp.log(xp.clip(probs, PROB_FLOOR, 1.0))
    return logp - logp.mean(axis=1, keepdims=True)


def _logit_grad_to(kind: str, xp, probs: Floats2d, d_logits: Floats2d) -> Floats2d:
    if kind == GRAD_LOGITS:
        return d_logits
    # softmax_activation multiplies by J = diag(p) - p p^T; since d_logits sums to
    # zero per row, g = d_logits / p is the gradient J maps back onto d_logits.
    return d_logits / xp.clip(probs, PROB_FLOOR, 1.0)


def _prob_grad_to(kind: str, xp, probs: Floats2d, d_probs: Floats2d) -> Floats2d:
    if kind == GRAD_PROBS:
        return d_probs
    # Apply the softmax Jacobian ourselves: dL/dz = p * (g - <g, p>).
    return probs * (d_probs - (d_probs * probs).sum(axis=1, keepdims=True))


@registry.losses("distill.mse_probs.v1")
def create_mse_probs() -> LossFunction:
    """Squared error between student and teacher probabilities (the original experiment)."""

    def mse_probs(probs, targets, kind):
        xp = get_array_module(probs)
        diff = probs - targets
        loss = 0.5 * float((diff ** 2).sum())
        return loss, _prob_grad_to(kind, xp, probs, diff)

    return mse_probs


@registry.losses("distill.soft_cross_entropy.v1")
def create_soft_cross_entropy(temperature: float = 1.0) -> LossFunction:
    """KL divergence from the teacher's to the student's distribution, both softened
    by `temperature` and scaled by temperature**2 (Hinton et al. 2015)."""
    if temperature <= 0:
        raise ValueError(f"soft_cross_entropy: temperature must be > 0, got {temperature}")

    def soft_cross_entropy(probs, targets, kind):
        xp = get_array_module(probs)
        student = _softmax(xp, _centred_log(xp, probs) / temperature)
        teacher = _softmax(xp, _centred_log(xp, targets) / temperature)
        log_ratio = xp.log(xp.clip(teacher, PROB_FLOOR, 1.0)) - xp.log(xp.clip(student, PROB_FLOOR, 1.0))
        loss = temperature ** 2 * float((teacher * log_ratio).sum())
        d_logits = temperature * (student - teacher)
        return loss, _logit_grad_to(kind, xp, probs, d_logits)

    return soft_cross_entropy


@registry.losses("distill.mse_logits.v1")
def create_mse_logits(target_floor: float = 1e-4) -> LossFunction:
    """Squared error between centred logits, as Tang et al. (2019) used. The teacher's
    logits are recovered from its probabilities, floored at `target_floor` so that
    hard 0/1 labels give finite targets."""

    def mse_logits(probs, targets, kind):
        xp = get_array_module(probs)
        student = _centred_log(xp, probs)
        floored = xp.clip(targets, target_floor, 1.0)
        teacher = _centred_log(xp, floored / floored.sum(axis=1, keepdims=True))
        d_logits = student - teacher
        loss = 0.5 * float((d_logits ** 2).sum())
        return loss, _logit_grad_to(kind, xp, probs, d_logits)

    return mse_logits


def textcat_accuracy(examples: Iterable[Example]) -> Optional[float]:
    """Share of docs whose highest-scoring predicted label is the gold label's argmax."""
    right = total = 0
    for eg in examples:
        gold, pred = eg.reference.cats, eg.predicted.cats
        if not gold or not pred:
            continue
        total += 1
        right += max(pred, key=pred.get) == max(gold, key=gold.get)
    return right / total if total else None


@registry.scorers("distill.textcat_scorer.v1")
def create_textcat_scorer():
    """spaCy's exclusive-textcat scores plus `cats_accuracy`, which spaCy does not report."""

    def score(examples: Iterable[Example], **kwargs) -> Dict:
        examples = list(examples)
        scores = Scorer.score_cats(examples, "cats", multi_label=False, **kwargs)
        scores["cats_accuracy"] = textcat_accuracy(examples)
        return scores

    return score


class SoftTextCategorizer(TextCategorizer):
    """An exclusive textcat trained on probabilities (e.g. a teacher's) by a chosen loss."""

    def __init__(self, vocab, model, name="textcat", *, threshold: float, scorer, loss: LossFunction):
        super().__init__(vocab, model, name, threshold=threshold, scorer=scorer)
        self.loss = loss

    def _validate_categories(self, examples: Iterable[Example]):
        for eg in examples:
            cats = eg.reference.cats
            if not cats:  # no label is not a uniform label: the losses would train toward one
                raise ValueError(f"soft_textcat: the doc starting {eg.reference.text[:40]!r} has no cats; "
                                 "every training doc needs the teacher's (or gold) probabilities")
            values = list(cats.values())
            bad = [v for v in values if not 0.0 <= v <= 1.0]
            if bad or abs(sum(values) - 1.0) > 1e-3:
                raise ValueError(
                    f"soft_textcat: cats must be probabilities in [0, 1] that sum to 1, got "
                    f"{cats} for the doc starting {eg.reference.text[:40]!r}; fix the labels "
                    "in the training data"
                )

    def get_loss(self, examples: Iterable[Example], scores) -> Tuple[float, Floats2d]:
        examples = list(examples)
        self._validate_categories(examples)
        truths, not_missing = self._examples_to_truth(examples)
        truths = self.model.ops.asarray(truths)
        not_missing = self.model.ops.asarray(not_missing)
        loss, d_scores = self.loss(scores, truths, output_gradient_kind(self.model))
        return loss / max(1, len(examples)), d_scores * not_missing


@Language.factory(
    "soft_textcat",
    assigns=["doc.cats"],
    default_config={
        "threshold": 0.0,
        "model": {
            "@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": True,
            "ngram_size": 1, "no_output_layer": False, "length": 262144,
        },
        "scorer": {"@scorers": "distill.textcat_scorer.v1"},
        "loss": {"@losses": "distill.mse_probs.v1"},
    },
    default_score_weights={"cats_accuracy": 1.0, "cats_score": 0.0},
)
def make_soft_textcat(nlp: Language, name: str, model: Model, threshold: float, scorer, loss):
    return SoftTextCategorizer(nlp.vocab, model, name, threshold=threshold, scorer=scorer, loss=loss)


@registry.architectures("distill.StaticVectorsEmbed.v1")
def create_static_vectors_embed(width: int, dropout: Optional[float] = None) -> Model[List[Doc], List[Floats2d]]:
    """Each token's static vector (the teacher's, from the `vectors` step), projected to
    `width`, and nothing else: no hashed features, no context. Under TextCatReduce's mean
    this is the Model2Vec shape, the mean of the word vectors into a linear layer (two
    linear maps in a row are one)."""
    model = chain(StaticVectors(nO=width, dropout=dropout), ragged2list())
    model.set_dim("nO", width)
    return model


@registry.architectures("distill.BatchedTextCatBOW.v1")
def create_batched_bow(exclusive_classes: bool, ngram_size: int, no_output_layer: bool, length: int = 262144,
                       nO: Optional[int] = None, attr: str = "ORTH") -> Model[List[Doc], Floats2d]:
    """spaCy's TextCatBOW.v3, with its n-gram features hashed for the whole batch at once.

    Same features, same weights, same scores: TextCatBOW.v3 hashes each doc's n-grams in a
    loop of small numpy calls and sorts them to count repeats. Here every n-gram of the
    batch is hashed in one call and repeats stay as they are (the sparse layer adds a key
    once per occurrence, which is the count). On the nl reviews that makes the features
    2-3x faster, which is most of the bag-of-words student's own time. It also takes
    empty texts, on which TextCatBOW.v3 with ngram_size >= 2 stops with an IndexError.
    `attr` is the token attribute hashed ("ORTH", as TextCatBOW.v3 has it, or e.g. "LOWER").
    """
    if attr not in IDS:
        raise ValueError(f"BatchedTextCatBOW: unknown token attribute {attr!r}; use e.g. \"ORTH\" or \"LOWER\"")
    model = build_bow_text_classifier_v3(exclusive_classes, ngram_size, no_output_layer, length, nO)
    per_doc = next(node for node in model.walk() if node.name == "extract_ngrams")
    model.replace_node(per_doc, batched_ngrams(ngram_size, IDS[attr]))
    return model


def batched_ngrams(ngram_size: int, attr: int) -> Model:
    return Model("batched_ngrams", _batched_ngrams_forward, attrs={"ngram_size": ngram_size, "attr": attr})


def _batched_ngrams_forward(model: Model, docs: List[Doc], is_train: bool):
    """(keys, values, lengths) as spaCy's extract_ngrams gives them: each doc's unigram
    keys, then its bigrams, ..., one value per key, one length per doc."""
    n_max = model.attrs["ngram_size"]
    lengths = numpy.fromiter((len(doc) for doc in docs), dtype="int64", count=len(docs))
    unigrams = numpy.concatenate([doc.to_array(model.attrs["attr"]) for doc in docs] or [numpy.zeros(0)])
    unigrams = unigrams.astype("uint64", copy=False)
    doc_of_token = numpy.repeat(numpy.arange(len(docs)), lengths)
    position = numpy.arange(len(unigrams)) - numpy.repeat(numpy.cumsum(lengths) - lengths, lengths)
    per_n = [numpy.maximum(lengths - n + 1, 0) for n in range(1, n_max + 1)]
    keys_per_doc = numpy.sum(per_n, axis=0)
    # where each doc's block of n-grams starts in the output
    block_start = numpy.cumsum(keys_per_doc) - keys_per_doc
    keys = numpy.empty(int(keys_per_doc.sum()), dtype="uint64")
    for n, n_grams_per_doc in enumerate(per_n, start=1):
        # the n-gram starting at each token of the batch; those that run into the next
        # doc are dropped
        if n == 1 or len(unigrams) < n:
            hashed = unigrams[:max(len(unigrams) - n + 1, 0)]
        else:
            hashed = model.ops.ngrams(n, unigrams)
        doc, start = doc_of_token[:len(hashed)], position[:len(hashed)]
        inside = start + n <= lengths[doc]
        keys[block_start[doc[inside]] + start[inside]] = hashed[inside]
        block_start += n_grams_per_doc
    values = numpy.ones(len(keys), dtype="float32")
    return (keys, values, keys_per_doc.astype("int32")), lambda d_features: []


def tokenize_keeping(nlp, text: str, token_text: str) -> Doc:
    """`nlp`'s tokenization of `text`, but with every `token_text` one token of its own.

    spaCy's tokenizer splits the teacher's mask token `<mask>` into `<`, `mask`, `>` (or
    glues it to a neighbouring word, as in `geen.<mask>`), so the student would learn
    from a word "mask" and brackets that no real review has. The text around each mask
    token is tokenized as usual. (A new Doc, not a retokenizer merge: merging gives the
    merged word a vector in a vocab that has vectors, growing the student's table.)
    """
    words: List[str] = []
    spaces: List[bool] = []
    for part in re.split(f"({re.escape(token_text)})", text):
        if part == token_text:
            words.append(part)
            spaces.append(False)
            continue
        if part.startswith(" ") and words:
            spaces[-1] = True
            part = part[1:]
        for token in nlp.make_doc(part) if part else []:
            words.append(token.text)
            spaces.append(bool(token.whitespace_))
    return Doc(nlp.vocab, words=words, spaces=spaces)


@registry.readers("distill.TrainingCorpus.v1")
def create_training_corpus(synthetic: Optional[Path], original: Optional[Path], max_length: int = 0,
                           original_repeats: int = 1, merge_mask_token: bool = True,
                           unlabelled: Optional[Path] = None) -> Callable:
    """The teacher-labelled synthetic reviews, then the teacher-labelled unlabelled texts
    (`unlabelled`: the `label` step's folder of chunks, null for none), then the original
    training reviews, `original_repeats` times (at 1000 reviews against ~20k synthetic
    ones, a single pass makes the originals 4% of the updates). With `merge_mask_token`,
    the teacher's mask token that the augment step recorded in a synthetic doc is kept as
    one token. (Paths are optional like spaCy's Corpus.v1: a pipeline loads before they
    are set.)"""
    if original_repeats < 1:
        raise ValueError(f"TrainingCorpus: original_repeats must be at least 1, got {original_repeats}")
    # No synthetic set (null): the original reviews alone, e.g. gold labels for a config's
    # own baseline.
    synthetic_corpus = Corpus(synthetic, max_length=max_length) if synthetic is not None else (lambda nlp: [])
    original_corpus = Corpus(original, max_length=max_length)
    # a folder with no chunk in it (no unlabelled texts) is no corpus at all
    unlabelled_corpus = Corpus(unlabelled, max_length=max_length) \
        if unlabelled is not None and any(Path(unlabelled).glob("*.spacy")) else (lambda nlp: [])

    def read(nlp) -> Iterator[Example]:
        for eg in synthetic_corpus(nlp):
            mask_token = eg.reference.user_data.get("mask_token")
            if merge_mask_token and mask_token and mask_token in eg.reference.text:
                eg = Example(tokenize_keeping(nlp, eg.reference.text, mask_token), eg.reference)
            yield eg
        yield from unlabelled_corpus(nlp)
        for _ in range(original_repeats):
            yield from original_corpus(nlp)

    return read
