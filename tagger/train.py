"""Fine-tuning: a frozen TrainConfig in, a TrainResult (best epoch's model) out.

AdamW with warm-up and linear decay, length-grouped batches with dynamic
padding, gradient clipping, seeded; dev evaluation each epoch keeps the best
epoch. ``progress`` receives a :class:`Progress` every step; ``should_cancel`` is
polled every step so the background worker can stop a job within a second.

Scoring a large dev set every epoch can cost more than the training itself on
small data (the CoNLL dev set takes ~10 s on 2 cores, an epoch over 200 sentences
~5 s), so ``epoch_dev`` can limit the per-epoch scoring to a stable sample
(:func:`dev_sample`); the kept epoch is then scored once on all of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from . import store
from .distributed import World, from_main, share, total, world
from .encoding import IGNORE, TextEncoder, Window, align_tags, align_word_tags, with_predicate
from .evaluate import Report, evaluate, evaluate_frames, evaluate_tags
from .lexicon import mostly_chinese
from .config import TrainConfig  # noqa: F401  (defined apart so the CLI builds its flags without importing this)
from .model import HeadConfig, SequenceTagger, bf16_lstm, content_mask
from .predict import PREDICATES_DIR, Tagger
from .schemes import AlignmentWarning, tag_names
from .spans import Example, SeqLabError, Span

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Progress:
    """One step's news for a progress bar or the job table."""

    step: int
    total: int
    epoch: int
    loss: float
    tokens_per_s: float
    eta_s: float
    dev_f1: float | None = None


@dataclass
class TrainResult:
    """The trained model (best epoch), its dev report and what went into it."""

    model: SequenceTagger
    tokenizer: object
    config: TrainConfig
    report: Report | None
    history: list[dict]
    warnings: list[AlignmentWarning]
    fingerprint: str
    train_docs: int
    dev_docs: int
    seconds: float
    tokens_per_s: float
    eval_seconds: float = 0.0  # of ``seconds``: spent scoring the dev documents
    epoch_dev_docs: int | None = None  # dev documents scored each epoch, when fewer than ``dev_docs``
    world_size: int = 1  # training processes (torchrun; see tagger.distributed)

    def meta(self) -> dict:
        """What ``seqlab.json`` records about this run."""
        return {
            "labels": head_labels(self.model.head),
            "task": self.model.head.task,
            "scheme": "IOB2",
            "decoder": self.model.head.decoder,
            "encoder": self.model.head.encoder,
            "train_config": {**asdict(self.config), "world_size": self.world_size},
            "data": {"fingerprint": self.fingerprint, "train_docs": self.train_docs, "dev_docs": self.dev_docs,
                     **({"epoch_dev_docs": self.epoch_dev_docs} if self.epoch_dev_docs is not None else {})},
            "metrics": self.report.to_dict() if self.report else None,
            "history": self.history,
            "train_seconds": round(self.seconds, 1),
            "train_tokens_per_s": round(self.tokens_per_s, 1),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    finder: "TrainResult | None" = None  # frames: the predicate finder trained beside
    senses: dict | None = None  # frames: word (lowercased) -> its commonest sense in the training data

    def save(self, out_dir: str | Path, extra_meta: dict | None = None) -> Path:
        meta = {**self.meta(), **(extra_meta or {})}
        if self.finder is not None and self.finder.report is not None:
            meta["predicate_metrics"] = self.finder.report.to_dict()
        out = store.save(self.model, self.tokenizer, out_dir, meta)
        if self.finder is not None:
            self.finder.save(out / PREDICATES_DIR, {"senses": self.senses or {}})
        return out

    def tagger(self) -> Tagger:
        tagger = Tagger(self.model, self.tokenizer, self.meta(), max_length=self.config.max_length)
        if self.finder is not None:
            tagger.finder = self.finder.tagger()
            tagger.finder.meta["senses"] = self.senses or {}
        return tagger


def head_labels(head: HeadConfig) -> list[str]:
    """The labels a model's tags carry: entity types, word tags or roles."""
    if head.task == "tags":
        return sorted(head.tags[1:])
    return sorted({t.split("-", 1)[1] for t in head.tags if t != "O"})


def shuffled_length_batches(lengths: Sequence[int], size: int, rng: random.Random,
                            chunk_batches: int = TrainConfig.length_chunk) -> list[list[int]]:
    """Indices of ``lengths`` in batches of ``size``: shuffled, cut into chunks of ``chunk_batches``
    batches, each chunk sorted by length and cut into batches, then the batches shuffled.

    Small chunks give nearly the padding of length-sorted batches at the F1 of random ones.
    Sorting chunks of 50 batches (as transformers' ``group_by_length`` does) fills batches with one
    kind of line (the two-word "LONDON 1996-08-30" lines together) and cost 1.4-3.3 dev F1 points
    against ``Trainer`` at the same seed (2,000 CoNLL sentences, 2 epochs); chunks of 4 trained as
    fast (1,400-1,450 against 1,400-1,600 tokens/s) and reached 0.726 and 0.664 against
    Trainer's 0.707 and 0.671 (bench/speed.py).
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = size * chunk_batches
    batches = []
    for i in range(0, len(order), chunk):
        part = sorted(order[i : i + chunk], key=lambda j: lengths[j])
        batches += [part[k : k + size] for k in range(0, len(part), size)]
    rng.shuffle(batches)
    return batches


class TrainingCancelled(Exception):
    """Raised inside train() when ``should_cancel`` says so; nothing is saved."""


def fingerprint(examples: Sequence[Example]) -> str:
    """A stable hash of texts, spans and frames (order-independent)."""
    rows = sorted(json.dumps([e.text, [s.key() for s in e.spans]]
                             + ([[[f.predicate.key(), [a.key() for a in f.arguments]] for f in e.frames]]
                                if e.frames else []), ensure_ascii=False) for e in examples)
    return hashlib.sha256("\n".join(rows).encode("utf-8")).hexdigest()[:16]


def dev_sample(dev_data: Sequence[Example], limit: int) -> list[Example]:
    """At most ``limit`` of ``dev_data``, chosen by a hash of each text (the same ones every run,
    whatever their order), kept in their original order."""
    if limit >= len(dev_data):
        return list(dev_data)

    def key(i: int) -> str:
        return hashlib.sha256(dev_data[i].text.encode("utf-8")).hexdigest()
    return [dev_data[i] for i in sorted(sorted(range(len(dev_data)), key=key)[:max(0, limit)])]


def train(
    train_data: Sequence[Example],
    dev_data: Sequence[Example] = (),
    config: TrainConfig = TrainConfig(),
    labels: Sequence[str] | None = None,
    warm_start: str | Path | None = None,
    progress: Callable[[Progress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    device: str = "cpu",
    *,
    epoch_dev: int | None = None,
) -> TrainResult:
    """Fine-tune a tagger on ``train_data``; evaluate on ``dev_data`` every epoch.

    ``epoch_dev``: score each epoch on at most this many dev documents (:func:`dev_sample`) to
    choose the best epoch and report progress, then score that epoch once on all of ``dev_data``
    for the result's report. None: every epoch on all of them.
    """
    started = time.perf_counter()
    here = world(device)  # one process, or one of torchrun's (then rank 0 evaluates and reports)
    device = here.device(device)
    _seed(config.seed)
    if not train_data:
        raise SeqLabError("no training documents")
    if config.task == "auto":
        config = replace(config, task="frames" if any(e.frames for e in train_data) else "spans")
    if config.lexicon is None:
        config = replace(config, lexicon=mostly_chinese(e.text for e in train_data))
    if config.bf16 is None:
        config = replace(config, bf16=native_bf16(device))
    task = config.task
    if task == "frames":
        label_set = sorted(set(labels or ()) | {a.label for e in train_data for f in e.frames for a in f.arguments})
    else:
        label_set = sorted(set(labels or ()) | {s.label for e in train_data for s in e.spans})
    if not label_set:
        raise SeqLabError("the training documents have no spans and no labels were given")
    tags = ("O", *label_set) if task == "tags" else tuple(tag_names(label_set, "IOB2"))
    head = HeadConfig(tags, config.decoder, config.encoder,
                      lstm_hidden=config.lstm_hidden, dropout=config.dropout,
                      unseen_buckets=config.unseen_buckets if config.encoder == "bilstm" else 0,
                      task=task, predicate=config.predicate,
                      suffix_buckets=config.suffix_buckets if config.encoder == "bilstm" else 0,
                      predicate_vector=config.predicate_vector and config.encoder == "bilstm",
                      lexicon=config.lexicon and config.encoder == "bilstm",
                      bigram_buckets=config.bigram_buckets if config.encoder == "bilstm" else 0,
                      word_buckets=config.word_buckets if config.encoder == "bilstm" else 0)
    model, tokenizer = _initial_model(config, head, warm_start)
    model.hf.get_input_embeddings().weight.requires_grad_(not config.freeze_embeddings)
    if model.head.encoder != "none":  # the transformer's own classifier is bypassed: no gradient to wait for
        for name, param in model.hf.named_parameters():
            if name.startswith("classifier."):
                param.requires_grad_(False)
    model.to(device)
    encoder = TextEncoder(tokenizer, config.max_length, config.stride, lexicon=model.head.lexicon,
                          bigrams=model.head.bigram_buckets > 0, word_hashes=model.head.word_buckets > 0)
    encoded, tag_ids, warnings = _aligned(encoder, train_data, model.head)
    windows = [w for w in encoder.windows([len(e) for e in encoded]) if w.end > w.start]
    if not windows:
        raise SeqLabError("the training documents hold nothing to learn from (no frames?)")
    loop = _Loop(model, encoder, encoded, windows, tag_ids, config, progress, should_cancel, here)
    sample = dev_sample(dev_data, epoch_dev) if epoch_dev is not None else list(dev_data)
    history, report = loop.run(sample)
    if len(sample) < len(dev_data) and here.main:
        report = loop.evaluate(dev_data)
    finder = senses = None
    if task == "frames" and config.predicate_finder:  # the predicates of raw text: a spans model over the same sentences
        finder = train([predicate_example(e) for e in train_data], [predicate_example(e) for e in dev_data],
                       replace(config, task="spans"), labels=["V"], progress=progress, should_cancel=should_cancel,
                       device=device, epoch_dev=epoch_dev)
        senses = common_senses(train_data)
    elif task == "frames":
        senses = common_senses(train_data)
    seconds = time.perf_counter() - started
    return TrainResult(model.eval(), tokenizer, config, report, history, warnings, fingerprint(train_data),
                       len(train_data), len(dev_data), seconds, loop.tokens_per_s(), loop.eval_seconds,
                       len(sample) if len(sample) < len(dev_data) else None, here.size, finder, senses)


def _aligned(encoder: TextEncoder, data: Sequence[Example], head: HeadConfig):
    """(encoded rows, tag ids per row, alignment warnings) of the training data for ``head.task``:
    a row per text, or for frames a row per predicate (its arguments, the predicate flagged)."""
    index = {t: i for i, t in enumerate(head.tags)}
    encoded = encoder.encode([e.text for e in data])
    if head.task == "frames":
        rows, examples = [], []
        for enc, ex in zip(encoded, data):
            for f in ex.frames:
                rows.append(with_predicate(enc, f.predicate.start, f.predicate.end))
                examples.append(Example(ex.text, f.arguments))
        encoded, data = rows, examples
    align = align_word_tags if head.task == "tags" else align_tags
    aligned = [align(enc, ex, index) for enc, ex in zip(encoded, data)]
    return encoded, [a[0] for a in aligned], [w for a in aligned for w in a[1]]


def predicate_example(example: Example) -> Example:
    """A frames example as the predicate finder's: its predicates as spans labelled "V"."""
    spans = sorted({(f.predicate.start, f.predicate.end) for f in example.frames})
    return Example(example.text, tuple(Span(a, b, "V") for a, b in spans), example.meta)


def common_senses(data: Sequence[Example]) -> dict[str, str]:
    """Each predicate word (lowercased) -> the sense it has most often in ``data``."""
    counts: dict[str, Counter] = {}
    for e in data:
        for f in e.frames:
            if f.predicate.label != "-":
                counts.setdefault(e.text[f.predicate.start : f.predicate.end].lower(), Counter())[f.predicate.label] += 1
    return {word: c.most_common(1)[0][0] for word, c in sorted(counts.items())}


def score(tagger: Tagger, data: Sequence[Example]):
    """The dev report of ``tagger`` on ``data`` for its task: a Report (spans; frames with gold
    predicates) or a TagReport (tags, on the data's own words)."""
    texts = [e.text for e in data]
    if tagger.task == "tags":
        return evaluate_tags(data, tagger.predict_tags(texts, [[(s.start, s.end) for s in e.spans] for e in data]))
    if tagger.task == "frames":
        return evaluate_frames(data, tagger.predict_frames(texts, [[f.predicate for f in e.frames] for e in data]))
    return evaluate(data, tagger.predict(texts))


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` computes bfloat16 natively, so that autocast makes a step faster.

    On CPUs with AMX tiles (Intel Xeon from Sapphire Rapids on) a training step of the default
    model over a CoNLL batch of 32 takes 1.4x less time under bfloat16 autocast, one of 8 the same
    (too little work per matrix product to gain); bench/speed.py gives whole runs, four seeds within
    0.11 F1 points of float32. Elsewhere on CPU bfloat16 is emulated and slower than float32.
    GPUs: what torch says they support (Ampere and later)."""
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    try:  # private helpers of torch.cpu; a torch without them gets float32
        return bool(torch.cpu._is_amx_tile_supported() and bf16_lstm())
    except (AttributeError, RuntimeError):
        return False


def _seed(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def _initial_model(config: TrainConfig, head: HeadConfig, warm_start) -> tuple[SequenceTagger, object]:
    """A model from the base transformer, or warm-started from a SeqLab checkpoint."""
    if warm_start is None:
        return store.build(config.base_model, head)
    old, tokenizer, _ = store.load(warm_start)
    tags = tuple(dict.fromkeys(old.head.tags + head.tags))  # keep the old order, add new tags
    head = HeadConfig.from_dict({**head.to_dict(), "tags": tags})
    if head == old.head:
        return old.train(), tokenizer
    new, tokenizer = store.build(str(warm_start), head)
    _transfer(old, new)
    return new, tokenizer


def _transfer(old: SequenceTagger, new: SequenceTagger) -> None:
    """Copy every weight whose role is unchanged; rows of tags both models share."""
    old_index = {t: i for i, t in enumerate(old.head.tags)}
    pairs = [(j, old_index[t]) for j, t in enumerate(new.head.tags) if t in old_index]
    new_ids, old_ids = torch.tensor([p[0] for p in pairs]), torch.tensor([p[1] for p in pairs])
    old_state, new_state = old.state_dict(), new.state_dict()
    with torch.no_grad():
        for key, value in new_state.items():
            if key not in old_state or "allowed" in key:  # masks follow the tags, not the data
                continue
            src = old_state[key]
            if src.shape == value.shape and not _is_tag_axis(key, value, len(new.head.tags)):
                value.copy_(src)
            elif key.endswith("transitions") and value.dim() == 2:
                value[new_ids[:, None], new_ids[None, :]] = src[old_ids[:, None], old_ids[None, :]]
            elif value.shape[0] == len(new.head.tags) and src.shape[0] == len(old.head.tags):
                value[new_ids] = src[old_ids]


def _is_tag_axis(key: str, value: torch.Tensor, k: int) -> bool:
    return ("classifier" in key or "transitions" in key) and value.shape[0] == k


class _Loop:
    """The optimisation loop, kept apart so train() reads at a glance."""

    def __init__(self, model, encoder, encoded, windows, tag_ids, config, progress, should_cancel,
                 here: World = World()):
        self.model, self.encoder, self.encoded = model, encoder, encoded
        self.here = here
        self.progress = progress if here.main else None
        self.windows: list[Window] = windows
        self.tag_ids, self.config = tag_ids, config
        self.should_cancel = should_cancel
        self.steps_per_epoch = math.ceil(len(windows) / config.batch_size)
        self.total = self.steps_per_epoch * config.epochs
        self.optimizer = _optimizer(model, config)
        warmup = int(self.total * config.warmup_ratio)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: min((s + 1) / max(1, warmup), max(0.0, (self.total - s) / max(1, self.total - warmup)))
        )
        self.tokens, self.busy, self.eval_seconds = 0, 0.0, 0.0
        self.device = next(model.parameters()).device
        self.rng = random.Random(config.seed)  # the same on every process: the same global batches
        self.loss_of = _LossOf(model)
        if here.size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.loss_of = DistributedDataParallel(self.loss_of, device_ids=ids)  # averages the gradients

    def tokens_per_s(self) -> float:
        return self.tokens / self.busy if self.busy else 0.0

    def run(self, dev_data) -> tuple[list[dict], Report | None]:
        history, best, best_state = [], None, None
        step = 0
        for epoch in range(1, self.config.epochs + 1):
            t0 = time.perf_counter()
            losses = []
            for group in self._batches():
                losses.append(self._step(group))
                step += 1
                self._report(step, epoch, losses)
            row = {"epoch": epoch, "loss": round(sum(losses) / len(losses), 4), "seconds": round(time.perf_counter() - t0, 1)}
            if dev_data:
                report = self.evaluate(dev_data) if self.here.main else None  # the others wait for its verdict
                better = from_main(report is not None and (best is None or report.f1 > best.f1), self.here)
                if report is not None:
                    row["dev_f1"] = round(float(report.f1), 4)
                if better:
                    best, best_state = report, {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                    row["best"] = True
                if report is not None:
                    self._report(step, epoch, losses, dev_f1=report.f1)
            history.append(row)
            log.info("epoch %d: %s", epoch, row)
        if best_state is not None:
            self.model.load_state_dict(best_state)
        return history, best if self.here.main else None

    def _batches(self) -> list[list[int]]:
        return shuffled_length_batches([w.end - w.start for w in self.windows], self.config.batch_size, self.rng,
                                       self.config.length_chunk)

    def _step(self, group: list[int]) -> float:
        """One optimisation step on the global batch ``group`` (this process's share of it); the
        batch's mean loss over its real subwords, on every process."""
        cancel = bool(self.should_cancel and self.should_cancel())
        if total(float(cancel), self.here):
            raise TrainingCancelled("training was cancelled")
        t0 = time.perf_counter()
        self.model.train()
        mine = share(group, self.here)
        counted = bool(mine)  # a process with no share of a short batch still steps, with weight 0
        mine = mine or [group[self.here.rank % len(group)]]
        batch = self.encoder.batch(self.encoded, [self.windows[i] for i in mine], self.tag_ids)
        batch = {k: v.to(self.device) for k, v in batch.items()}
        # bfloat16 autocast (config.bf16): the matrix products in bf16, the weights, the CRF's and
        # cross-entropy's sums, the gradients and the optimizer in float32
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bool(self.config.bf16)):
            loss, real = self.loss_of(batch, len(self.encoder.prefix))
        real = float(real) if counted else 0.0
        everywhere = total(real, self.here)
        # DDP averages gradients over processes: weighting each loss by its share of the batch's
        # subwords makes that average the gradient of the whole batch's token mean
        weight = real * self.here.size / everywhere if everywhere else 0.0
        self.optimizer.zero_grad(set_to_none=True)
        (loss * weight).backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.tokens += int(total(float(batch["attention_mask"].sum()) if counted else 0.0, self.here))
        self.busy += time.perf_counter() - t0
        return total(loss.item() * real, self.here) / everywhere if everywhere else loss.item()

    def _report(self, step, epoch, losses, dev_f1=None) -> None:
        if not self.progress:
            return
        rate = step / self.busy if self.busy else 0.0
        eta = (self.total - step) / rate if rate else float("nan")
        recent = losses[-20:]
        self.progress(Progress(step, self.total, epoch, sum(recent) / len(recent), self.tokens_per_s(), eta, dev_f1))

    def evaluate(self, dev_data) -> Report:
        """Score the model as it is now on ``dev_data`` (time counted in ``eval_seconds``)."""
        t0 = time.perf_counter()
        tagger = Tagger(self.model, self.encoder.tokenizer, max_length=self.config.max_length)
        report = score(tagger, dev_data)
        self.model.train()
        self.eval_seconds += time.perf_counter() - t0
        return report


class _LossOf(torch.nn.Module):
    """The training loss as a module's forward, so that DistributedDataParallel can wrap it: the
    batch's mean loss and the number of real subwords it is the mean over."""

    def __init__(self, model: SequenceTagger):
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor], offset: int) -> tuple[torch.Tensor, torch.Tensor]:
        emissions = self.model.emissions(batch, offset)
        mask = content_mask(batch["lengths"], emissions.shape[1])
        loss = self.model.loss(emissions, batch["tags"], mask)
        if self.model.head.decoder == "crf" and self.model.head.task != "tags":
            return loss, mask.sum()  # the CRF's token mean is over every position of the mask
        return loss, (batch["tags"][:, : emissions.shape[1]][mask] != IGNORE).sum()  # cross-entropy skips IGNORE


def _optimizer(model: SequenceTagger, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; the transformer at ``lr``, the parts on top at ``head_lr``; no decay on norms/biases.

    Fused (one kernel over every parameter), as ``Trainer`` uses by default since torch 2.8: on 2
    CPU cores a step over MiniLM-L6's 24 M parameters takes 25-50 ms fused against 65-120 ms with
    the default multi-tensor ("foreach") kernels, 10-15 % of a training step (bench/step_time.py),
    for the same update up to rounding (a test compares them).
    """
    groups: dict[tuple[bool, bool], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_head = not name.startswith("hf.") or ".classifier." in name or name.startswith("hf.classifier")
        no_decay = param.dim() < 2 or "LayerNorm" in name or "norm" in name.lower()
        groups.setdefault((is_head, no_decay), []).append(param)
    return torch.optim.AdamW(
        [
            {"params": ps, "lr": config.head_lr if head else config.lr,
             "weight_decay": 0.0 if no_decay else config.weight_decay}
            for (head, no_decay), ps in groups.items()
        ],
        fused=True,
    )
