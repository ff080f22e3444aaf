"""Static word vectors derived from the fine-tuned teacher, for the student's embeddings.

Each word of a general frequency list (wordfreq's, never dev or test text) plus the
words of the training reviews is run alone through the teacher's transformer; its
output is mean-pooled over the word's pieces. The first dimension is the word's
coordinate along the direction the teacher's classification head reads (POS minus
NEG): for a one-word review, that is the teacher's own verdict on the word. With k
classes the first k-1 dimensions span the head's class differences (each class's row
minus the first's, made orthonormal), the space in which its verdicts differ. The other
dimensions are a PCA of what is left once those directions are projected out, since a
briefly fine-tuned teacher keeps most of its variance in other directions. Each
vector is stored under the word's lower, Title and UPPER form (one row, three keys),
because a spaCy vectors table looks words up by exact form. (`Vectors(attr="LOWER")`
would look up the lower form, and StaticVectors honours it, but spaCy 3.8 does not save
`attr` for a default-mode table: a saved and reloaded student would look up ORTH again.
tests/test_student.py checks this, so the day spaCy saves it this can go.)
Writes a spaCy pipeline folder that `[initialize] vectors` can name.

A teacher you bring: a Hugging Face classifier gives its encoder's states the same way,
and the verdict directions come from the classifier itself, run on each word alone (its
log-probability of each class minus the first's, scaled to the first PCA dimension).
A spaCy teacher without a transformer has no states to give: its vectors hold only
those k-1 verdicts, which the student's embedding layer still reads.
"""
import json
import time
from pathlib import Path
from typing import List

import numpy
import spacy
from tqdm import tqdm
import typer
from spacy.tokens import DocBin
from spacy.vectors import Vectors
from wasabi import msg

from scripts.shared.cli_support import InputError, require, run_cli
from scripts.transfer.word_lists import WORD, frequent_words
from scripts.teacher.teacher_runtime import load_teacher

def teacher_encoder(teacher):
    """(Hugging Face encoder, tokenizer) of the teacher's transformer, or None without one."""
    if "transformer" in teacher.pipe_names:
        trf = teacher.get_pipe("transformer").model
        return trf.transformer, trf.tokenizer
    textcat = teacher.get_pipe("textcat")
    if getattr(textcat, "hf_model", None) is not None:  # a given Hugging Face classifier
        return textcat.hf_model.base_model, textcat.tokenizer
    return None


def word_verdicts(teacher, words: List[str], batch_size: int) -> numpy.ndarray:
    """(words, k-1): the teacher's log-probability of each class but the first, minus the
    first's, for each word alone."""
    from scripts.teacher.teacher_runtime import predict_probs

    _, probs = predict_probs(teacher, words, batch_size)
    log_probs = numpy.log(numpy.clip(probs, 1e-7, 1.0))
    return (log_probs[:, 1:] - log_probs[:, :1]).astype("float32")


def embed_words(encoder, words: List[str], batch_size: int) -> numpy.ndarray:
    """Mean of the teacher transformer's last hidden states over each word's pieces, one
    row per word in `words`' order. The words run sorted by their number of pieces, so a
    batch pads little: on nl's 8,000 most frequent words 1.72x as fast as in frequency
    order, with every vector within 1.4e-6 of it (the attention mask already keeps the
    padding out of each word's states)."""
    import torch

    model, tokenizer = encoder
    model.eval()
    n_pieces = [len(ids) for ids in tokenizer(list(words))["input_ids"]] if words else []
    order = numpy.argsort(n_pieces, kind="stable")
    out = []
    with torch.no_grad():
        for start in tqdm(range(0, len(words), batch_size), desc="vectors", unit="batch"):
            batch = tokenizer([words[i] for i in order[start:start + batch_size]], padding=True,
                              return_tensors="pt", return_special_tokens_mask=True)
            special = batch.pop("special_tokens_mask")
            hidden = model(**batch).last_hidden_state
            mask = (batch["attention_mask"] * (1 - special)).unsqueeze(-1).float()
            out.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).numpy())
    embedded = numpy.concatenate(out).astype("float32") if out else numpy.zeros((0, 0), dtype="float32")
    rows = numpy.empty_like(embedded)
    rows[order] = embedded  # back to the words' own order
    return rows


def head_directions(teacher, component: str = "textcat") -> numpy.ndarray:
    """(k-1, width) orthonormal rows spanning the differences between the teacher's k class
    rows (class i minus class 0, Gram-Schmidt in that order). With mean pooling over one
    word, every logit difference of the head is a combination of these coordinates plus a
    bias; for two classes the one row is the POS-minus-NEG direction."""
    textcat = teacher.get_pipe(component)
    if len(textcat.labels) < 2:
        raise InputError(f"the teacher's '{component}' has labels {textcat.labels}; teacher vectors need two or more")
    return class_directions(textcat.model.ops.to_numpy(textcat.model.get_ref("output_layer").get_param("W")))


def class_directions(weights: numpy.ndarray) -> numpy.ndarray:
    """Orthonormal rows spanning each class row minus the first (Gram-Schmidt, in order)."""
    weights = weights.astype("float64")
    directions = []
    for row in weights[1:]:
        direction = row - weights[0]
        for done in directions:
            direction = direction - (direction @ done) * done
        norm = numpy.linalg.norm(direction)
        if norm > 1e-12:  # a class row that adds no new direction
            directions.append(direction / norm)
    return numpy.array(directions)


def pca(matrix: numpy.ndarray, dims: int):
    centred = matrix - matrix.mean(axis=0, keepdims=True)
    _, singular, components = numpy.linalg.svd(centred, full_matrices=False)
    explained = singular ** 2 / (singular ** 2).sum()
    return (centred @ components[:dims].T).astype("float32"), explained[:dims]


def case_forms(word: str) -> List[str]:
    return list(dict.fromkeys([word.lower(), word[:1].upper() + word[1:].lower(), word.upper()]))


def main(
    teacher_path: Path = typer.Argument(..., help="The fine-tuned teacher pipeline"),
    output_dir: Path = typer.Argument(..., help="Writes a spaCy pipeline folder with the vectors here"),
    lang: str = typer.Option("nl"),
    n_words: int = typer.Option(40000, help="Most frequent words of the general word list (0: none, "
                                "only the training reviews' words)"),
    dims: int = typer.Option(96, help="Dimensions kept by PCA"),
    train_path: Path = typer.Option(None, help="Training reviews whose words are added too"),
    unlabelled_path: Path = typer.Option(None, help="Unlabelled texts (.spacy, the corpus step's sample) whose "
                                         "words are added too"),
    word_list: Path = typer.Option(None, help="Your own word list (one word per line, most frequent "
                                   "first) instead of wordfreq's"),
    batch_size: int = typer.Option(256),
):
    if n_words < 0 or dims < 1 or batch_size < 1:
        raise InputError(f"n-words must be 0 or more, dims and batch-size at least 1; got {n_words}, {dims}, "
                         f"{batch_size} (vars vectors_words, vectors_dims)")
    if n_words == 0 and train_path is None:
        raise InputError("n-words 0 takes only the training reviews' words, but no --train-path was given")
    require(teacher_path, "the teacher", "teacher")
    if n_words == 0:
        words = []
    elif word_list is not None:
        lines = require(word_list, "the word list", "(none: give an existing file)").read_text(encoding="utf-8")
        words = list(dict.fromkeys(w.strip() for w in lines.splitlines() if WORD.match(w.strip())))[:n_words]
    else:
        words = frequent_words(lang, n_words)
    vocab = spacy.blank(lang).vocab
    seen = set(words)
    for path in (p for p in (train_path, unlabelled_path) if p is not None):
        for doc in DocBin().from_disk(require(path, "the corpus texts", "corpus")).get_docs(vocab):
            for token in doc:
                word = token.lower_
                if word not in seen and WORD.match(word):
                    seen.add(word)
                    words.append(word)
    if dims > min(len(words), 384 * 4):
        raise InputError(f"dims {dims} is more than the {len(words)} words allow; lower dims in vectors.cfg of the settings folder (var settings)")
    teacher = load_teacher(teacher_path)
    start = time.time()
    encoder = teacher_encoder(teacher)
    n_classes = len(teacher.get_pipe("textcat").labels)
    if dims <= n_classes - 1 and encoder is not None:
        raise InputError(f"dims {dims} leaves no room beside the head's {n_classes - 1} class directions; "
                         f"raise dims in vectors.cfg of the settings folder above {n_classes - 1}")
    if encoder is None:
        msg.info("The teacher has no transformer: the vectors hold only its verdict on each word alone "
                 f"({n_classes - 1} dims)")
        verdicts = word_verdicts(teacher, words, batch_size)
        reduced = (verdicts - verdicts.mean(axis=0)).astype("float32")
        variance_share, explained = 1.0, numpy.zeros(0)
    else:
        embedded = embed_words(encoder, words, batch_size)
        if "transformer" in teacher.pipe_names:  # the head reads these states: its directions are exact
            directions = head_directions(teacher)
            verdicts = embedded @ directions.T  # (words, k-1): where the head's class scores differ
            rest = embedded - verdicts @ directions
            n_directions = len(directions)
        else:  # a given classifier's head reads other states: its verdicts on each word instead
            verdicts, rest, n_directions = word_verdicts(teacher, words, batch_size), embedded, n_classes - 1
        components, explained = pca(rest, min(dims, embedded.shape[1]) - n_directions)
        verdicts = verdicts - verdicts.mean(axis=0)
        if "transformer" not in teacher.pipe_names and len(components):
            verdicts = verdicts / verdicts.std(axis=0).clip(1e-6) * components[:, 0].std()
        reduced = numpy.hstack([verdicts, components]).astype("float32")
        variance_share = float(verdicts.var(axis=0).sum() / (verdicts.var(axis=0).sum() + rest.var(axis=0).sum())) \
            if "transformer" not in teacher.pipe_names else float(verdicts.var(axis=0).sum() / embedded.var(axis=0).sum())
    nlp = spacy.blank(lang)
    vectors = Vectors(strings=nlp.vocab.strings, shape=reduced.shape)  # adding a key adds its string
    vectors.data[:] = reduced
    for row, word in enumerate(words):
        for form in case_forms(word):
            vectors.add(form, row=row)
    nlp.vocab.vectors = vectors
    output_dir.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output_dir)
    info = {"words": len(words), "keys": vectors.n_keys, "dims": int(reduced.shape[1]),
            "head_direction_share_of_variance": round(variance_share, 4), "teacher_has_encoder": encoder is not None,
            "explained_variance": [round(float(x), 4) for x in explained[:10]],
            "explained_total": round(float(explained.sum()), 4), "seconds": round(time.time() - start, 1),
            "size_mb": round(sum(f.stat().st_size for f in output_dir.rglob("*") if f.is_file()) / 1e6, 1)}
    (output_dir / "vectors_info.json").write_text(json.dumps(info, indent=2))
    msg.good(f"{len(words)} words ({vectors.n_keys} keys with case forms) x {info['dims']} dims in {output_dir}; "
             f"the teacher's head direction holds {100 * info['head_direction_share_of_variance']:.1f}% of the variance")


if __name__ == "__main__":
    run_cli(main, settings=("vectors",))
