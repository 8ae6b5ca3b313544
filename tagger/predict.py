"""Prediction: texts in, spans with confidence out, whatever the texts' length.

Windows of all texts are run in length-sorted batches; the emissions of
overlapping windows are merged (each subword takes the window where it sits
farthest from an edge) and the whole text is decoded at once, so a span across a
window border is neither cut nor doubled.
"""

from __future__ import annotations

import copy
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import store
from .config import FAST_PRECISION, PRECISIONS
from .encoding import Encoded, TextEncoder, Window, length_batches, unit_spans, with_predicate, word_heads
from .model import SequenceTagger, content_mask
from .schemes import tags_to_spans
from .spans import Frame, SeqLabError, Span

PREDICATES_DIR = "predicates"  # a frames model's predicate finder: a spans model in this subfolder


UNSURE_BELOW = 0.6  # a span, or a word's "not an entity", the model gives less probability than this


@dataclass(frozen=True)
class Prediction:
    """What the model makes of one text, with how sure it is.

    ``uncertainty``: 1 minus the geometric mean, over the text's words, of the probability the
    model gives the tag it chose for the word (CRF marginals or softmax); 0 for a text the model
    is sure of, towards 1 for one it is not; normalised by length, so a long sentence is not
    uncertain merely for being long (Shen et al. 2017's MNLP, on marginals): how unsure the model
    is of the text, what Annotate shows. ``unsure``: the spans scored below :data:`UNSURE_BELOW`,
    and the words tagged "no entity" whose probability of being one is above
    ``1 - UNSURE_BELOW`` (possible misses, labelled with the likeliest label).

    ``expected_errors``: the sum over the words of 1 minus the chosen tag's probability, i.e. how
    many of the text's words the model expects to have tagged wrongly; 0 for a text it is sure of,
    at most the number of words. It grows with what a correction would teach the model, and is
    what the annotation queue is ranked by (``services.loop.rank_queue``, ``python -m tagger
    rank``): ranked by ``uncertainty``, the queue asked for headlines and score lines of a few
    words, and 200 such corrections taught less than 200 sentences drawn at random
    (bench/al_strategies.py, bench/learning_curve.py). Both are 0 when ``analyse`` is called with
    ``detailed=False``.
    """

    spans: list[Span]
    uncertainty: float
    unsure: list[Span]
    expected_errors: float = 0.0


class Tagger:
    """A loaded model ready to tag texts: ``Tagger.load(dir).predict(texts)``."""

    def __init__(self, model: SequenceTagger, tokenizer, meta: dict | None = None,
                 max_length: int | None = None, stride: int = 64, batch_size: int = 32,
                 quantize: bool = False, precision: str | None = None, folder: str | Path | None = None):
        """``precision``: one of :data:`PRECISIONS`; when None, :data:`FAST_PRECISION` if
        ``quantize`` else fp32. ``folder``: the model's folder, where an ONNX export is cached by."""
        precision = _precision(precision, quantize)
        if precision not in PRECISIONS:
            raise SeqLabError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.precision = precision
        if precision == "int8":
            self.model = quantize_int8(model.eval())
        elif precision.startswith("onnx-"):
            from .runtime import bilstm_for, transformer_for

            self.model = copy.copy(model.eval())  # the caller's model keeps computing in torch
            if model.runtime is None:  # (a model from runtime.load_cached has its runtimes already)
                self.model.runtime = transformer_for(model, precision, folder, tokenizer)
                self.model.lstm_runtime = bilstm_for(model, precision, folder)
        else:
            self.model = model.eval()
        self.meta = meta or {}
        # windows as long as those the model was trained on, unless asked otherwise
        max_length = max_length or self.meta.get("train_config", {}).get("max_length", 256)
        self.encoder = TextEncoder(tokenizer, max_length=max_length, stride=stride, lexicon=model.head.lexicon,
                                   bigrams=model.head.bigram_buckets > 0, casing=model.head.encoder != "none",
                                   suffixes=model.head.suffix_buckets > 0, word_hashes=model.head.word_buckets > 0)
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        self.finder: Tagger | None = None  # frames: the predicate finder, when the folder has one

    @property
    def task(self) -> str:
        return self.model.head.task

    @classmethod
    def load(cls, path: str | Path, **kwargs) -> "Tagger":
        """Load a SeqLab model folder (safetensors only); a frames model with its predicate finder.

        At an ONNX precision, a folder exported before loads from the cache without transformers
        (``runtime.load_cached``): seconds less start-up."""
        precision = _precision(kwargs.get("precision"), kwargs.get("quantize", False))
        loaded = None
        if precision.startswith("onnx-"):
            from .runtime import load_cached

            loaded = load_cached(path, precision)
        model, tokenizer, meta = loaded or store.load(path)
        tagger = cls(model, tokenizer, meta, folder=path, **kwargs)
        if model.head.task == "frames" and (Path(path) / PREDICATES_DIR).is_dir():
            tagger.finder = cls.load(Path(path) / PREDICATES_DIR, **kwargs)
        return tagger

    # ------------------------------------------------------------ task "tags"

    def predict_tags(self, texts: Sequence[str], units: Sequence[Sequence[tuple[int, int]]] | None = None
                     ) -> list[list[Span]]:
        """Task ``tags``: one span per word of each text, labelled with its tag, ``score`` the
        probability of that tag. The words are ``units`` (``[start, end)`` per word, e.g. a
        file's tokens) or, when None, the tokenizer's words (whitespace and punctuation)."""
        if self.task != "tags":
            raise SeqLabError(f"this is a {self.task} model, not a tags model")
        encoded = self.encoder.encode(texts)
        windows = [w for w in self.encoder.windows([len(e) for e in encoded]) if w.end > w.start]
        merged = _merge(encoded, windows, self._emissions(encoded, windows))
        words = [list(units[i]) if units is not None else unit_spans(e) for i, e in enumerate(encoded)]
        rows = []
        for i, enc in enumerate(encoded):
            heads = word_heads(enc, words[i]) if units is not None else word_heads(enc)
            scores = torch.zeros(len(heads), len(self.model.head.tags))
            for j, k in enumerate(heads):
                if k >= 0:
                    scores[j] = merged[i][k]
            rows.append(scores)
        return self._decode_words(rows, words)

    @torch.inference_mode()
    def _decode_words(self, rows: list[torch.Tensor], words: list[list[tuple[int, int]]]) -> list[list[Span]]:
        out: list[list[Span]] = [[] for _ in rows]
        tags = self.model.head.tags
        order = [i for i in sorted(range(len(rows)), key=lambda i: -len(rows[i])) if len(rows[i])]
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            lengths = torch.tensor([len(rows[i]) for i in chunk])
            scores = torch.nn.utils.rnn.pad_sequence([rows[i] for i in chunk], batch_first=True)
            mask = content_mask(lengths, scores.shape[1])
            paths, probs = self.model.decode(scores.to(self.device), mask.to(self.device))
            probs = probs.cpu().numpy()
            for row, i in enumerate(chunk):
                out[i] = [Span(a, b, tags[t], round(float(probs[row, j, t]), 4))
                          for j, ((a, b), t) in enumerate(zip(words[i], paths[row]))]
        return out

    # ------------------------------------------------------------ task "frames"

    def predict_frames(self, texts: Sequence[str], predicates: Sequence[Sequence[Span]] | None = None
                       ) -> list[list[Frame]]:
        """Task ``frames``: each text's frames, the arguments scored. ``predicates``: the
        predicates of each text (spans labelled with their sense), e.g. gold ones; when None,
        the model's predicate finder finds them."""
        if self.task != "frames":
            raise SeqLabError(f"this is a {self.task} model, not a frames model")
        if predicates is None:
            predicates = self.find_predicates(texts)
        return [[frame for frame, _ in row] for row in self._frames(texts, predicates, detailed=False)]

    def _frames(self, texts: Sequence[str], predicates: Sequence[Sequence[Span]], detailed: bool
                ) -> list[list[tuple[Frame, Prediction]]]:
        """Each text's frames for the given predicates, each with its arguments' Prediction."""
        encoded = self.encoder.encode(texts)
        rows, owners = [], []
        for i, enc in enumerate(encoded):
            for p in predicates[i]:
                rows.append(with_predicate(enc, p.start, p.end))
                owners.append((i, p))
        windows = [w for w in self.encoder.windows([len(e) for e in rows]) if w.end > w.start]
        merged = _merge(rows, windows, self._emissions(rows, windows))
        found = self._decode(rows, merged, detailed=detailed)
        out: list[list[tuple[Frame, Prediction]]] = [[] for _ in texts]
        for (i, p), prediction in zip(owners, found):
            arguments = tuple(a for a in prediction.spans if not (a.start < p.end and p.start < a.end))
            out[i].append((Frame(p, arguments), prediction))
        return out

    def find_predicates(self, texts: Sequence[str]) -> list[list[Span]]:
        """The predicates of raw texts, by the predicate finder, each labelled with its sense (the
        training data's commonest sense for the word, else the word lowercased + ".01")."""
        return [self._senses(text, spans) for text, spans in zip(texts, self._finder().predict(texts))]

    def _finder(self) -> Tagger:
        if self.finder is None:
            raise SeqLabError("this frames model has no predicate finder: give the predicates")
        return self.finder

    def _senses(self, text: str, spans: Sequence[Span]) -> list[Span]:
        senses = self._finder().meta.get("senses", {})
        return [Span(s.start, s.end, senses.get(text[s.start:s.end].lower(), text[s.start:s.end].lower() + ".01"),
                     s.score) for s in spans]

    def _analyse_frames(self, texts: Sequence[str], detailed: bool) -> list[Prediction]:
        """A frames text's Prediction, for ranking and the CLI's ``rank``: its spans are the
        predicates the finder found (with senses); its expected errors the finder's plus those of
        each predicate's argument tags; its uncertainty the largest of the finder's and the
        frames'; unsure, the predicates and arguments scored below :data:`UNSURE_BELOW`."""
        found = self._finder().analyse(texts, detailed)
        predicated = [self._senses(t, p.spans) for t, p in zip(texts, found)]
        out = []
        for predicates, finder, row in zip(predicated, found, self._frames(texts, predicated, detailed)):
            if not detailed:
                out.append(Prediction(predicates, 0.0, []))
                continue
            uncertainty = max([finder.uncertainty, *(p.uncertainty for _, p in row)])
            errors = finder.expected_errors + sum(p.expected_errors for _, p in row)
            unsure = [s for s in predicates if s.score is not None and s.score < UNSURE_BELOW]
            unsure += [a for frame, _ in row for a in frame.arguments if a.score is not None and a.score < UNSURE_BELOW]
            out.append(Prediction(predicates, round(uncertainty, 6), sorted(set(unsure)), round(errors, 6)))
        return out

    def predict(self, texts: Sequence[str]) -> list[list[Span]]:
        """Spans (with ``score``) for each text, in the order given."""
        return [p.spans for p in self.analyse(texts, detailed=False)]

    def analyse(self, texts: Sequence[str], detailed: bool = True) -> list[Prediction]:
        """:class:`Prediction` (spans, uncertainty, unsure spans) for each text, in the order given."""
        if self.task == "tags":
            return [_word_prediction(words, detailed) for words in self.predict_tags(texts)]
        if self.task == "frames":
            return self._analyse_frames(texts, detailed)
        encoded = self.encoder.encode(texts)
        windows = [w for w in self.encoder.windows([len(e) for e in encoded]) if w.end > w.start]
        emissions = self._emissions(encoded, windows)
        merged = _merge(encoded, windows, emissions)
        return self._decode(encoded, merged, detailed)

    @torch.inference_mode()
    def _emissions(self, encoded, windows) -> list[torch.Tensor]:
        if self.model.runtime is None:
            return self._batched_emissions(encoded, windows)
        from .runtime import head_on_one_thread

        with head_on_one_thread():
            return self._batched_emissions(encoded, windows)

    def _batched_emissions(self, encoded, windows) -> list[torch.Tensor]:
        out: list[torch.Tensor | None] = [None] * len(windows)
        offset = len(self.encoder.prefix)
        for group in length_batches(windows, self.batch_size):
            batch = self.encoder.batch(encoded, [windows[i] for i in group])
            batch = {k: v.to(self.device) for k, v in batch.items()}
            scores = self.model.emissions(batch, offset).float().cpu()
            for row, i in enumerate(group):
                out[i] = scores[row, : int(batch["lengths"][row])]
        return out

    @torch.inference_mode()
    def _decode(self, encoded: list[Encoded], merged: list[torch.Tensor], detailed: bool) -> list[Prediction]:
        results = [Prediction([], 0.0, []) for _ in encoded]
        order = sorted((i for i in range(len(encoded)) if len(encoded[i])), key=lambda i: -len(encoded[i]))
        tags = self.model.head.tags
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            lengths = torch.tensor([len(encoded[i]) for i in rows])
            scores = torch.nn.utils.rnn.pad_sequence([merged[i] for i in rows], batch_first=True)
            mask = content_mask(lengths, scores.shape[1])
            paths, probs = self.model.decode(scores.to(self.device), mask.to(self.device))
            probs = probs.cpu().numpy()  # scalar reads below: NumPy's are ~50x cheaper
            for row, i in enumerate(rows):
                path = _word_consistent(paths[row], encoded[i].words, tags)
                spans = _spans(encoded[i], path, probs[row], tags)
                results[i] = (_prediction(encoded[i], path, probs[row], tags, spans) if detailed
                              else Prediction(spans, 0.0, []))
        return results


def _precision(precision: str | None, quantize: bool) -> str:
    """The precision asked for; when none, :data:`FAST_PRECISION` if ``quantize`` else fp32."""
    return precision or (FAST_PRECISION if quantize else "fp32")


_ALL_THREADS = torch.get_num_threads()


def share_cpu(with_training: bool) -> None:
    """Predict on one thread while a training job runs on the same cores, on all of them otherwise.

    On 2 cores beside a training process, two threads tag a 100-word paragraph in ~35 ms p50 but
    ~2.5 s p95: the two processes' threads wait on each other. One thread keeps p95 near 55 ms
    (``bench/contention.py``). Process-wide, like ``torch.set_num_threads``.
    """
    torch.set_num_threads(1 if with_training else _ALL_THREADS)


def quantize_int8(model: SequenceTagger) -> SequenceTagger:
    """A copy with dynamic int8 linear layers (int8 weights per output channel).

    The classifiers stay in fp32: quantizing the last layer cost the most F1 for the least
    time (bench/speed.py). The CRF and the decoding stay in fp32 too. The tests compare its
    predictions with fp32.
    """
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    spec = {name: per_channel_dynamic_qconfig for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and "classifier" not in name}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice; the API still works
        return quantize_dynamic(model, spec, dtype=torch.qint8)


def _merge(encoded: list[Encoded], windows: list[Window], emissions: list[torch.Tensor]) -> list[torch.Tensor]:
    """One (len, num_tags) tensor per text: each subword from its most central window."""
    merged: list[torch.Tensor | None] = [None] * len(encoded)
    best: dict[int, torch.Tensor] = {}
    for w, e in zip(windows, emissions):
        if w.start == 0 and w.end == len(encoded[w.item]):  # the text's one window (most texts)
            merged[w.item] = e
            continue
        if merged[w.item] is None:
            merged[w.item] = torch.zeros(len(encoded[w.item]), e.shape[-1])
            best[w.item] = torch.full((len(encoded[w.item]),), -1)
        n = len(encoded[w.item])
        pos = torch.arange(w.start, w.end)
        # distance to the nearer window edge; the text's own ends are not window edges
        left = pos - w.start if w.start > 0 else torch.full_like(pos, n)
        right = w.end - 1 - pos if w.end < n else torch.full_like(pos, n)
        centrality = torch.minimum(left, right)
        take = centrality > best[w.item][w.start : w.end]
        merged[w.item][w.start : w.end][take] = e[take]
        best[w.item][w.start : w.end][take] = centrality[take]
    return [m if m is not None else torch.zeros(0, 1) for m in merged]


def _word_consistent(path: list[int], words: Sequence[int], tags: Sequence[str]) -> list[str]:
    """Tag names with every subword of a word following the word's first subword."""
    out, prev_word = [], None
    for tag_id, word in zip(path, words):
        tag = tags[tag_id]
        if word == prev_word:
            head = out[-1]
            tag = "O" if head == "O" else "I-" + head.split("-", 1)[1]
        out.append(tag)
        prev_word = word
    return out


def _word_prediction(words: list[Span], detailed: bool) -> Prediction:
    """A ``tags`` text's Prediction: its words, and how sure the model is of their tags."""
    if not detailed or not words:
        return Prediction(words, 0.0, [])
    chosen = np.clip(np.array([w.score for w in words], dtype=float), 0.0, 1.0)
    uncertainty = float(1.0 - np.exp(np.log(np.clip(chosen, 1e-9, 1.0)).mean()))
    unsure = [w for w in words if w.score < UNSURE_BELOW]
    return Prediction(words, round(uncertainty, 6), unsure, round(float((1.0 - chosen).sum()), 6))


def _prediction(encoded: Encoded, tags: list[str], probs: np.ndarray, tag_names: Sequence[str],
                spans: list[Span]) -> Prediction:
    """Spans with the text's uncertainty and the spans and words the model is unsure of."""
    index = {t: i for i, t in enumerate(tag_names)}
    heads = [k for k, w in enumerate(encoded.words) if k == 0 or encoded.words[k - 1] != w]  # first subwords
    chosen = np.clip(probs[heads, [index[tags[k]] for k in heads]], 0.0, 1.0)
    uncertainty = float(1.0 - np.exp(np.log(np.clip(chosen, 1e-9, 1.0)).mean())) if heads else 0.0
    expected_errors = float((1.0 - chosen).sum())
    unsure = [s for s in spans if s.score is not None and s.score < UNSURE_BELOW]
    outside = index.get("O")
    if outside is not None:
        labels = [t.split("-", 1)[1] if "-" in t else None for t in tag_names]
        word_end = {w: b for (_, b), w in zip(encoded.offsets, encoded.words)}  # the last subword's end wins
        for k in heads:
            if tags[k] == "O" and probs[k, outside] < UNSURE_BELOW:
                p, j = max((probs[k, j], j) for j in range(len(tag_names)) if labels[j])
                unsure.append(Span(encoded.offsets[k][0], word_end[encoded.words[k]], labels[j], round(float(p), 4)))
    return Prediction(spans, round(uncertainty, 6), sorted(unsure), round(expected_errors, 6))


def _spans(encoded: Encoded, tags: list[str], probs: np.ndarray, tag_names: Sequence[str]) -> list[Span]:
    """Spans from subword tags, scored by the mean probability of their subwords' tags."""
    index = {t: i for i, t in enumerate(tag_names)}
    starts = [a for a, _ in encoded.offsets]
    out = []
    for span in tags_to_spans(encoded.offsets, tags, "IOB2"):
        first = bisect_left(starts, span.start)
        last = bisect_left(starts, span.end)
        cover = range(first, last)
        score = float(sum(probs[k, index[tags[k]]] for k in cover) / len(cover))
        out.append(Span(span.start, span.end, span.label, round(score, 4)))
    return out
