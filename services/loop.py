"""The model in the loop: rank the documents waiting for correction by how unsure the model is.

:func:`rank_queue` is what the worker runs after each retrain (and after an activation or a
rollback: ``db.queue.needs_ranking``), never a page: it streams the project's waiting documents
in batches through the active version (``Tagger.analyse``: uncertainty and unsure spans), keeps
one small record per document and the texts of the most uncertain few only, and stores the order
(``db.queue.replace_scores``). Time grows with the pool (one prediction per document), memory
with ``diversity_window`` texts, not with the pool.
"""

from __future__ import annotations

import heapq
import logging
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
    """``diversity_window``: how many of the most uncertain documents are reordered for variety;
    ``similar``: word-set Jaccard at or above which a document counts as a near-copy of one
    already placed; ``recent``: how many placed documents it is compared with."""

    diversity_window: int = 2000
    similar: float = 0.6
    recent: int = 50


def diverse_order(items: Sequence[tuple[float, str]], config: RankConfig = RankConfig()) -> list[int]:
    """Indices of ``(uncertainty, text)`` items, most uncertain first, with near-copies pushed back.

    Greedy: walk the items by uncertainty; one whose words overlap (Jaccard >= ``similar``) one of
    the last ``recent`` placed is deferred until every distinct item is placed. Deferred items keep
    their uncertainty order among themselves.
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
    """Rank every waiting document of a project with ``tagger`` and store the order; the number ranked."""
    scored: list[Scored] = []
    top: list[tuple[float, int, str]] = []  # min-heap of the most uncertain (uncertainty, position, text)
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
            entry = (prediction.uncertainty, len(scored), text)
            scored.append(Scored(doc_id, prediction.uncertainty, tuple(prediction.unsure)))
            if len(top) < config.diversity_window:
                heapq.heappush(top, entry)
            elif entry > top[0]:
                heapq.heapreplace(top, entry)
        if progress is not None:
            progress(len(scored))
    head = sorted(top, key=lambda e: (-e[0], e[1]))
    head_order = [head[i][1] for i in diverse_order([(u, text) for u, _, text in head], config)]
    in_head = set(head_order)
    rest = sorted((i for i in range(len(scored)) if i not in in_head), key=lambda i: (-scored[i].uncertainty, i))
    with write_session(factory) as s:
        count = queue.replace_scores(s, project_id, version_id, [scored[i] for i in head_order + rest])
    log.info("project %d: ranked %d waiting documents with version %d", project_id, count, version_id)
    return count
