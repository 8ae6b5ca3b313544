"""The annotation side of :class:`services.Services`: projects, documents, tagging, files."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING


from db import jobs, queue, repo
from db.models import SPLITS, STATUSES  # noqa: F401  (re-exported for the pages)
from db.repo import DocumentInfo, DraftInfo, HistoryEntry, ImportResult, ProjectInfo, StaleDocument  # noqa: F401
from db.session import make_engine, session_factory, write_session
from services.loop import drawn_at_random
from tagger import formats
from tagger.formats import FormatError
from tagger.spans import MAX_TEXT_CHARS, Example, Frame, SeqLabError, Span, validate_text

if TYPE_CHECKING:  # heavy imports only where used
    import pandas

    from tagger.predict import Tagger

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
DEFAULT_PROJECT = "English NER"
DEFAULT_LABELS = ("PER", "ORG", "LOC", "MISC")
DEFAULT_BASE_MODEL = "default"  # tagger.store.DEFAULT_BASE: the embedded all-MiniLM-L6-v2
EXAMPLE_TEXTS = (
    "Alice Johnson flew from London to Paris on Monday.",
    "The United Nations opened a new office in Nairobi.",
    "Bob Smith joined Acme Corp as chief engineer last year.",
    "Angela Merkel met Emmanuel Macron in Berlin to discuss the Euro.",
    "Apple announced the iPhone at a conference in San Francisco.",
)
PREVIEW_CHARS = 80
PAGE_SIZE = 100  # rows of the Data page's document table
EXPORT_BATCH = 1000  # documents read per query while exporting


class NoModel(SeqLabError):
    """Tagging was asked for while the project has no trained model."""


@dataclass(frozen=True)
class QueueProgress:
    """How far the annotation queue has come: ``done`` of ``total`` documents corrected."""

    done: int
    total: int

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass(frozen=True)
class UploadPreview:
    """The first documents of an upload, how many it holds, and what reading it repaired."""

    examples: tuple[Example, ...]
    warnings: tuple[str, ...]
    total: int
    new_labels: tuple[tuple[str, int], ...] = ()  # labels the project lacks, with their span counts


@dataclass(frozen=True)
class DocumentPage:
    """One page of the document table: ``page`` (from 1) of ``pages``, of ``total`` matching documents."""

    frame: pandas.DataFrame
    page: int
    pages: int
    total: int


class CoreServices:
    """Projects, documents, tagging, correcting, import and export on one database.

    ``url``: a SQLAlchemy URL (default from db.session: SEQLAB_DB_URL, or SQLite in SEQLAB_HOME).
    """

    def __init__(self, url: str | None = None):
        self.engine = make_engine(url)
        self.factory = session_factory(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ projects

    def ensure_default_project(self) -> ProjectInfo:
        """On first start, create "English NER" with a few example documents; else return it.

        Idempotent and safe under concurrent first starts (the write lock is taken first). When
        projects exist but none is called "English NER" (renamed by the user), the first is returned.
        """
        with write_session(self.factory) as s:
            existing = repo.list_projects(s)
            if existing:
                return next((p for p in existing if p.name == DEFAULT_PROJECT), existing[0])
            project = repo.create_project(s, DEFAULT_PROJECT, DEFAULT_LABELS, base_model=DEFAULT_BASE_MODEL)
            repo.add_documents(s, project.id, [Example(t) for t in EXAMPLE_TEXTS], annotator="seqlab")
            return project

    def projects(self) -> list[ProjectInfo]:
        with self.factory() as s:
            return repo.list_projects(s)

    def project(self, key: int | str) -> ProjectInfo:
        """A project by id or name (``repo.NotFound`` if there is none)."""
        with self.factory() as s:
            return repo.get_project(s, key)

    def create_project(self, name: str, labels: Sequence[str], task_kind: str = "spans",
                       base_model: str = DEFAULT_BASE_MODEL) -> ProjectInfo:
        with write_session(self.factory) as s:
            return repo.create_project(s, name, labels, task_kind=task_kind, base_model=base_model)

    def update_project(self, project_id: int, **changes) -> ProjectInfo:
        """Rename a project or change its base model, decoder, encoder or auto-activate setting.

        A new base model is checked first: a folder or id that cannot be loaded offline is an
        error naming it (the next training job would fail otherwise).
        """
        if "base_model" in changes:
            changes["base_model"] = check_base_model(changes["base_model"])
        with write_session(self.factory) as s:
            return repo.update_project(s, project_id, **changes)

    def add_label(self, project_id: int, name: str, colour: str | None = None, shortcut: str | None = None) -> None:
        with write_session(self.factory) as s:
            repo.add_label(s, project_id, name, colour=colour, shortcut=shortcut)

    def rename_label(self, project_id: int, old: str, new: str, annotator: str = "seqlab") -> None:
        """Rename a label and every span carrying it; each changed document gets a history entry."""
        with write_session(self.factory) as s:
            repo.rename_label(s, project_id, old, new, annotator=annotator)

    def update_label(self, project_id: int, name: str, colour: str | None = None, shortcut: str | None = None) -> None:
        with write_session(self.factory) as s:
            repo.update_label(s, project_id, name, colour=colour, shortcut=shortcut)

    # ------------------------------------------------------------------ tagging and correcting

    @staticmethod
    def subword_edge_warnings(tokenizer, text: str, spans: Iterable[Span]) -> list[str]:
        """See :func:`subword_edge_warnings`."""
        return subword_edge_warnings(tokenizer, text, spans)

    def unseen_share(self, project_id: int, tokenizer, sample: int = 200) -> float | None:
        """The share of the first ``sample`` documents' characters the base model's tokenizer maps
        to [UNK] (see :func:`unseen_share`)."""
        texts = []
        with self.factory() as s:
            for doc in repo.iter_documents(s, project_id, batch=sample):
                texts.append(doc.text)
                if len(texts) >= sample:
                    break
        return unseen_share(tokenizer, texts)

    def tag_text(self, tagger: Tagger | None, text: str, max_chars: int = MAX_TEXT_CHARS) -> list[Span]:
        """The model's spans (with scores) for one text, after checking the text can be stored.

        Raises:
            TextError: empty, whitespace-only, too long, NUL or lone surrogate.
            NoModel: ``tagger`` is None (no trained model yet): the page should say so rather
                than show an empty result as if the model had found nothing.
        """
        validate_text(text, max_chars)
        if tagger is None:
            raise NoModel("no trained model yet: annotate some documents, then start training on the Train page")
        return list(self.predict(tagger, [text])[0])

    def tag_frames(self, tagger: Tagger | None, text: str, max_chars: int = MAX_TEXT_CHARS) -> list[Frame]:
        """A frames model's predicates (found by its predicate finder) and their arguments for one text."""
        validate_text(text, max_chars)
        if tagger is None:
            raise NoModel("no trained model yet: import labelled frames on the Data page, then train")
        from tagger.predict import share_cpu

        with self.factory() as s:
            share_cpu(jobs.training_now(s))
        return list(tagger.predict_frames([text])[0])

    def save_frames_correction(self, document_id: int, frames: Iterable[Frame], annotator: str,
                               expected_version: int | None = None) -> DocumentInfo:
        """Store a person's frames for a frames document (status "corrected"); the old ones go to
        history; refused like :meth:`save_correction` when the document changed meanwhile."""
        with write_session(self.factory) as s:
            return repo.save_frames(s, document_id, frames, annotator=annotator, source="human",
                                    status="corrected", expected_version=expected_version)

    def predict(self, tagger: Tagger, texts: Sequence[str]) -> list[list[Span]]:
        """``tagger.predict(texts)`` on one thread while a training job runs, so that the page and
        the job do not stall each other (see ``tagger.predict.share_cpu``)."""
        from tagger.predict import share_cpu

        with self.factory() as s:
            share_cpu(jobs.training_now(s))
        return tagger.predict(texts)

    def save_for_correction(self, project_id: int, text: str, spans: Iterable[Span] = (),
                            annotator: str = "you") -> DocumentInfo:
        """Store ``text`` exactly as given, with the model's ``spans`` as suggestions.

        The document gets status "predicted" (or "new" without spans) and source "model".
        A text already stored in the project returns that document, unchanged.
        """
        validate_text(text)
        with write_session(self.factory) as s:
            found = repo.find_document(s, project_id, text)
            if found is not None:
                return found
            spans = tuple(spans)
            repo.add_documents(s, project_id, [Example(text, spans)], annotator=annotator, source="model",
                               status="predicted" if spans else "new")
            return repo.find_document(s, project_id, text)

    def save_correction(self, document_id: int, spans: Iterable[Span], annotator: str,
                        expected_version: int | None = None) -> DocumentInfo:
        """Store a person's spans for a document (status "corrected"); the old ones go to history.

        ``expected_version``: the ``DocumentInfo.version`` the person edited. When the stored
        document changed since (another tab or person saved it), nothing is written and
        :class:`StaleDocument` says so; the caller keeps the person's spans (e.g. as a draft).
        A save that succeeds removes the annotator's draft of the document.
        """
        with write_session(self.factory) as s:
            saved = repo.save_spans(s, document_id, spans, annotator=annotator, source="human",
                                    status="corrected", expected_version=expected_version)
            repo.delete_draft(s, document_id, annotator)
            return saved

    def save_draft(self, document_id: int, annotator: str, spans: Iterable[Span], base_version: int) -> DraftInfo:
        """Keep a person's unaccepted spans (replacing their previous draft of the document)."""
        with write_session(self.factory) as s:
            return repo.save_draft(s, document_id, annotator, spans, base_version)

    def draft(self, document_id: int, annotator: str) -> DraftInfo | None:
        """``annotator``'s draft of the document, if they left one."""
        with self.factory() as s:
            return repo.get_draft(s, document_id, annotator)

    def discard_draft(self, document_id: int, annotator: str) -> None:
        with write_session(self.factory) as s:
            repo.delete_draft(s, document_id, annotator)

    def document(self, document_id: int) -> DocumentInfo:
        with self.factory() as s:
            return repo.get_document(s, document_id)

    def history(self, document_id: int) -> list[HistoryEntry]:
        """Every change to a document's spans, oldest first."""
        with self.factory() as s:
            return repo.history(s, document_id)

    def next_document(self, project_id: int, after_id: int = 0) -> DocumentInfo | None:
        """The next document to correct (status new or predicted) after ``after_id`` in the project's
        queue order (``ProjectInfo.queue_order``: the model's uncertainty once the worker ranked the
        queue, file order, or a stable random order), or None."""
        with self.factory() as s:
            return queue.next_document(s, project_id, after_id)

    def queue_reason(self, document_id: int) -> queue.QueueReason | None:
        """Why a document is where it is in the queue (its uncertainty, the spans the model is unsure
        of, whether its place went to a random draw), if the worker ranked it."""
        with self.factory() as s:
            reason = queue.reason(s, document_id)
        return None if reason is None else replace(reason, drawn=drawn_at_random(reason.rank))

    def queue_progress(self, project_id: int) -> QueueProgress:
        """Corrected or reviewed documents out of all the project's documents."""
        with self.factory() as s:
            counts = repo.count_documents(s, project_id)
        return QueueProgress(done=counts["corrected"] + counts["reviewed"], total=sum(counts.values()))

    # ------------------------------------------------------------------ files

    def preview_file(self, filename: str, data: bytes, scheme: str | None = None,
                     limit: int = 20) -> list[Example]:
        """The first ``limit`` documents of an upload, parsed and checked but not stored."""
        return list(self.preview_upload(filename, data, scheme, limit).examples)

    def preview_upload(self, filename: str, data: bytes, scheme: str | None = None,
                       limit: int = 20, project_id: int | None = None) -> UploadPreview:
        """The first ``limit`` documents of an upload, how many it holds, what reading it repaired
        (read as the CLI reads files: see :func:`tagger.formats.read`) and, given the project, the
        labels of the file it does not have; nothing stored."""
        new: tuple[tuple[str, int], ...] = ()
        if project_id is None:
            reading = _parse_upload(filename, data, scheme)
        else:
            with self.factory() as s:
                project = repo.get_project(s, project_id)
            reading = _parse_upload(filename, data, scheme, project.task_kind)
            new = _new_labels(reading.examples, project)
        return UploadPreview(reading.examples[:limit], tuple(str(w) for w in reading.warnings),
                             len(reading.examples), new)

    def import_file(self, project_id: int, filename: str, data: bytes, scheme: str | None = None,
                    add_labels: bool = False) -> ImportResult:
        """Store every document of an upload, or none: one bad record is an error naming its line.

        Texts already in the project are skipped and counted as duplicates. Every sentence of a
        column file is annotated (a sentence with no entity says "no entity here"), so all of them
        are stored as corrected and train the model; JSONL records without spans and plain-text
        lines are stored as new, for annotation. With ``add_labels`` the file's labels the project
        lacks are added first, in the same transaction (a label that cannot be one stores nothing);
        without it they are an error naming the first line that uses one.
        """
        with self.factory() as s:
            task = repo.get_project(s, project_id).task_kind
        reading = _parse_upload(filename, data, scheme, task)  # a file of another task is refused
        examples, labelled = list(reading.examples), reading.fmt == "column"
        with write_session(self.factory) as s:
            project = repo.get_project(s, project_id)
            if add_labels:
                for name, _ in _new_labels(examples, project):
                    repo.add_label(s, project_id, name)
                project = repo.get_project(s, project_id)
            _check_labels(examples, reading.lines, project, _name(filename))
            result = repo.add_documents(s, project_id, examples, annotator="import", source="import",
                                        status="corrected" if labelled else None)
        log.info("imported %s into project %d: %s", _name(filename), project_id, result)
        return result

    def export_jsonl(self, project_id: int) -> str:
        """All documents as JSONL: text, spans, their metadata and split (re-importable as is).

        Read from the database a batch at a time (see :func:`db.repo.iter_documents`); the page
        calls it only when the user asks for the file.
        """
        out = io.StringIO()
        formats.write_jsonl(self._examples(project_id, with_split=True), out, task=self.project(project_id).task_kind)
        return out.getvalue()

    def export_column(self, project_id: int, scheme: str = "IOB2") -> str:
        """All documents as a column file in ``scheme`` ("BIO"/"IOB2" or "BIOES"/"IOBES"), read in
        batches; a tags project's as "word<TAB>TAG" lines (tagger.task_formats), whatever ``scheme``."""
        out = io.StringIO()
        task = self.project(project_id).task_kind
        if task in ("tags", "frames"):
            from tagger.task_formats import write_frames_column, write_tags_column

            write = write_tags_column if task == "tags" else write_frames_column
            write(self._examples(project_id, with_split=False), out)
        else:
            formats.write_column(self._examples(project_id, with_split=False), out, scheme)
        return out.getvalue()

    def _examples(self, project_id: int, with_split: bool) -> Iterator[Example]:
        with self.factory() as s:
            repo.get_project(s, project_id)  # NotFound for a wrong id, not an empty file
            for d in repo.iter_documents(s, project_id, batch=EXPORT_BATCH):
                yield Example(d.text, d.spans, {**d.meta, "split": d.split} if with_split else dict(d.meta), d.frames)

    def documents_page(self, project_id: int, status: str | None = None, split: str | None = None,
                       page: int = 1, page_size: int = PAGE_SIZE) -> DocumentPage:
        """Page ``page`` (from 1; moved into range) of the documents with this status and split.

        Counted and cut in the database (COUNT, then OFFSET/LIMIT on the index), so a page of a
        500,000-document project reads ``page_size`` rows.
        """
        with self.factory() as s:
            total = repo.count_matching(s, project_id, status=status, split=split)
            pages = max(1, -(-total // page_size))
            page = min(max(1, int(page)), pages)
            rows = repo.document_rows(s, project_id, status=status, split=split, limit=page_size,
                                      offset=(page - 1) * page_size, preview=PREVIEW_CHARS)
        return DocumentPage(_documents_table(rows), page, pages, total)

    def documents_frame(self, project_id: int, status: str | None = None,
                        split: str | None = None) -> pandas.DataFrame:
        """Every matching document as a table: id, text (first 80 characters), split, status, spans,
        updated. For display use :meth:`documents_page`, which reads one page."""
        with self.factory() as s:
            rows = repo.document_rows(s, project_id, status=status, split=split, limit=None, preview=PREVIEW_CHARS)
        return _documents_table(rows)


# ---------------------------------------------------------------------- helpers


def check_base_model(name: str) -> str:
    """``name`` stripped, after checking it resolves to a local model (CheckpointError if not)."""
    from tagger.store import resolve_base_model

    name = str(name).strip()
    if not name:
        raise SeqLabError("the base model is empty: use 'default' for the embedded all-MiniLM-L6-v2")
    resolve_base_model(name)
    return name


def base_tokenizer(base_model: str):
    """The fast tokenizer of a base model (for subword checks before any model is trained)."""
    from transformers import AutoTokenizer

    from tagger.store import resolve_base_model

    return AutoTokenizer.from_pretrained(resolve_base_model(base_model))


def unseen_share(tokenizer, texts: Iterable[str]) -> float | None:
    """The share of the texts' non-space characters that ``tokenizer`` maps to [UNK] (None: no text).

    All-MiniLM-L6-v2's vocabulary lacks most Chinese characters: on a Chinese project this is about
    a half, and BERT then sees a row of identical unknowns (the [UNK] embedding of tagger.model
    learns them apart).
    """
    from tagger.encoding import TextEncoder

    encoder = TextEncoder(tokenizer, max_length=512, stride=64)
    texts = [t for t in texts if t.strip()]
    unk = seen = 0
    for text, enc in zip(texts, encoder.encode(texts)):
        seen += sum(not ch.isspace() for ch in text)
        unk += sum(b - a for i, (a, b) in zip(enc.ids, enc.offsets) if i == encoder.unk_id)
    return unk / seen if seen else None


def subword_edge_warnings(tokenizer, text: str, spans: Iterable[Span]) -> list[str]:
    """A message for every span whose edge falls inside one of the model's subwords.

    Such a span is stored as given, but the model can only learn whole subwords, so it will
    learn (and predict) the whole subword: the annotator should know.
    """
    from tagger.encoding import TextEncoder
    from tagger.schemes import spans_to_tags

    if not text:
        return []
    encoded = TextEncoder(tokenizer, max_length=512, stride=64).encode([text])[0]
    _, warnings = spans_to_tags(encoded.offsets, list(spans), "IOB2")
    return [w.message for w in warnings]


def _name(filename: str) -> str:
    """The file's base name (uploads may carry a client path)."""
    return Path(str(filename).replace("\\", "/")).name or "upload"


def _parse_upload(filename: str, data: bytes, scheme: str | None, task: str | None = None) -> formats.Reading:
    """An upload's bytes read as the CLI reads a file (size checked; format guessed from the
    content, then the name; invalid tag sequences repaired with a warning), each example with
    the line it starts on; a "split" that is not a split is an error naming its line; a file of
    another task than ``task`` (the project's) is an error saying what it holds."""
    name = _name(filename)
    if len(data) > MAX_UPLOAD_BYTES:
        raise FormatError(f"the file is {len(data) / 2**20:.1f} MB; uploads are limited to "
                          f"{MAX_UPLOAD_BYTES / 2**20:.0f} MB (split it into smaller files)", file=name)
    reading = formats.read(bytes(data), name=name, scheme=scheme, task=task)
    if not reading.examples:
        raise FormatError("no documents found in the file", file=name)
    for ex, line in zip(reading.examples, reading.lines):
        split = ex.meta.get("split")
        if split is not None and split not in SPLITS:
            raise FormatError(f"\"split\" must be one of {', '.join(SPLITS)}, got "
                              f"{str(split)[:40]!r}", file=name, line=line)
    return reading


def _new_labels(examples: Iterable[Example], project: ProjectInfo) -> tuple[tuple[str, int], ...]:
    """The labels used in ``examples`` that ``project`` lacks, each with its number of spans, in
    the order the file first uses them."""
    known, counts = set(project.label_names), {}
    for ex in examples:
        for span in ex.spans or [a for f in ex.frames for a in f.arguments]:  # a frames file: its roles
            if span.label not in known:
                counts[span.label] = counts.get(span.label, 0) + 1
    return tuple(counts.items())


def _check_labels(examples: Sequence[Example], lines: Sequence[int | None], project: ProjectInfo,
                  name: str) -> None:
    """Unknown labels as a FormatError with the file and line, before anything is stored."""
    known = set(project.label_names)
    for number, (ex, line) in enumerate(zip(examples, lines), 1):
        unknown = sorted(ex.labels() - known)
        if unknown:
            where = "" if line else f"document {number}: "
            raise FormatError(f"{where}unknown label {unknown[0]!r}; {project.name!r} has "
                              f"{', '.join(project.label_names) or 'no labels'} (add it in Settings first)",
                              file=name, line=line)


def _documents_table(rows: Sequence[repo.DocumentRow]) -> pandas.DataFrame:
    import pandas

    columns = ["id", "text", "split", "status", "spans", "updated"]
    return pandas.DataFrame([(r.id, r.text, r.split, r.status, r.spans, r.updated_at) for r in rows], columns=columns)
