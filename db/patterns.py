"""A project's patterns (term lists and regular expressions mapped to labels): store and read.

Each pattern is checked by :func:`tagger.patterns.check` before it is written, and names a label
of its project; a list is stored whole or not at all. A pattern goes with its label (renaming the
label carries it along; the row points at the label, not at its name).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tagger.patterns import Pattern, PatternError, check

from .models import Label, PatternRow, Project
from .repo import NotFound

MAX_PATTERNS = 50_000  # per project: a gazetteer, not a dictionary of the language


@dataclass(frozen=True)
class PatternInfo:
    id: int
    label: str
    pattern: str
    kind: str
    case_sensitive: bool
    created_by: str

    def spec(self) -> Pattern:
        return Pattern(self.label, self.pattern, self.kind, self.case_sensitive)


@dataclass(frozen=True)
class PatternsAdded:
    added: int
    duplicates: int


def list_patterns(session: Session, project_id: int) -> list[PatternInfo]:
    """The project's patterns in the order they were added (the order breaks ties between matches)."""
    rows = session.execute(select(PatternRow, Label.name).join(Label, PatternRow.label_id == Label.id)
                           .where(PatternRow.project_id == project_id).order_by(PatternRow.id)).all()
    return [PatternInfo(r.id, name, r.pattern, r.kind, r.case_sensitive, r.created_by) for r, name in rows]


def signature(session: Session, project_id: int) -> tuple:
    """Changes whenever the project's patterns or label names do (count, newest id, newest edit,
    the names): a cache key."""
    counts = tuple(session.execute(select(func.count(PatternRow.id), func.max(PatternRow.id),
                                          func.max(PatternRow.updated_at))
                                   .where(PatternRow.project_id == project_id)).one())
    names = tuple(session.scalars(select(Label.name).where(Label.project_id == project_id).order_by(Label.id)))
    return counts + names


def same_key(pattern: Pattern) -> tuple:
    """What makes two patterns the same: a term that ignores case is the same term in any case."""
    text = pattern.pattern if pattern.case_sensitive or pattern.kind != "term" else pattern.pattern.casefold()
    return (pattern.label, pattern.kind, text, pattern.case_sensitive)


def add_patterns(session: Session, project_id: int, patterns: Iterable[Pattern], created_by: str) -> PatternsAdded:
    """Store ``patterns`` (all or none); ones already stored are counted as duplicates.

    Raises:
        PatternError: a pattern that cannot be used, or a label the project does not have, named
            with its position in the list when there are several.
        NotFound: no such project.
    """
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"no project with id {project_id}")
    labels = {label.name: label.id for label in project.labels}
    patterns = list(patterns)
    stored = {same_key(p.spec()) for p in list_patterns(session, project_id)}
    if len(stored) + len(patterns) > MAX_PATTERNS:
        raise PatternError(f"a project holds at most {MAX_PATTERNS:,} patterns; this would make "
                           f"{len(stored) + len(patterns):,}")
    rows, duplicates = [], 0
    for number, pattern in enumerate(patterns, 1):
        where = f"pattern {number}: " if len(patterns) > 1 else ""
        try:
            pattern = check(pattern)
        except PatternError as exc:
            raise PatternError(where + str(exc)) from exc
        if pattern.label not in labels:
            raise PatternError(f"{where}unknown label {pattern.label!r}; {project.name!r} has "
                               f"{', '.join(labels) or 'no labels'} (add it in Settings first)")
        key = same_key(pattern)
        if key in stored:
            duplicates += 1
            continue
        stored.add(key)
        rows.append(PatternRow(project_id=project_id, label_id=labels[pattern.label], kind=pattern.kind,
                               pattern=pattern.pattern, case_sensitive=pattern.case_sensitive,
                               created_by=created_by[:100]))
    session.add_all(rows)
    session.flush()
    return PatternsAdded(len(rows), duplicates)


def update_pattern(session: Session, project_id: int, pattern_id: int, pattern: Pattern) -> PatternInfo:
    """Replace one pattern's label, text, kind or case rule.

    Raises:
        NotFound: no such pattern in the project (deleted meanwhile, or another project's).
        PatternError: as :func:`add_patterns`; also when the result duplicates another pattern.
    """
    row = session.get(PatternRow, pattern_id)
    if row is None or row.project_id != project_id:
        raise NotFound(f"no pattern with id {pattern_id} in this project (deleted meanwhile?)")
    pattern = check(pattern)
    label = session.scalar(select(Label).where(Label.project_id == project_id, Label.name == pattern.label))
    if label is None:
        raise PatternError(f"unknown label {pattern.label!r}")
    if any(same_key(p.spec()) == same_key(pattern) for p in list_patterns(session, project_id) if p.id != pattern_id):
        raise PatternError(f"the {pattern.kind} {pattern.pattern!r} -> {pattern.label} is already a pattern")
    row.label_id, row.kind, row.pattern, row.case_sensitive = label.id, pattern.kind, pattern.pattern, pattern.case_sensitive
    session.flush()
    return PatternInfo(row.id, label.name, row.pattern, row.kind, row.case_sensitive, row.created_by)


def delete_patterns(session: Session, project_id: int, pattern_ids: Iterable[int]) -> int:
    """Delete the given patterns of the project; the number deleted (gone already: not counted)."""
    ids = [int(i) for i in pattern_ids]
    if not ids:
        return 0
    result = session.execute(delete(PatternRow).where(PatternRow.project_id == project_id, PatternRow.id.in_(ids)))
    return result.rowcount or 0
