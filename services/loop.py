"""The model in the loop: rank the documents waiting for correction by how many words the model
expects to have tagged wrongly.

:func:`rank_queue` is what the worker runs after each retrain (and after an activation or a
rollback: ``db.queue.needs_ranking``), never a page: it streams the project's waiting documents
in batches through the active version (``Tagger.analyse``: expected errors, uncertainty and unsure
spans), keeps one small record per document and the texts of the top few only, and stores the
order (``db.queue.replace_scores``). Time grows with the pool (one prediction per document),
memory with ``diversity_window`` texts plus a few numbers per document, not with the pool's texts.

The order is by :attr:`tagger.predict.Prediction.expected_errors` (the sum over words of 1 minus
the chosen tag's probability), not by the length-normalised ``uncertainty`` Annotate shows: the
budget is corrected documents, and the normalised score asked for headlines and score lines of a
few words that carry few entities. Every other place in the queue is a random draw
(``RankConfig.explore_every``), so the model also sees the ordinary sentences it is wrongly sure
of. On CoNLL-2003, 50 sentences in file order then 150 from one ranking, 3 seeds
(bench/al_strategies.py): dev F1 0.699 by uncertainty, 0.791 by expected errors alone, 0.795
with every other a random draw (0.792 - 0.798, and a fifth fewer words to read than expected
errors alone), against 0.763 for 200 drawn at random; bench/learning_curve.py has the curves.
"""

from __future__ import annotations

import heapq
import logging
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db import queue
from db.models import Document
from db.queue import Scored
from db.session import write_session

log = logging.getLogger(__name__)

BATCH = 256
WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class RankConfig:
    """``diversity_window``: how many of the top-ranked documents are reordered for variety;
    ``similar``: word-set Jaccard at or above which a document counts as a near-copy of one
    already placed; ``recent``: how many placed documents it is compared with; ``explore_every``:
    every n-th place in the queue goes to a random draw from the documents not yet placed (0: none).
    """

    diversity_window: int = 2000
    similar: float = 0.6
    recent: int = 50
    explore_every: int = 2


def drawn_at_random(rank: int, config: RankConfig = RankConfig()) -> bool:
    """Whether the document at ``rank`` (0 first) of a queue ranked with ``config`` is a random draw."""
    return config.explore_every > 0 and rank % config.explore_every == config.explore_every - 1


def interleave(ranked: Sequence[int], drawn: Sequence[int], config: RankConfig = RankConfig()) -> list[int]:
    """The queue: ``ranked`` (best first), with every ``explore_every``-th place taken by the next
    of ``drawn`` (the same items in a random order) not yet placed; each item once."""
    if config.explore_every <= 0:
        return list(ranked)
    placed: set[int] = set()
    out: list[int] = []
    sources = (iter(ranked), iter(drawn))
    while len(out) < len(ranked):
        source = sources[drawn_at_random(len(out), config)]
        item = next(source)
        while item in placed:
            item = next(source)
        placed.add(item)
        out.append(item)
    return out


def diverse_order(items: Sequence[tuple[float, str]], config: RankConfig = RankConfig()) -> list[int]:
    """Indices of ``(score, text)`` items, highest score first, with near-copies pushed back.

    Greedy: walk the items by score; one whose words overlap (Jaccard >= ``similar``) one of
    the last ``recent`` placed is deferred until every distinct item is placed. Deferred items keep
    their score order among themselves.
    """
    order = sorted(range(len(items)), key=lambda i: (-items[i][0], i))
    placed: list[int] = []
    deferred: list[int] = []
    recent: list[frozenset[str]] = []
    for i in order:
        words = frozenset(w.lower() for w in WORD.findall(items[i][1]))
        if any(_jaccard(words, other) >= config.similar for other in recent):
            deferred.append(i)
            continue
        placed.append(i)
        recent = (recent + [words])[-config.recent:]
    return placed + deferred


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def rank_queue(factory: sessionmaker[Session], project_id: int, version_id: int, tagger,
               config: RankConfig = RankConfig(), progress: Callable[[int], None] | None = None) -> int:
    """Rank every waiting document of a project with ``tagger`` and store the order; the number ranked.

    Most expected errors first (:attr:`~tagger.predict.Prediction.expected_errors`), the top
    ``diversity_window`` reordered by :func:`diverse_order`, ties in file order; then every
    ``explore_every``-th place given to a random draw (:func:`interleave`; the draw is seeded with
    the version, so ranking again with the same version gives the same queue)."""
    scored: list[Scored] = []
    keys: list[float] = []  # each document's expected errors, the ranking score
    top: list[tuple[float, int, str]] = []  # min-heap of the top-ranked (expected errors, position, text)
    last_id = 0
    while True:
        with factory() as s:
            rows = s.execute(select(Document.id, Document.text)
                             .where(Document.project_id == project_id, Document.id > last_id,
                                    Document.status.in_(queue.WAITING))
                             .order_by(Document.id).limit(BATCH)).all()
        if not rows:
            break
        last_id = rows[-1][0]
        for (doc_id, text), prediction in zip(rows, tagger.analyse([text for _, text in rows])):
            entry = (prediction.expected_errors, -len(scored), text)  # ties: the earlier document ranks higher
            keys.append(prediction.expected_errors)
            scored.append(Scored(doc_id, prediction.uncertainty, tuple(prediction.unsure)))
            if len(top) < config.diversity_window:
                heapq.heappush(top, entry)
            elif entry > top[0]:
                heapq.heapreplace(top, entry)
        if progress is not None:
            progress(len(scored))
    head = sorted(top, key=lambda e: (-e[0], -e[1]))
    head_order = [-head[i][1] for i in diverse_order([(score, text) for score, _, text in head], config)]
    in_head = set(head_order)
    rest = sorted((i for i in range(len(scored)) if i not in in_head), key=lambda i: (-keys[i], i))
    drawn = list(range(len(scored)))
    random.Random(version_id).shuffle(drawn)
    order = interleave(head_order + rest, drawn, config)
    with write_session(factory) as s:
        count = queue.replace_scores(s, project_id, version_id, [scored[i] for i in order])
    log.info("project %d: ranked %d waiting documents with version %d", project_id, count, version_id)
    return count
