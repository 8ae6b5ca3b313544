"""Patterns in :class:`services.Services`: term lists and regular expressions that suggest labels.

While a project has no active model, Annotate and Tag show what its patterns match as suggestions
(and say so); once a model is active, the matches the model missed are shown as hints. The
matcher is built once per change of the project's patterns (:func:`db.patterns.signature`), not
once per page run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from db import patterns as store
from db.patterns import PatternInfo, PatternsAdded  # noqa: F401  (re-exported for the pages)
from db.session import write_session
from tagger.patterns import Matcher, Pattern, PatternError, missed, read_list  # noqa: F401
from tagger.spans import Span, validate_text

MAX_LIST_BYTES = 5 * 1024 * 1024


class PatternServices:
    """Needs ``self.factory`` (see :class:`services.core.CoreServices`)."""

    _matchers: dict[int, tuple[tuple, Matcher]]
    _matchers_lock = threading.Lock()

    def patterns(self, project_id: int) -> list[PatternInfo]:
        with self.factory() as s:
            return store.list_patterns(s, project_id)

    def add_pattern(self, project_id: int, label: str, pattern: str, kind: str = "term",
                    case_sensitive: bool = False, created_by: str = "seqlab") -> PatternsAdded:
        """Add one pattern. Raises PatternError naming what is wrong (a bad regex, an unknown label)."""
        with write_session(self.factory) as s:
            return store.add_patterns(s, project_id, [Pattern(label, pattern, kind, case_sensitive)], created_by)

    def import_patterns(self, project_id: int, filename: str, data: bytes, label: str | None = None,
                        kind: str = "term", created_by: str = "seqlab") -> PatternsAdded:
        """Add a list from a file: one pattern per line (``LABEL<TAB>pattern``, or the pattern alone
        when ``label`` is given) or JSONL ``{"label", "pattern"}`` lines; all or none.

        Raises:
            PatternError: the file is too big, not UTF-8, empty, or a line is bad (named).
        """
        if len(data) > MAX_LIST_BYTES:
            raise PatternError(f"{filename}: the list is {len(data) / 2**20:.1f} MB; the limit is "
                               f"{MAX_LIST_BYTES / 2**20:.0f} MB")
        try:
            text = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PatternError(f"{filename}: not UTF-8 text (byte {exc.start}); save the list as UTF-8") from exc
        try:
            items = read_list(text, label=label, kind=kind)
        except PatternError as exc:
            raise PatternError(f"{filename}: {exc}") from exc
        if not items:
            raise PatternError(f"{filename}: no patterns in the file (one term per line)")
        with write_session(self.factory) as s:
            try:
                return store.add_patterns(s, project_id, items, created_by)
            except PatternError as exc:
                raise PatternError(f"{filename}: {exc}") from exc

    def update_pattern(self, project_id: int, pattern_id: int, label: str, pattern: str, kind: str = "term",
                       case_sensitive: bool = False) -> PatternInfo:
        with write_session(self.factory) as s:
            return store.update_pattern(s, project_id, pattern_id, Pattern(label, pattern, kind, case_sensitive))

    def delete_patterns(self, project_id: int, pattern_ids: Iterable[int]) -> int:
        with write_session(self.factory) as s:
            return store.delete_patterns(s, project_id, pattern_ids)

    def matcher(self, project_id: int) -> Matcher:
        """The project's patterns compiled, rebuilt only when they changed."""
        with self.factory() as s:
            key = store.signature(s, project_id)
        with self._matchers_lock:
            cache = self.__dict__.setdefault("_matchers", {})
            hit = cache.get(project_id)
            if hit is not None and hit[0] == key:
                return hit[1]
        matcher = Matcher(p.spec() for p in self.patterns(project_id))
        with self._matchers_lock:
            self._matchers[project_id] = (key, matcher)
        return matcher

    def pattern_spans(self, project_id: int, text: str) -> list[Span]:
        """What the project's patterns match in ``text`` (no score: a pattern has no confidence).

        Raises:
            TextError: a text that cannot be stored (empty, too long, NUL...).
            PatternError: a regex that runs too long on this text, named.
        """
        validate_text(text)
        return self.matcher(project_id).find(text)

    def pattern_hints(self, project_id: int, text: str, spans: Sequence[Span]) -> list[Span]:
        """The pattern matches that overlap none of ``spans`` (the model's): what it may have missed."""
        return missed(self.pattern_spans(project_id, text), spans)
