"""The fast classifiers a user would pick instead of a distilled spaCy student.

Each peer learns from texts and a (n_texts, n_classes) matrix of targets: one-hot gold
labels, or the teacher's probabilities. A logistic regression takes the probabilities as
they are (each text appears once per class, weighted by that class's probability: the
soft cross-entropy the student is trained with); fastText takes only hard labels, so it
gets the argmax. Every peer reads raw text and returns probabilities, so it is timed and
scored as a user would call it.

  tfidf_lr      scikit-learn TF-IDF of word n-grams + logistic regression
  fasttext      supervised fastText (fasttext-wheel)
  model2vec_lr  a Model2Vec static model distilled from a Hugging Face backbone
                + logistic regression on its embeddings
"""
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy

PEERS = ("tfidf_lr", "fasttext", "model2vec_lr")
# fastText reads whitespace-separated tokens: words and punctuation marks, lower-cased
FASTTEXT_TOKEN = re.compile(r"\w+|[^\w\s]")


def weighted_rows(targets: numpy.ndarray):
    """Soft targets as weighted hard rows: (row index, class, weight) for every class with
    a weight above 0, so one-hot gold targets give each text once."""
    rows, classes = numpy.nonzero(targets > 0)
    return rows, classes, targets[rows, classes]


def fit_logistic(features, targets: numpy.ndarray, dev_features, dev_gold: numpy.ndarray, c_grid: Sequence[float],
                 max_iter: int):
    """A logistic regression on soft targets, its C chosen by dev accuracy (ties: the smaller C)."""
    from sklearn.linear_model import LogisticRegression

    rows, classes, weights = weighted_rows(targets)
    best, best_accuracy = None, -1.0
    for c in c_grid:
        model = LogisticRegression(C=c, max_iter=max_iter)
        model.fit(features[rows], classes, sample_weight=weights)
        accuracy = float((model.predict(dev_features) == dev_gold).mean())
        if accuracy > best_accuracy:
            best, best_accuracy = model, accuracy
    return best


def full_proba(model, features, n_classes: int) -> numpy.ndarray:
    """predict_proba over every class, also those no training row had."""
    out = numpy.zeros((features.shape[0], n_classes))
    out[:, model.classes_] = model.predict_proba(features)
    return out


class TfidfLogistic:
    name = "tfidf_lr"

    def __init__(self, settings: Dict, n_classes: int, seed: int = 0):
        self.settings, self.n_classes = settings, n_classes

    def fit(self, texts: List[str], targets: numpy.ndarray, dev_texts: List[str], dev_gold: numpy.ndarray) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        s = self.settings
        self.vectorizer = TfidfVectorizer(ngram_range=(1, s["ngram_max"]), min_df=s["min_df"],
                                          max_features=s["max_features"], sublinear_tf=True)
        features = self.vectorizer.fit_transform(texts)
        self.model = fit_logistic(features, targets, self.vectorizer.transform(dev_texts), dev_gold, s["c_grid"],
                                  s["max_iter"])

    def predict_proba(self, texts: List[str]) -> numpy.ndarray:
        return full_proba(self.model, self.vectorizer.transform(texts), self.n_classes)

    def save(self, folder: Path) -> None:
        import joblib

        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump({"vectorizer": self.vectorizer, "model": self.model}, folder / "tfidf_lr.joblib")


def fasttext_line(text: str) -> str:
    return " ".join(FASTTEXT_TOKEN.findall(text.lower()))


class FastText:
    name = "fasttext"

    def __init__(self, settings: Dict, n_classes: int, seed: int = 0):
        self.settings, self.n_classes, self.seed = settings, n_classes, seed

    def fit(self, texts: List[str], targets: numpy.ndarray, dev_texts: List[str], dev_gold: numpy.ndarray) -> None:
        import fasttext

        s = self.settings
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "train.txt"
            with path.open("w", encoding="utf8") as f:
                for text, label in zip(texts, targets.argmax(axis=1)):
                    f.write(f"__label__{label} {fasttext_line(text)}\n")
            # one thread: fastText's threads race, so only one gives the same model for the same seed
            self.model = fasttext.train_supervised(
                str(path), dim=s["dim"], epoch=s["epoch"], lr=s["lr"], wordNgrams=s["word_ngrams"],
                bucket=s["bucket"], minCount=s["min_count"], thread=1, seed=self.seed, verbose=0)

    def predict_proba(self, texts: List[str]) -> numpy.ndarray:
        # the binding's own predict() gives wrong probabilities for a list of texts with
        # numpy 2 (every class gets the top one) and fails for one text: its C++ call,
        # one line at a time, gives the right (probability, label) pairs
        out = numpy.zeros((len(texts), self.n_classes))
        for i, text in enumerate(texts):
            for p, label in self.model.f.predict(fasttext_line(text) + "\n", -1, 0.0, "strict"):
                out[i, int(label[len("__label__"):])] = p
        return out

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_model(str(folder / "fasttext.bin"))


def distill_static_model(backbone: Path, output: Path, pca_dims: int, quantize_to: str) -> float:
    """Model2Vec's distillation of a local Hugging Face backbone folder into a static model
    at `output`, kept while the backbone's files and these settings are unchanged (a rerun
    loads it); the seconds it took."""
    from scripts.shared.fingerprint import fingerprint

    record = output / "distilled.json"
    signature = fingerprint({"pca_dims": pca_dims, "quantize_to": quantize_to}, [backbone])
    if record.exists() and json.loads(record.read_text()).get("signature") == signature:
        return json.loads(record.read_text())["seconds"]
    from model2vec.distill import distill_from_model
    from transformers import AutoModel, AutoTokenizer

    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(str(backbone), local_files_only=True)
    model = AutoModel.from_pretrained(str(backbone), local_files_only=True)
    # PCA cannot give more dimensions than the backbone has
    dims = min(pca_dims, model.config.hidden_size)
    static = distill_from_model(model=model, tokenizer=tokenizer, pca_dims=dims, quantize_to=quantize_to,
                                device="cpu")
    static.save_pretrained(str(output))
    seconds = time.perf_counter() - start
    record.write_text(json.dumps({"signature": signature, "seconds": seconds, "dims": dims}))
    return seconds


class Model2VecLogistic:
    name = "model2vec_lr"

    def __init__(self, settings: Dict, n_classes: int, seed: int = 0, static_model: Path = None):
        from model2vec import StaticModel

        self.settings, self.n_classes, self.static_path = settings, n_classes, static_model
        if static_model is None or not (Path(static_model) / "config.json").is_file():
            # model2vec would read a missing folder's name as a hub model and try to download it
            raise FileNotFoundError(f"{static_model}: no static model here; the compare-peers step distils it "
                                    "from the backbone first")
        self.static = StaticModel.from_pretrained(str(static_model))

    def fit(self, texts: List[str], targets: numpy.ndarray, dev_texts: List[str], dev_gold: numpy.ndarray) -> None:
        s = self.settings
        self.model = fit_logistic(self.static.encode(texts), targets, self.static.encode(dev_texts), dev_gold,
                                  s["c_grid"], s["max_iter"])

    def predict_proba(self, texts: List[str]) -> numpy.ndarray:
        return full_proba(self.model, self.static.encode(texts), self.n_classes)

    def save(self, folder: Path) -> None:
        """The classifier beside a copy of the static model: the folder is what a user ships."""
        import shutil

        import joblib

        folder.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.static_path, folder / "static_model", dirs_exist_ok=True)
        (folder / "static_model" / "distilled.json").unlink(missing_ok=True)
        joblib.dump(self.model, folder / "logistic.joblib")


PEER_CLASSES = {"tfidf_lr": TfidfLogistic, "fasttext": FastText, "model2vec_lr": Model2VecLogistic}
