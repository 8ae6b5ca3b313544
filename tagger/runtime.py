"""ONNX Runtime as the transformer's back end at inference (precision ``onnx-int8`` or ``onnx-fp32``).

The transformer is exported, and so are a head's BiLSTM and the classifier on it, as a graph of
their own (ONNX's LSTM operator, built from the weights: :func:`export_bilstm`). The casing,
unseen and other feature embeddings and the CRF stay in torch (the embeddings on one thread:
:func:`head_on_one_thread`) and NumPy, as in torch, so every head predicts as it does in torch.
``onnx-int8`` quantizes the transformer's matrix products and the LSTM's weights to int8 per
output channel (ONNX Runtime's dynamic quantization: activations quantized per batch at run
time); the embedding tables and the classifiers stay in fp32.

The export and the quantization take seconds, so the result is cached: under
``$SEQLAB_CACHE`` (default ``~/.cache/seqlab``) ``onnx/<key>/``, where the key is the model
folder's path with its weights file's size and modification time, the precision and the
versions of torch, transformers and onnxruntime. A model folder is never rewritten in place
(``store.save`` renames a new folder into place), so a changed model has a new key. A model
held only in memory is exported to a temporary folder, read, and the folder removed.

Beside the graph the cache keeps the tokenizer as transformers built it (``tokenizer.json``) and
what the transformer takes (``runtime.json``), so that a cached model loads without transformers
at all (:func:`load_cached`): no BERT built in torch only to be replaced, and none of
transformers' start-up, which was half of ``predict``'s (bench/cli_speed.py).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import logging
import os
import platform
import shutil
import tempfile
from contextlib import contextmanager
from contextvars import ContextVar
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from .spans import SeqLabError

log = logging.getLogger(__name__)

ONNX_PRECISIONS = ("onnx-int8", "onnx-fp32")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
EXPORT_RECIPE = "eager-attention"  # part of the cache key: a graph exported another way is made again


def cache_root() -> Path:
    return Path(os.environ.get("SEQLAB_CACHE") or Path.home() / ".cache" / "seqlab")


def _require():
    try:
        import onnxruntime
    except ImportError as e:  # pragma: no cover - requirements.txt installs it
        raise SeqLabError("precision onnx-* needs the onnxruntime package (pip install onnxruntime)") from e
    return onnxruntime


class _Transformer(torch.nn.Module):
    """The transformer alone, positional inputs in, last hidden state out: what is exported."""

    def __init__(self, base: torch.nn.Module, names: tuple[str, ...]):
        super().__init__()
        self.base, self.names = base, names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.base(**dict(zip(self.names, inputs))).last_hidden_state


def input_names(base: torch.nn.Module) -> tuple[str, ...]:
    """The inputs the transformer takes of :data:`INPUTS` (DistilBERT, e.g., has no segments)."""
    accepted = inspect.signature(base.forward).parameters
    names = tuple(n for n in INPUTS if n in accepted)
    if names[:2] != INPUTS[:2]:
        raise SeqLabError(f"cannot export {type(base).__name__}: it takes no input_ids and attention_mask")
    return names


def export(model, out: Path, precision: str) -> Path:
    """Write ``model``'s transformer as ONNX to ``out`` (a folder), int8 or fp32; its path."""
    _require()
    import warnings

    if precision not in ONNX_PRECISIONS:
        raise ValueError(f"precision must be one of {ONNX_PRECISIONS}, got {precision!r}")
    base = model.hf.base_model
    names = input_names(base)
    out.mkdir(parents=True, exist_ok=True)
    fp32 = out / "transformer-fp32.onnx"
    example = torch.ones(2, 8, dtype=torch.long)
    axes = {n: {0: "batch", 1: "length"} for n in (*names, "hidden")}
    was_training = base.training
    base.eval()
    attention = _eager(base)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's tracer warnings about transformers' Python branches
            torch.onnx.export(_Transformer(base, names), tuple(example for _ in names), str(fp32), dynamo=False,
                              input_names=list(names), output_names=["hidden"], dynamic_axes=axes, opset_version=17)
    finally:
        base.train(was_training)
        if attention is not None:
            base.set_attn_implementation(attention)
    if precision == "onnx-fp32":
        return fp32
    # matrix products only: quantizing the embedding tables (Gather) costs accuracy and saves no time
    return _int8(fp32, out / "transformer-int8.onnx", "MatMul")


def _int8(fp32: Path, int8: Path, op: str) -> Path:
    """``fp32`` (a graph file) with the weights of its ``op`` nodes in int8 per output channel,
    written to ``int8``; ``fp32`` removed."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer's advice to pre-process, on the root logger, for every export
    try:
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=not int8_dot_product(), op_types_to_quantize=[op])
    finally:
        root.setLevel(level)
    fp32.unlink()
    return int8


@functools.cache
def int8_dot_product() -> bool:
    """Whether this CPU multiplies uint8 by int8 without saturating: on x86 only with VNNI
    (AVX-512 VNNI, AVX-VNNI, AMX). Without it ONNX Runtime's kernels add pairs of products in 16
    bits, which 8-bit weights can overflow (the int8 BiLSTM drifted past 0.05 from float32 on an
    AVX2 EPYC, within it on VNNI CPUs), so the weights are quantized to 7 bits there
    (``reduce_range``), as ONNX Runtime advises."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686", "x86"):
        return True  # Arm's kernels widen before they add
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:  # not Linux: 7 bits, which cannot overflow
        return False
    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})


def _eager(base: torch.nn.Module) -> str | None:
    """Switch ``base`` to transformers' plain ("eager") attention for the export, returning the
    implementation to switch back to (None: nothing switched). Torch's fused attention (sdpa)
    exports as a longer graph that ONNX Runtime runs slower: eager's graph tags 13 % more words/s
    and a paragraph 1.4 ms sooner, with the same predictions (MiniLM-L6, 2 cores)."""
    current = getattr(getattr(base, "config", None), "_attn_implementation", None)
    if current in (None, "eager") or not hasattr(base, "set_attn_implementation"):
        return None
    try:
        base.set_attn_implementation("eager")
    except (ValueError, ImportError):  # a model that has no eager attention: exported as it is
        return None
    return current if base.config._attn_implementation == "eager" else None


# the thread count ONNX Runtime runs on while torch computes a head on one (head_on_one_thread)
_THREADS: ContextVar[int | None] = ContextVar("seqlab_onnx_threads", default=None)


@contextmanager
def head_on_one_thread():
    """Torch on one thread within, ONNX Runtime on the threads torch had before.

    Beside ONNX Runtime, torch computes only a head's small operations (embeddings, the
    classifier): one thread does them as fast, and a second one busy-waits after each for the
    next (OpenMP's spinning) while ONNX Runtime's threads want that core: a paragraph's
    transformer took 0.8 ms longer. ``OMP_WAIT_POLICY=PASSIVE`` would stop the spinning too, but
    for the whole process: training in it took a quarter longer."""
    threads = torch.get_num_threads()
    token = _THREADS.set(threads)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        _THREADS.reset(token)


class _Graph:
    """An ONNX graph run by ONNX Runtime, one session per thread count, made when first needed:
    the app predicts on one thread while a training job runs (``predict.share_cpu``), on all of
    them otherwise, and an ONNX Runtime session's thread pool is fixed when it is made."""

    def __init__(self, data: bytes):
        self.data = data
        self.sessions: dict[int, object] = {}

    def session(self, threads: int | None = None):
        """The session on ``threads`` threads (default: torch's thread count, the one it had
        before :func:`head_on_one_thread`)."""
        threads = threads or _THREADS.get() or torch.get_num_threads()
        if threads not in self.sessions:
            ort = _require()
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            # the pool's threads spin between the graph's operators (each waking them would cost
            # more than the operator), and stop when the run ends: the head's torch threads run
            # next and need the cores. Against no spinning at all: 5 % more words/s and the app's
            # paragraph 1.8 ms sooner (2 cores); spinning that goes on after the run made it slower.
            options.add_session_config_entry("session.intra_op.allow_spinning", "1")
            options.add_session_config_entry("session.force_spinning_stop", "1")
            self.sessions[threads] = ort.InferenceSession(self.data, options, providers=["CPUExecutionProvider"])
        return self.sessions[threads]


class OnnxTransformer(_Graph):
    """The exported transformer: ``(input_ids, attention_mask, token_type_ids) -> last hidden
    state``, as torch tensors."""

    def __init__(self, data: bytes, names: tuple[str, ...]):
        super().__init__(data)
        self.names = names

    @classmethod
    def from_file(cls, path: Path, names: tuple[str, ...]) -> "OnnxTransformer":
        return cls(path.read_bytes(), names)

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self.names:
            feeds["token_type_ids"] = token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids)
        arrays = {k: np.ascontiguousarray(v.cpu().numpy(), dtype=np.int64) for k, v in feeds.items()}
        (hidden,) = self.session().run(["hidden"], arrays)
        return torch.from_numpy(hidden)


def _onnx_gates(weight: np.ndarray) -> np.ndarray:
    """An LSTM weight or bias with its gates in ONNX's order (input, output, forget, cell) from
    torch's (input, forget, cell, output), along the first axis."""
    i, f, g, o = np.split(weight, 4, axis=0)
    return np.concatenate([i, o, f, g], axis=0)


def export_bilstm(lstm: torch.nn.LSTM, out: Path, precision: str, classifier: torch.nn.Linear | None = None) -> Path:
    """Write the one-layer bidirectional batch-first ``lstm`` (and the ``classifier`` that reads
    it, when given) as an ONNX graph into ``out`` (a folder): ``x`` (batch, width, input) float
    and ``lengths`` (batch,) int64 in; out, ``out``: (batch, width, 2 * hidden) the forward
    direction's outputs then the backward one's at each position, zero on the padding, as
    :func:`tagger.model.bilstm` gives them (each row's backward direction starts at its last real
    position), or the classifier's scores of those, (batch, width, num_tags). ONNX's LSTM
    operator, built from the weights rather than traced: torch exports its LSTM as that operator
    only for packed or unpadded sequences. ``onnx-int8``: the LSTM's weights int8 per row, the
    classifier in fp32 (a paragraph's BiLSTM 1.5 ms instead of 3.4 in torch, 2 cores; CoNLL dev
    F1 0.04 points below)."""
    _require()
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from .model import check_bilstm

    check_bilstm(lstm, "export_bilstm()")
    state = {k: v.detach().float().cpu().numpy() for k, v in lstm.state_dict().items()}
    size, hidden = lstm.input_size, lstm.hidden_size
    directions = ("l0", "l0_reverse")
    # shapes: (2, 4 * hidden, input), (2, 4 * hidden, hidden), (2, 8 * hidden): ONNX's W, R and B
    w = np.stack([_onnx_gates(state[f"weight_ih_{d}"]) for d in directions])
    r = np.stack([_onnx_gates(state[f"weight_hh_{d}"]) for d in directions])
    b = np.stack([np.concatenate([_onnx_gates(state[f"bias_ih_{d}"]), _onnx_gates(state[f"bias_hh_{d}"])])
                  for d in directions])
    nodes = [
        helper.make_node("Transpose", ["x"], ["steps"], perm=[1, 0, 2]),  # ONNX's LSTM reads (width, batch, input)
        helper.make_node("Cast", ["lengths"], ["lengths32"], to=TensorProto.INT32),
        helper.make_node("LSTM", ["steps", "W", "R", "B", "lengths32"], ["y"], direction="bidirectional",
                         hidden_size=hidden),
        # (width, 2, batch, hidden) -> (batch, width, 2 * hidden)
        helper.make_node("Transpose", ["y"], ["rows"], perm=[2, 0, 1, 3]),
        helper.make_node("Reshape", ["rows", "shape"], ["out" if classifier is None else "outputs"]),
    ]
    weights = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R"), numpy_helper.from_array(b, "B"),
               numpy_helper.from_array(np.array([0, 0, 2 * hidden], dtype=np.int64), "shape")]
    width = 2 * hidden
    if classifier is not None:
        nodes += [helper.make_node("MatMul", ["outputs", "classifier_weight"], ["scores"]),
                  helper.make_node("Add", ["scores", "classifier_bias"], ["out"])]
        weights += [numpy_helper.from_array(classifier.weight.detach().float().cpu().numpy().T.copy(), "classifier_weight"),
                    numpy_helper.from_array(classifier.bias.detach().float().cpu().numpy(), "classifier_bias")]
        width = classifier.out_features
    graph = helper.make_graph(
        nodes, "bilstm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "width", size]),
         helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", "width", width])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what onnxruntime reads
    out.mkdir(parents=True, exist_ok=True)
    fp32 = out / "bilstm-fp32.onnx"
    onnx.save(model, str(fp32))
    if precision == "onnx-fp32":
        return fp32
    return _int8(fp32, out / "bilstm-int8.onnx", "LSTM")


class OnnxBiLSTM(_Graph):
    """A head's exported BiLSTM (:func:`export_bilstm`), with its classifier when exported with
    one: ``(x, lengths) -> out``, as torch gives it."""

    @classmethod
    def from_file(cls, path: Path) -> "OnnxBiLSTM":
        return cls(path.read_bytes())

    def __call__(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        feeds = {"x": np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32),
                 "lengths": np.ascontiguousarray(lengths.cpu().numpy(), dtype=np.int64)}
        # one row (a paragraph on the Tag page) on one thread: the recurrence leaves a second
        # little to do, and waking it cost 0.4 ms of the paragraph's 2; batches on all of them
        (out,) = self.session(1 if x.shape[0] == 1 else None).run(["out"], feeds)
        return torch.from_numpy(out).to(x.device)


def _bilstm_file(target: Path, precision: str) -> Path:
    return target / f"bilstm-{precision.removeprefix('onnx-')}.onnx"


def bilstm_for(model, precision: str, folder: str | Path | None = None) -> OnnxBiLSTM | None:
    """The ONNX Runtime BiLSTM and classifier of ``model`` at ``precision``, tag scores out (None
    for a head without a BiLSTM): from
    the cache entry of ``folder`` when it has one, else exported now (into that entry when there
    is a folder). Exporting takes a fraction of a second (no tracing), so an entry cached before
    the BiLSTM was exported gets it on its next load."""
    if getattr(model, "lstm", None) is None:
        return None
    target = _entry(folder, precision)
    if target is None or not target.is_dir():  # no folder, or its transformer not cached (it is made first)
        with tempfile.TemporaryDirectory(prefix="seqlab-onnx-") as tmp:
            return OnnxBiLSTM.from_file(export_bilstm(model.lstm, Path(tmp), precision, model.classifier))
    done = _bilstm_file(target, precision)
    if not done.is_file():
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
        try:
            os.replace(export_bilstm(model.lstm, work, precision, model.classifier), done)  # atomic: a reader never sees half of it
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return OnnxBiLSTM.from_file(done)


def _key(folder: Path, precision: str) -> str:
    weights = folder / "model.safetensors"
    stat = weights.stat()
    # versions from the installed packages' metadata: importing transformers costs seconds
    parts = [str(folder.resolve()), str(stat.st_size), str(stat.st_mtime_ns), precision, EXPORT_RECIPE,
             f"int8-dot-product={int8_dot_product()}",
             torch.__version__, version("transformers"), version("onnxruntime")]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


TOKENIZER_FILE, RUNTIME_FILE = "tokenizer.json", "runtime.json"


def _graph(target: Path, precision: str) -> Path:
    return target / f"transformer-{precision.removeprefix('onnx-')}.onnx"


def _entry(folder: str | Path, precision: str) -> Path | None:
    """The cache folder of ``folder`` (a model folder) at ``precision``; None for a folder that is
    not one (a model held in memory)."""
    if folder is None or not (Path(folder) / "model.safetensors").is_file():
        return None
    return cache_root() / "onnx" / _key(Path(folder), precision)


def _write_tokenizer(tokenizer, names: tuple[str, ...], out: Path) -> None:
    """What :func:`load_cached` needs of the tokenizer and the transformer, written into ``out``
    (each file renamed into place, so a reader never sees half of one)."""
    info = {"inputs": list(names), "pad_token_id": tokenizer.pad_token_id, "unk_token_id": tokenizer.unk_token_id,
            "model_max_length": min(int(getattr(tokenizer, "model_max_length", 512) or 512), 1 << 30)}
    for name, text in ((TOKENIZER_FILE, tokenizer.backend_tokenizer.to_str()), (RUNTIME_FILE, json.dumps(info))):
        fd, tmp = tempfile.mkstemp(prefix=f".{name}-", dir=out)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, out / name)


def transformer_for(model, precision: str, folder: str | Path | None = None, tokenizer=None) -> OnnxTransformer:
    """The ONNX Runtime transformer of ``model`` at ``precision``: from the cache when ``folder``
    (the model's folder) was exported before, else exported now (and cached when there is a
    folder, with ``tokenizer`` when given, for :func:`load_cached`)."""
    _require()
    names = input_names(model.hf.base_model)
    target = _entry(folder, precision)
    if target is None:
        with tempfile.TemporaryDirectory(prefix="seqlab-onnx-") as tmp:
            return OnnxTransformer.from_file(export(model, Path(tmp), precision), names)
    done = _graph(target, precision)
    if not done.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
        try:
            export(model, work, precision)  # writes work / done.name
            if tokenizer is not None:
                _write_tokenizer(tokenizer, names, work)
            try:
                work.rename(target)  # atomic: another process may have finished first
            except OSError:
                pass
        finally:
            shutil.rmtree(work, ignore_errors=True)
    elif tokenizer is not None and not (target / RUNTIME_FILE).is_file():  # cached before the tokenizer was
        _write_tokenizer(tokenizer, names, target)
    return OnnxTransformer.from_file(done, names)


class CachedTokenizer:
    """A ``tokenizers`` tokenizer answering the calls :class:`tagger.encoding.TextEncoder` makes of
    a transformers fast tokenizer, with the same ids, offsets and words: transformers' fast
    tokenizers hand the texts to this same backend, with truncation and padding off."""

    is_fast = True

    def __init__(self, backend, pad_token_id: int | None, unk_token_id: int | None, model_max_length: int):
        backend.no_truncation()
        backend.no_padding()
        self.backend_tokenizer = backend
        self.pad_token_id, self.unk_token_id, self.model_max_length = pad_token_id, unk_token_id, model_max_length

    def __call__(self, text, add_special_tokens: bool = True, **_ignored) -> "_Encodings":
        single = isinstance(text, str)
        encodings = self.backend_tokenizer.encode_batch([text] if single else list(text),
                                                        add_special_tokens=add_special_tokens)
        return _Encodings(encodings, single)


class _Encodings:
    """``batch["input_ids"]``, ``batch["offset_mapping"]`` and ``batch.word_ids(i)``, as transformers gives them."""

    def __init__(self, encodings, single: bool):
        self.encodings, self.single = encodings, single
        self.rows: dict[str, list] = {}  # each field read once: TextEncoder indexes it text by text

    def __getitem__(self, key: str):
        if key not in self.rows:
            field = {"input_ids": "ids", "offset_mapping": "offsets"}[key]
            self.rows[key] = [getattr(e, field) for e in self.encodings]
        return self.rows[key][0] if self.single else self.rows[key]

    def word_ids(self, i: int = 0) -> list[int | None]:
        return self.encodings[i].word_ids


class _Exported(torch.nn.Module):
    """What stands in a loaded model for the transformers model when ONNX Runtime computes the
    transformer: its sizes and its token-classification layer (the emissions of encoder "none")."""

    def __init__(self, hidden_size: int, num_labels: int):
        super().__init__()
        self.config = SimpleNamespace(hidden_size=hidden_size, num_labels=num_labels)
        self.classifier = torch.nn.Linear(hidden_size, num_labels)


def load_cached(folder: str | Path, precision: str):
    """``(model, tokenizer, meta)`` of the model folder ``folder`` with its transformer in ONNX
    Runtime, built from the cache without transformers, or None when the folder has not been
    exported at ``precision`` yet (or was by a version that kept no tokenizer): then load it with
    :func:`tagger.store.load` and let :func:`transformer_for` export it."""
    from safetensors import safe_open

    from . import store
    from .model import SequenceTagger

    folder = Path(folder)
    meta = store.read_meta(folder)
    target = _entry(folder, precision)
    if target is None or not all((target / n).is_file() for n in (RUNTIME_FILE, TOKENIZER_FILE)) \
            or not _graph(target, precision).is_file():
        return None
    _require()
    from tokenizers import Tokenizer

    store.check_safe_dir(folder, require_weights=True)
    head = store.head_config(meta, folder / store.META_FILE)
    with store.load_errors(folder):
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        stand_in = _Exported(int(config["hidden_size"]), len(config.get("id2label") or {}) or len(head.tags))
        with safe_open(str(folder / "model.safetensors"), "pt") as weights:
            if not {"classifier.weight", "classifier.bias"} <= set(weights.keys()):
                return None  # a transformer whose classifier is named otherwise: the full load
            with torch.no_grad():  # copy_: a tensor of the wrong shape is an error, not a new layer
                stand_in.classifier.weight.copy_(weights.get_tensor("classifier.weight"))
                stand_in.classifier.bias.copy_(weights.get_tensor("classifier.bias"))
        model = store.load_head(SequenceTagger(stand_in, head), folder)
    try:  # the cache's own files: one that cannot be read is a broken entry, made again
        info = json.loads((target / RUNTIME_FILE).read_text(encoding="utf-8"))
        tokenizer = CachedTokenizer(Tokenizer.from_file(str(target / TOKENIZER_FILE)), info["pad_token_id"],
                                    info["unk_token_id"], int(info["model_max_length"]))
        transformer = OnnxTransformer.from_file(_graph(target, precision), tuple(info["inputs"]))
        transformer.session()
        lstm = bilstm_for(model, precision, folder)
        if lstm is not None:
            lstm.session()
    except Exception as exc:  # noqa: BLE001 - tokenizers and onnxruntime raise bare Exceptions
        log.warning("the ONNX cache entry %s cannot be read (%s); exporting again", target, str(exc)[:200])
        shutil.rmtree(target, ignore_errors=True)
        return None
    model.runtime, model.lstm_runtime = transformer, lstm
    return model.eval(), tokenizer, meta

