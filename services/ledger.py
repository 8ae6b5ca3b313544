"""The correction ledger: what a new model version does with every correction of its project.

:func:`score_version` is what the worker runs after a training job saved its version: it streams
the project's corrections (checked train and dev documents) from the database in batches, tags
each batch with the new version and with the version it would replace, and stores one
``db.ledger`` entry per document (learned, still wrong, regressed, unchanged right; see
``tagger.ledger``). Memory grows with the batch, not the project. :class:`LedgerServices` is the
Models page's side: counts, the documents behind each count, pins.

A *pinned* correction is one a person wants every future version to keep: a version that gets a
pinned correction wrong which the version it would replace got right has *broken* it, and is not
activated automatically (the job's message names the documents).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db import ledger
from db.ledger import EntryInfo, PinInfo, SummaryInfo
from db.models import Document
from db.session import write_session
from tagger.error_cells import CellIndex, index_cells
from tagger.ledger import REGRESSED, TITLES, Predictor, score
from tagger.spans import SeqLabError

if TYPE_CHECKING:
    from db.versions import VersionInfo

log = logging.getLogger(__name__)

BATCH = 256
EXCERPT = 60


class ScoringCancelled(Exception):
    """The job was cancelled while its version was being scored."""


def score_version(factory: sessionmaker[Session], project_id: int, version_id: int, new: Predictor,
                  old: Predictor | None, *, batch: int = BATCH,
                  should_cancel: Callable[[], bool] = lambda: False) -> int:
    """Score every correction of the project with ``new`` against ``old`` (None: no previous
    version) and store the entries of ``version_id``, a batch per write; the number scored.

    Raises:
        ScoringCancelled: when ``should_cancel()`` turns true between batches.
    """
    with write_session(factory) as s:
        ledger.clear_entries(s, version_id)  # a rerun replaces, never doubles
    after, done = 0, 0
    while True:
        if should_cancel():
            raise ScoringCancelled(f"version {version_id}: scoring cancelled after {done} corrections")
        with factory() as s:
            rows = ledger.corrections_after(s, project_id, after, batch)
        if not rows:
            return done
        after = rows[-1][0]
        [scored] = score([example for _, _, example in rows], old, new, batch_size=len(rows))
        with write_session(factory) as s:
            ledger.add_entries(s, version_id, [
                {"document_id": doc_id, "split": split, "outcome": item.outcome,
                 "gold": ledger.spans_json(item.example.spans), "predicted": ledger.spans_json(item.new),
                 "previous": ledger.spans_json(item.old)}
                for (doc_id, split, _), item in zip(rows, scored)])
        done += len(rows)


def broken_pins(session: Session, version_id: int) -> list[int]:
    """The pinned corrections the version broke: regressed against the version it was compared with."""
    pinned = select(ledger.PinnedCorrection.document_id)
    return list(session.scalars(select(ledger.LedgerEntry.document_id).where(
        ledger.LedgerEntry.version_id == version_id, ledger.LedgerEntry.outcome == REGRESSED,
        ledger.LedgerEntry.document_id.in_(pinned)).order_by(ledger.LedgerEntry.document_id)))


def describe(summary: SummaryInfo | None) -> str:
    """The ledger in a few words, for a job's message: "learned 3, still wrong 1, regressed 0"."""
    if summary is None:
        return "not scored"
    if summary.error:
        return f"could not be scored: {summary.error}"
    return ", ".join(f"{TITLES[o]} {n}" for o, n in summary.counts.items() if o != "unchanged_right")


def broken_message(session: Session, doc_ids: list[int], limit: int = 5) -> str:
    """ "it breaks 2 pinned corrections: #4 'Alice went to Paris .', #9 '...'" """
    texts = dict(session.execute(select(Document.id, Document.text).where(Document.id.in_(doc_ids[:limit]))).all())
    named = ", ".join(f"#{i} {_excerpt(texts.get(i, ''))!r}" for i in doc_ids[:limit])
    more = f" and {len(doc_ids) - limit} more" if len(doc_ids) > limit else ""
    noun = "correction" if len(doc_ids) == 1 else "corrections"
    return f"it breaks {len(doc_ids)} pinned {noun}: {named}{more}"


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT else flat[: EXCERPT - 1] + "…"


class LedgerServices:
    """Mixed into :class:`services.Services`; uses its ``self.factory``."""

    def ledger_summary(self, version_id: int) -> SummaryInfo | None:
        """The version's ledger counts (None: the version was never scored, e.g. made before the ledger)."""
        with self.factory() as s:
            return ledger.get_summary(s, version_id)

    def ledger_summaries(self, version_ids: list[int]) -> dict[int, SummaryInfo]:
        """version id -> its ledger summary, for the versions that have one."""
        with self.factory() as s:
            return ledger.summaries(s, version_ids)

    def ledger_entries(self, version_id: int, outcome: str, limit: int = 100, offset: int = 0) -> list[EntryInfo]:
        """The documents of one outcome of the version's ledger, with both versions' spans."""
        with self.factory() as s:
            return ledger.entries(s, version_id, outcome, limit=limit, offset=offset)

    def ledger_entry(self, version_id: int, document_id: int) -> EntryInfo | None:
        with self.factory() as s:
            found = ledger.entries(s, version_id, document_ids=[document_id], limit=1)
        return found[0] if found else None

    def error_cells(self, version_id: int, dev_only: bool = True) -> CellIndex:
        """The version's label confusion and error kinds, cell by cell with their documents, from its
        ledger (its spans on each correction, as scored): on the documents its dev F1 is on (those
        the version recorded, else the dev split), or (``dev_only=False``) on every correction.
        Streams the entries; keeps document ids only."""
        version = self.version(version_id)
        dev = set(version.data.get("dev_doc_ids") or ())

        def wanted(e: EntryInfo) -> bool:
            return not dev_only or (e.document_id in dev if dev else e.split == "dev")

        with self.factory() as s:
            return index_cells((e.document_id, e.gold, e.predicted) for e in ledger.iter_entries(s, version_id)
                               if wanted(e))

    def ledger_entries_of(self, version_id: int, document_ids: list[int]) -> list[EntryInfo]:
        """The ledger entries of these documents (in document order)."""
        with self.factory() as s:
            return ledger.entries(s, version_id, document_ids=document_ids, limit=len(document_ids) or 1)

    def pin_correction(self, document_id: int, pinned_by: str) -> PinInfo:
        """Pin a document's correction: auto-activation refuses a version that breaks it."""
        with write_session(self.factory) as s:
            doc = s.get(Document, document_id)
            if doc is not None and doc.status not in ("corrected", "reviewed"):
                raise SeqLabError(f"document #{document_id} has no correction to pin yet (it is {doc.status})")
            return ledger.pin(s, document_id, pinned_by)

    def unpin_correction(self, document_id: int) -> None:
        with write_session(self.factory) as s:
            ledger.unpin(s, document_id)

    def pinned_corrections(self, project_id: int) -> list[PinInfo]:
        with self.factory() as s:
            return ledger.pins(s, project_id)

    def broken_pins(self, version: VersionInfo) -> list[int]:
        """Pinned corrections the version broke (as scored), e.g. to warn before a manual activation."""
        with self.factory() as s:
            return broken_pins(s, version.id)
