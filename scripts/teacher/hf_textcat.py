"""A fine-tuned Hugging Face sequence classifier as a spaCy component (factory `hf_textcat`).

A teacher that is already fine-tuned (a local folder or a hub name of an
`AutoModelForSequenceClassification` model) becomes a spaCy pipeline with this one
component, named `textcat`: it sets `doc.cats` to the softmax of the model's logits over
its classes, renamed to the run's classes. Every step after the teacher (the runtime
gate, calibration, labelling, vectors, evaluation) then reads it like the project's own
teacher. Texts longer than the model's maximum length are truncated, as Hugging Face's
own pipelines do. The model, its tokenizer and the class names are saved inside the
component's folder, so the pipeline loads offline wherever this module is imported.
"""
from pathlib import Path
from typing import Iterable, Iterator, List, Optional

import numpy
import srsly
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch

MODEL_FOLDER = "hf_model"


class HFTextCategorizer:
    """doc.cats from a Hugging Face sequence classifier (exclusive classes: softmax)."""

    def __init__(self, name: str = "textcat", max_length: int = 512, batch_size: int = 32):
        self.name = name
        self.max_length = max_length
        self.batch_size = batch_size
        self.labels: List[str] = []
        self.hf_model = None  # not `model`: spaCy treats a component's `model` as a thinc Model
        self.tokenizer = None

    def set_model(self, hf_model, tokenizer, labels: List[str]) -> None:
        if len(labels) != hf_model.config.num_labels:
            raise ValueError(f"hf_textcat: {len(labels)} class names for a head of {hf_model.config.num_labels}")
        hf_model.eval()
        self.hf_model, self.tokenizer, self.labels = hf_model, tokenizer, list(labels)

    def logits(self, texts: List[str]) -> numpy.ndarray:
        """The head's logits, one row per text (no gradients)."""
        import torch

        if self.hf_model is None:
            raise ValueError("hf_textcat: no model loaded")
        limit = min(self.max_length, getattr(self.tokenizer, "model_max_length", self.max_length) or self.max_length)
        batch = self.tokenizer(texts, truncation=True, max_length=limit, padding=True, return_tensors="pt")
        device = next(self.hf_model.parameters()).device
        with torch.no_grad():
            output = self.hf_model(**{k: v.to(device) for k, v in batch.items()})
        return output.logits.float().cpu().numpy()

    def predict(self, texts: List[str]) -> numpy.ndarray:
        logits = self.logits(texts) if texts else numpy.zeros((0, len(self.labels)), dtype="float32")
        shifted = numpy.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs: Iterable[Doc], batch_size: Optional[int] = None) -> Iterator[Doc]:
        for batch in minibatch(docs, size=batch_size or self.batch_size):
            for doc, probs in zip(batch, self.predict([d.text for d in batch])):
                doc.cats = {label: float(p) for label, p in zip(self.labels, probs)}
                yield doc

    def to_disk(self, path, exclude=tuple()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.hf_model.save_pretrained(path / MODEL_FOLDER)
        self.tokenizer.save_pretrained(path / MODEL_FOLDER)
        srsly.write_json(path / "cfg", {"labels": self.labels, "max_length": self.max_length})

    def from_disk(self, path, exclude=tuple()) -> "HFTextCategorizer":
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = Path(path)
        cfg = srsly.read_json(path / "cfg")
        folder = path / MODEL_FOLDER
        self.set_model(AutoModelForSequenceClassification.from_pretrained(folder),
                       AutoTokenizer.from_pretrained(folder), cfg["labels"])
        return self


@Language.factory("hf_textcat", default_config={"max_length": 512, "batch_size": 32})
def make_hf_textcat(nlp: Language, name: str, max_length: int, batch_size: int) -> HFTextCategorizer:
    return HFTextCategorizer(name, max_length, batch_size)
