"""Assignment, review and agreement: the team side of :class:`services.Services` (issue 15 part 3).

Documents are assigned to annotators (round robin with an overlap, or by hand). Each annotator's
Accept is stored as their own correction (``db.review``); a document with one assignee (or none)
also takes it as its gold, as before, while a document with two or more waits for a reviewer, who
adopts one correction or saves a merge as the gold (status ``reviewed``, so training uses it, and
the document's history keeps every change). :meth:`ReviewServices.agreement` compares the
annotators' corrections (``tagger.agreement``).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from db import accounts as account_store, repo, review
from db.repo import DocumentInfo
from db.review import AnnotationInfo
from db.session import write_session
from tagger import agreement as metrics
from tagger.spans import Frame, SeqLabError, Span

from .core import QueueProgress
from .policy import PermissionDenied

WAITING = ("new", "predicted")  # statuses of documents still to correct


@dataclass(frozen=True)
class AssignResult:
    """What :meth:`ReviewServices.assign_documents` did: documents newly assigned, how many of them
    went to two people, and how many each annotator got."""

    documents: int
    overlapped: int
    per_annotator: dict[str, int]


@dataclass(frozen=True)
class ReviewItem:
    """A document with two or more corrections: who made them, whether they agree exactly, and
    whether a reviewer has adjudicated it (status ``reviewed``)."""

    document_id: int
    text: str
    annotators: tuple[str, ...]
    agree: bool
    adjudicated: bool


class ReviewServices:
    """Mixed into :class:`services.Services` (needs ``self.factory``)."""

    def assign_documents(self, project_id: int, annotators: Sequence[str], overlap: float = 0.1,
                         seed: int = 0) -> AssignResult:
        """Assign the project's unassigned documents still to correct, round robin over ``annotators``.

        A stable random ``overlap`` share of them (by ``seed``) also goes to the next annotator in
        the round, so two people correct it; the same call on the same data assigns the same way.
        """
        names = self._annotator_names(project_id, annotators)
        if not 0 <= overlap <= 1:
            raise SeqLabError(f"overlap must be between 0 and 1, got {overlap}")
        if overlap > 0 and len(names) < 2:
            raise SeqLabError("an overlap needs at least two annotators")
        with write_session(self.factory) as s:
            taken = set(review.assignments(s, project_id))
            ids = [d for d in _waiting_ids(s, project_id) if d not in taken]
            doubled = set(random.Random(seed).sample(ids, round(overlap * len(ids)))) if len(names) > 1 else set()
            counts = dict.fromkeys(names, 0)
            for i, doc_id in enumerate(ids):
                people = [names[i % len(names)]] + ([names[(i + 1) % len(names)]] if doc_id in doubled else [])
                review.assign(s, doc_id, people)
                for name in people:
                    counts[name] += 1
        return AssignResult(len(ids), len(doubled), counts)

    def assign(self, document_id: int, annotators: Sequence[str]) -> list[str]:
        """Assign one document by hand to ``annotators`` (added to those it has); returns its assignees."""
        with self.factory() as s:
            project_id = account_store.project_of(s, "document", document_id)
        names = self._annotator_names(project_id, annotators)
        with write_session(self.factory) as s:
            return review.assign(s, document_id, names)

    def unassign(self, document_id: int, person: str) -> list[str]:
        """Take ``person`` off a document's assignees (their correction, if any, stays)."""
        with write_session(self.factory) as s:
            review.unassign(s, document_id, person)
            return review.assignees(s, document_id)

    def project_annotators(self, project_id: int) -> list[str]:
        """The names work can be assigned to on the Review page: the project's enabled annotators
        (none in single-user mode, which has no accounts)."""
        with self.factory() as s:
            return [m.name for m in account_store.members(s, project_id) if m.role == "annotator" and not m.disabled]

    def assignments(self, project_id: int) -> dict[int, list[str]]:
        """``{document id: assignees}`` of the project's assigned documents."""
        with self.factory() as s:
            return review.assignments(s, project_id)

    def assignees(self, document_id: int) -> list[str]:
        """Who a document is assigned to (empty: nobody, it is open to everyone as before)."""
        with self.factory() as s:
            return review.assignees(s, document_id)

    def has_assignments(self, project_id: int) -> bool:
        """Whether any document of the project is assigned (then annotators see only theirs)."""
        with self.factory() as s:
            return review.has_assignments(s, project_id)

    def next_assigned(self, project_id: int, annotator: str, after_id: int = 0) -> DocumentInfo | None:
        """The next document assigned to ``annotator`` that they have not corrected yet and that is
        still to correct, after ``after_id`` (wrapping round), or None."""
        with self.factory() as s:
            ids = _open_for(s, project_id, annotator)
            later = [i for i in ids if i > after_id] or ids
            return repo.get_document(s, later[0]) if later else None

    def assigned_progress(self, project_id: int, annotator: str) -> QueueProgress:
        """How many of the documents assigned to ``annotator`` they have corrected (or are settled)."""
        with self.factory() as s:
            total = len(review.assigned_ids(s, project_id, annotator))
            return QueueProgress(done=total - len(_open_for(s, project_id, annotator)), total=total)

    def submit_annotation(self, document_id: int, spans: Iterable[Span], annotator: str,
                          expected_version: int | None = None) -> DocumentInfo:
        """Store ``annotator``'s correction of a document as their own.

        With one assignee or none, it is also the document's gold, exactly as :meth:`save_correction`
        (version-checked, status ``corrected``). With two or more, the gold waits for a reviewer's
        :meth:`adjudicate`; the status stays as it is, so training leaves the document out until then.
        Refused for a person the document is not assigned to, when it is assigned to anyone.
        """
        return self._submit(document_id, annotator, expected_version, spans=list(spans))

    def submit_frames_annotation(self, document_id: int, frames: Iterable[Frame], annotator: str,
                                 expected_version: int | None = None) -> DocumentInfo:
        """:meth:`submit_annotation` for a frames document: ``annotator``'s frames as their own
        correction, and the gold too when one person (or nobody) has the document."""
        return self._submit(document_id, annotator, expected_version, frames=list(frames))

    def _submit(self, document_id: int, annotator: str, expected_version: int | None, *,
                spans: list[Span] | None = None, frames: list[Frame] | None = None) -> DocumentInfo:
        with write_session(self.factory) as s:
            people = review.assignees(s, document_id)
            if people and annotator not in people:
                raise PermissionDenied(f"document #{document_id} is not assigned to {annotator}")
            # first: it records the version the correction was made on
            review.save_annotation(s, document_id, annotator, spans or (), frames=frames)
            if len(people) < 2:
                save = partial(repo.save_frames, s, document_id, frames) if frames is not None else \
                    partial(repo.save_spans, s, document_id, spans)
                save(annotator=annotator, source="human", status="corrected", expected_version=expected_version)
            repo.delete_draft(s, document_id, annotator)
            return repo.get_document(s, document_id)

    def annotations_of(self, document_id: int) -> list[AnnotationInfo]:
        """Every annotator's own correction of a document."""
        with self.factory() as s:
            return review.annotations_of(s, document_id)

    def review_queue(self, project_id: int) -> list[ReviewItem]:
        """The project's documents with two or more corrections, those not adjudicated yet first."""
        with self.factory() as s:
            found = review.project_annotations(s, project_id)
            status = review.statuses(s, list(found))
        items = [ReviewItem(i, text, tuple(by), len({tuple(v) for v in by.values()}) == 1, status[i] == "reviewed")
                 for i, (text, by) in sorted(found.items())]
        return sorted(items, key=lambda item: item.adjudicated)

    def adjudicate(self, document_id: int, spans: Iterable[Span], reviewer: str, adopted_from: str | None = None,
                   expected_version: int | None = None) -> DocumentInfo:
        """Make ``spans`` the document's gold (status ``reviewed``, used for training), as ``reviewer``.

        ``adopted_from``: the annotator whose correction was taken as it is (None for a merge); it
        must be one who corrected the document. The old gold goes to the history, as every save.
        """
        return self._adjudicate(document_id, partial(repo.save_spans, spans=spans), reviewer, adopted_from,
                                expected_version)

    def adjudicate_frames(self, document_id: int, frames: Iterable[Frame], reviewer: str,
                          adopted_from: str | None = None, expected_version: int | None = None) -> DocumentInfo:
        """:meth:`adjudicate` for a frames document: ``frames`` become its gold."""
        return self._adjudicate(document_id, partial(repo.save_frames, frames=frames), reviewer, adopted_from,
                                expected_version)

    def _adjudicate(self, document_id: int, save, reviewer: str, adopted_from: str | None,
                    expected_version: int | None) -> DocumentInfo:
        with write_session(self.factory) as s:
            if adopted_from is not None and adopted_from not in {a.annotator for a in review.annotations_of(s, document_id)}:
                raise SeqLabError(f"{adopted_from} has no correction of document #{document_id} to adopt")
            saved = save(s, document_id, annotator=reviewer, source="human", status="reviewed",
                         expected_version=expected_version)
            review.record_adjudication(s, document_id, reviewer, adopted_from, saved.version)
            return saved

    def adjudications(self, document_id: int) -> list[review.AdjudicationInfo]:
        """Every adjudication of a document, oldest first: who, when, whose correction was adopted."""
        with self.factory() as s:
            return review.adjudications(s, document_id)

    def agreement(self, project_id: int) -> metrics.Agreement:
        """Agreement between the project's annotators over the documents two or more corrected."""
        with self.factory() as s:
            frames = repo.get_project(s, project_id).task_kind == "frames"
            found = review.project_annotations(s, project_id)
        return metrics.frame_agreement(found) if frames else metrics.agreement(found)

    def _annotator_names(self, project_id: int, annotators: Sequence[str]) -> list[str]:
        """The names, each once, in order; in team mode (accounts exist) each a member of the project."""
        names = list(dict.fromkeys(a.strip() for a in annotators if a and a.strip()))
        if not names:
            raise SeqLabError("choose at least one annotator")
        with self.factory() as s:
            if account_store.list_accounts(s):
                members = {m.name for m in account_store.members(s, project_id)}
                strangers = [n for n in names if n not in members]
                if strangers:
                    raise SeqLabError(f"not members of this project: {', '.join(strangers)}")
        return names


def _waiting_ids(session, project_id: int) -> list[int]:
    from sqlalchemy import select

    from db.models import Document

    return list(session.scalars(select(Document.id).where(Document.project_id == project_id,
                                                          Document.status.in_(WAITING)).order_by(Document.id)))


def _open_for(session, project_id: int, annotator: str) -> list[int]:
    """Documents assigned to ``annotator`` still to correct that they have no correction of, ascending."""
    from sqlalchemy import select

    from db.models import Document
    from db.review import AnnotationRow, AssignmentRow

    done = select(AnnotationRow.document_id).where(AnnotationRow.annotator == annotator)
    return list(session.scalars(
        select(AssignmentRow.document_id).join(Document, Document.id == AssignmentRow.document_id)
        .where(AssignmentRow.project_id == project_id, AssignmentRow.annotator == annotator,
               Document.status.in_(WAITING), AssignmentRow.document_id.not_in(done))
        .order_by(AssignmentRow.document_id)))
