"""Annotate page: the queue of documents to correct, in the browser-side span editor (ui/editor/).

Every edit happens in the browser. Python hears of it twice: as a draft a moment after the last
edit (stored, so a reload restores it) and on Accept. Both carry the document and the version the
editor was opened on, so the page saves the document it showed; a save over a newer version is
refused with a message and the person's spans stay, as their draft.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial

import streamlit as st

from services import PatternError, PermissionDenied, SeqLabError, Span, StaleDocument
from ui import active_tagger, annotator, counted, md, project_picker, selection_units, services, tokenizer
from ui.signin import acting_actor
from ui.editor.editor import sent, span_editor
from ui.editor.model import Layout, layout, to_spans

CURRENT = "annotate_doc"  # session key: id of the document being corrected
OPEN = "annotate_open"  # session key another page sets to open a document here, a corrected one too (ui/ledger_view)
NOTICE = "annotate_notice"


@dataclass(frozen=True)
class Opened:
    """What the editor was opened on: the document's version, the spans it started from, the units."""

    document_id: int
    version: int
    revision: int  # +1 each time the page reopens the editor on new spans (offset form, stored version)
    spans: tuple[Span, ...]
    layout: Layout
    draft_at: datetime | None = None  # the spans are the annotator's draft, saved then
    source: str = "suggestions"
    from_patterns: tuple[Span, ...] = ()  # the suggestions that came from the project's patterns
    hints: tuple[Span, ...] = ()  # pattern matches the model did not mark (shown, not pre-filled)


def opened_key(doc_id: int) -> str:
    return f"annotate_opened_{doc_id}"


def editor_key(opened: Opened) -> str:
    return f"annotate_editor_{opened.document_id}_{opened.revision}"


def latest_key(doc_id: int) -> str:
    """Session key of ``(seq, revision, spans)``: the newest spans the browser sent for the document."""
    return f"annotate_latest_{doc_id}"


def conflict_key(doc_id: int) -> str:
    return f"annotate_conflict_{doc_id}"


def attempts_key(doc_id: int) -> str:
    """Refused Accepts of the document: the editor unlocks when this changes."""
    return f"annotate_attempts_{doc_id}"


def error_key(doc_id: int) -> str:
    return f"annotate_error_{doc_id}"


def assigned_queue(project) -> bool:
    """Team mode, an annotator, a project whose documents are assigned: the queue is the person's
    assigned documents, and Accept stores their own correction (services.review)."""
    actor = acting_actor()
    return actor is not None and actor.role == "annotator" and services().has_assignments(project.id)


def next_of_queue(project, who: str, after_id: int = 0):
    """The next document to correct after ``after_id``, wrapping round to the first."""
    if assigned_queue(project):
        return services().next_assigned(project.id, who, after_id=after_id)
    if after_id:
        return services().next_document(project.id, after_id=after_id) or services().next_document(project.id)
    return services().next_document(project.id)


def store_correction(project, doc_id: int, spans, who: str, expected_version: int | None = None):
    """Accept: the document's gold as before, or, in an assigned queue, the person's own correction
    (which is the gold too unless the document is shared with someone else for review)."""
    if assigned_queue(project):
        return services().submit_annotation(doc_id, spans, annotator=who, expected_version=expected_version)
    return services().save_correction(doc_id, spans, annotator=who, expected_version=expected_version)


def current_document(project, who: str):
    """The document on screen: the remembered one (never changed under a person's hands, even when
    someone else corrects it meanwhile), the one in the address (a reload), else the next of the queue."""
    asked = st.session_state.pop(OPEN, None)
    for doc_id in (asked, st.session_state.get(CURRENT), _address_document()):
        if doc_id is None:
            continue
        try:
            doc = services().document(doc_id)
        except SeqLabError:  # deleted meanwhile
            continue
        if doc.project_id == project.id and not _someone_elses(project, doc, who) and (
                doc.id == asked or doc.status in ("new", "predicted") or opened_key(doc.id) in st.session_state
                or services().draft(doc.id, who) is not None):
            return _remember(doc)
    return _remember(next_of_queue(project, who))


def _someone_elses(project, doc, who: str) -> bool:
    """In an assigned queue: a document assigned to others only (not this person's to correct)."""
    if not assigned_queue(project):
        return False
    people = services().assignees(doc.id)
    return bool(people) and who not in people


def _address_document() -> int | None:
    value = st.query_params.get("doc")
    return int(value) if value and value.isdigit() else None


def _remember(doc):
    st.session_state[CURRENT] = doc.id if doc else None
    if doc:
        st.query_params["doc"] = str(doc.id)
    else:
        st.query_params.pop("doc", None)
    return doc


def follow_address() -> None:
    """On a session's first run (a reload, a link) open the document in the address in its project."""
    doc_id = _address_document()
    if CURRENT in st.session_state or doc_id is None:
        return
    try:
        st.session_state["switch_project"] = services().document(doc_id).project_id  # read by project_picker
    except SeqLabError:
        pass


@dataclass(frozen=True)
class Suggested:
    spans: tuple[Span, ...]
    source: str  # "suggestions" (the model's, or the stored spans when there is no model), "patterns"
    hints: tuple[Span, ...] = ()


def suggestions(project, doc, tagger) -> Suggested:
    """The active model's spans for the document, with the pattern matches it missed as hints; with
    no model, the stored spans, else what the project's patterns match."""
    spans = tuple(doc.spans) if tagger is None else tuple(services().predict(tagger, [doc.text])[0])
    try:
        if tagger is not None:
            return Suggested(spans, "suggestions", tuple(services().pattern_hints(project.id, doc.text, spans)))
        found = () if spans else tuple(services().pattern_spans(project.id, doc.text))
        if found:
            return Suggested(found, "patterns")
    except PatternError as exc:  # a regex that runs too long on this text: say which, go on without
        st.session_state[error_key(doc.id)] = f"Patterns skipped on this document: {exc}"
    return Suggested(spans, "suggestions")


def suggested_fields(project, doc, tagger) -> dict:
    """:class:`Opened`'s fields for opening (or reopening) on the suggestions."""
    got = suggestions(project, doc, tagger)
    return dict(spans=got.spans, source=got.source, hints=got.hints,
                from_patterns=got.spans if got.source == "patterns" else ())


def open_document(project, doc, tagger, who: str, revision: int = 0, stored: bool = False) -> Opened:
    """Open the editor on the annotator's draft when there is one, else the suggestions (or, with
    ``stored``, the spans stored now)."""
    draft = None if stored else services().draft(doc.id, who)
    extra = {}
    if draft is not None:
        spans, version, source = draft.spans, draft.base_version, "your draft"
    elif stored or doc.status in ("corrected", "reviewed"):  # a correction is reopened as it was saved
        spans, version, source = doc.spans, doc.version, "the stored version"
    else:
        extra = suggested_fields(project, doc, tagger)
        spans, version, source = extra.pop("spans"), doc.version, extra.pop("source")
    return Opened(doc.id, version, revision, tuple(sorted(spans)), layout(doc.text, selection_units(doc.text), spans),
                  draft.updated_at if draft else None, source, **extra)


def reopen(opened: Opened, spans, **changes) -> Opened:
    """The editor again, on new spans (a new revision: the units may be cut differently)."""
    text = opened.layout.text
    changes = {"from_patterns": (), "hints": (), **changes}  # only a reopen on the suggestions keeps them
    return replace(opened, revision=opened.revision + 1, spans=tuple(sorted(spans)),
                   layout=layout(text, selection_units(text), spans), **changes)


def current_spans(opened: Opened) -> list[Span]:
    """The newest spans of the document on screen: what the browser last sent, else what it opened on."""
    latest = st.session_state.get(latest_key(opened.document_id))
    if latest and latest[1] == opened.revision:
        return list(latest[2])
    return list(opened.spans)


def received(project, doc_id: int, name: str) -> tuple[Opened, object, list[Span]] | None:
    """What the editor of document ``doc_id`` sent as ``name``, as spans, or None when it is not for
    the editor on screen (an older revision). The newest of them is remembered."""
    opened = st.session_state.get(opened_key(doc_id))
    if opened is None:
        return None
    value = sent(editor_key(opened), name)
    if value is None or value.document_id != doc_id or value.revision != opened.revision:
        return None
    spans = to_spans(opened.layout, value.ranges, project.label_names)
    latest = st.session_state.get(latest_key(doc_id))
    if latest is None or latest[1] != opened.revision or value.seq >= latest[0]:
        st.session_state[latest_key(doc_id)] = (value.seq, opened.revision, spans)
    return opened, value, spans


def _guarded(doc_id: int, action) -> None:
    """Run a callback's work; a domain error goes to the page (a callback cannot draw it)."""
    try:
        action()
    except SeqLabError as exc:
        st.session_state[error_key(doc_id)] = str(exc)
        st.session_state[attempts_key(doc_id)] = st.session_state.get(attempts_key(doc_id), 0) + 1


def on_work(project, doc_id: int, who: str) -> None:
    """The draft: the browser's spans a moment after the last edit."""
    def save():
        got = received(project, doc_id, "work")
        if got is not None:
            opened, _, spans = got
            services().save_draft(doc_id, who, spans, base_version=opened.version)
            st.session_state[f"annotate_draft_saved_{doc_id}"] = datetime.now()
    _guarded(doc_id, save)


def on_accept(project, doc_id: int, who: str) -> None:
    """Accept: store the spans on the version they were made from; a newer stored version refuses."""
    def save():
        got = received(project, doc_id, "accept")
        if got is None:
            return
        opened, value, spans = got
        try:
            store_correction(project, value.document_id, spans, who, expected_version=value.version)
        except StaleDocument as exc:
            services().save_draft(doc_id, who, spans, base_version=value.version)
            st.session_state[conflict_key(doc_id)] = str(exc)
            st.session_state[attempts_key(doc_id)] = st.session_state.get(attempts_key(doc_id), 0) + 1
            return
        move_on(project, doc_id, f"Saved document #{doc_id}.")
    _guarded(doc_id, save)


def on_skip(project, doc_id: int, who: str) -> None:
    """Skip: the document stays in the queue; edits made to it are kept as the draft."""
    def skip():
        got = received(project, doc_id, "skip")
        if got is None:
            return
        opened, _, spans = got
        edited = {s.key() for s in spans} != {s.key() for s in opened.spans}
        if edited:
            services().save_draft(doc_id, who, spans, base_version=opened.version)
        move_on(project, doc_id, f"Skipped document #{doc_id}" + ("; your edits are kept as a draft." if edited else "."))
    _guarded(doc_id, skip)


def move_on(project, doc_id: int, notice: str) -> None:
    """Forget the document's editor and open the next one of the queue."""
    for key in (opened_key(doc_id), latest_key(doc_id), conflict_key(doc_id), error_key(doc_id), attempts_key(doc_id)):
        st.session_state.pop(key, None)
    _remember(next_of_queue(project, st.session_state.get("annotator", ""), after_id=doc_id))
    st.session_state[NOTICE] = notice


def load_stored(doc_id: int, who: str) -> None:
    """After a refused save: drop the draft, edit the version stored now."""
    services().discard_draft(doc_id, who)
    doc = services().document(doc_id)
    old = st.session_state[opened_key(doc_id)]
    st.session_state[opened_key(doc_id)] = reopen(old, doc.spans, version=doc.version, draft_at=None,
                                                  source="the stored version")
    for key in (conflict_key(doc_id), latest_key(doc_id)):
        st.session_state.pop(key, None)


def save_over(project, doc_id: int, who: str) -> None:
    """After a refused save: store this person's spans anyway (the stored ones stay in the history)."""
    spans = current_spans(st.session_state[opened_key(doc_id)])
    _guarded(doc_id, lambda: (store_correction(project, doc_id, spans, who),
                              move_on(project, doc_id, f"Saved your spans over document #{doc_id}; "
                                                       "the version they replaced is in its history.")))


def discard_draft(project, doc, tagger, who: str) -> None:
    services().discard_draft(doc.id, who)
    old = st.session_state[opened_key(doc.id)]
    fields = suggested_fields(project, doc, tagger)
    st.session_state[opened_key(doc.id)] = reopen(old, fields.pop("spans"), version=doc.version, draft_at=None,
                                                  **fields)
    st.session_state.pop(latest_key(doc.id), None)


def add_hints(project, doc, who: str) -> None:
    """Add the pattern hints that overlap none of the spans on screen (a new revision, saved as the draft)."""
    opened = st.session_state[opened_key(doc.id)]
    work = current_spans(opened)
    added = [h for h in opened.hints if all(h.end <= s.start or h.start >= s.end for s in work)]

    def save():
        services().save_draft(doc.id, who, work + added, base_version=opened.version)
        st.session_state[opened_key(doc.id)] = reopen(opened, work + added, source=opened.source)
        st.session_state.pop(latest_key(doc.id), None)
    _guarded(doc.id, save)


def hints_section(project, doc, opened: Opened, who: str) -> None:
    """The pattern matches the model did not mark, underlined in the editor: listed, and one button
    to add them all."""
    if not opened.hints:
        return
    shown = ", ".join(f"'{doc.text[h.start:h.end]}' {h.label}" for h in opened.hints[:8])
    more = f" and {len(opened.hints) - 8} more" if len(opened.hints) > 8 else ""
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.caption(md(f"Your patterns also match {shown}{more} (underlined), which the model did not mark."))
    right.button(f"Add {len(opened.hints)} pattern hint{'s' if len(opened.hints) > 1 else ''}",
                 key=f"annotate_add_hints_{doc.id}_{opened.revision}", on_click=add_hints, args=(project, doc, who))


def add_exact(project, doc, who: str) -> None:
    """The character-offset form (for an edge inside a word): the span replaces those it overlaps."""
    opened = st.session_state[opened_key(doc.id)]
    start = int(st.session_state[f"annotate_start_{doc.id}"])
    end = int(st.session_state[f"annotate_end_{doc.id}"])
    new = Span(start, end, st.session_state[f"annotate_exact_label_{doc.id}"])
    work = [s for s in current_spans(opened) if s.end <= new.start or s.start >= new.end] + [new]

    def save():
        services().save_draft(doc.id, who, work, base_version=opened.version)
        st.session_state[opened_key(doc.id)] = reopen(opened, work)
        st.session_state.pop(latest_key(doc.id), None)
    _guarded(doc.id, save)


def exact_section(project, doc, who: str) -> None:
    with st.expander("Add a span by character offsets (for an edge inside a word)"):
        cols = st.columns(3)
        start = cols[0].number_input("Start", 0, len(doc.text), 0, key=f"annotate_start_{doc.id}")
        end = cols[1].number_input("End", 0, len(doc.text), 0, key=f"annotate_end_{doc.id}")
        cols[2].selectbox("Label", project.label_names, key=f"annotate_exact_label_{doc.id}")
        st.caption(f"Covers: {md(repr(doc.text[int(start):int(end)]))}")
        st.button("Add span", key=f"annotate_exact_add_{doc.id}", on_click=add_exact, args=(project, doc, who),
                  disabled=end <= start)


def edge_warnings(project, doc, tagger, spans) -> None:
    """Warn when a span edge cuts inside one of the model's subwords (it can only learn whole ones)."""
    tok = tagger.encoder.tokenizer if tagger is not None else tokenizer(project.base_model)
    for message in services().subword_edge_warnings(tok, doc.text, spans):
        st.warning(md(f"Cuts a model subword: {message}"))


def changed_meanwhile(doc, opened: Opened) -> None:
    """Say so when the stored document is newer than the one being edited (another tab or person)."""
    if doc.version == opened.version or conflict_key(doc.id) in st.session_state:
        return
    try:
        last = services().history(doc.id)[-1:] or None
    except PermissionDenied:  # an annotator who has not worked on it yet: say that it changed, not who
        last = None
    by = f" by {last[0].annotator} at {last[0].at:%H:%M:%S}" if last else ""
    st.warning(md(f"Document #{doc.id} was changed{by} after you opened it (you are editing version "
                  f"{opened.version}, the stored one is version {doc.version}). Accept will ask before "
                  "replacing it."))


def conflict_section(project, doc, who: str) -> None:
    message = st.session_state.get(conflict_key(doc.id))
    if message is None:
        return
    st.error(md(message))
    left, right, _ = st.columns([2, 2, 3])
    left.button("Load the stored version", key=f"annotate_load_stored_{doc.id}", on_click=load_stored,
                args=(doc.id, who), width="stretch")
    right.button("Save mine over it", key=f"annotate_save_over_{doc.id}", on_click=save_over,
                 args=(project, doc.id, who), width="stretch")


def header(doc, opened: Opened, version) -> None:
    model = f"model {version.name}" if version else "no model yet: add the entities yourself"
    source = {"suggestions": f"suggestions from {model}",
              "patterns": "suggestions from your patterns (no model yet): dotted, confirm or change each"
              }.get(opened.source, opened.source)
    saved = st.session_state.get(f"annotate_draft_saved_{doc.id}")
    draft = f" · draft saved {saved:%H:%M:%S}" if saved else ""
    st.caption(f"Document #{doc.id} · split {md(doc.split)} · {md(source)}{draft}")
    why_next(doc)


def why_next(doc) -> None:
    """Why the queue asks for this document: the worker's ranking (or its random draw), when there is one."""
    reason = services().queue_reason(doc.id)
    if reason is None:
        return
    unsure = ", ".join(f"'{doc.text[s.start:s.end]}' {s.label} {s.score:.2f}" for s in reason.unsure[:5])
    more = f" and {len(reason.unsure) - 5} more" if len(reason.unsure) > 5 else ""
    why = ("Next as a random draw (every other place in the queue is one, so the model also learns from "
           "ordinary sentences)" if reason.drawn else "Next because the model is unsure of it")
    st.caption(md(f"{why}: uncertainty {reason.uncertainty:.2f}, "
                  f"number {reason.rank + 1} of the {reason.ranked} it ranked"
                  + (f"; unsure of {unsure}{more}" if unsure else "") + "."))


def draft_notice(doc, opened: Opened, tagger, who: str) -> None:
    if opened.draft_at is None:
        return
    left, right = st.columns([5, 1])
    left.info(f"Your draft of this document from {opened.draft_at:%Y-%m-%d %H:%M:%S} is restored: "
              "it is not accepted yet.")
    right.button("Discard draft", key=f"annotate_discard_{doc.id}", on_click=discard_draft,
                 args=(project, doc, tagger, who))


# ----------------------------------------------------------------------------- frame mode (frames projects)


@dataclass(frozen=True)
class FramesOpened:
    """A frames document as frame mode opened it: its frames, on the document's version."""

    document_id: int
    version: int
    revision: int  # +1 each time a predicate is added or removed (the rows' editors start again)
    frames: tuple  # of tagger.spans.Frame
    source: str


def frames_key(doc_id: int) -> str:
    return f"annotate_frames_{doc_id}"


def frame_editor_key(opened: FramesOpened, k: int) -> str:
    return f"annotate_frame_{opened.document_id}_{opened.revision}_{k}"


def sense_key(opened: FramesOpened, k: int) -> str:
    return f"annotate_sense_{opened.document_id}_{opened.revision}_{k}"


def open_frames(doc, tagger) -> FramesOpened:
    """The stored frames of a checked document, else the model's (predicates found by its finder),
    else the stored ones (an import)."""
    if doc.status in ("corrected", "reviewed") or tagger is None or doc.frames:
        return FramesOpened(doc.id, doc.version, 0, tuple(doc.frames), "the stored frames")
    return FramesOpened(doc.id, doc.version, 0, tuple(services().tag_frames(tagger, doc.text)), "the model's frames")


def _frame_layout(text: str, frame) -> Layout:
    return layout(text, selection_units(text), [*frame.arguments, frame.predicate])


def current_frames(project, opened: FramesOpened, accepted: tuple[int, object] | None = None) -> list:
    """Every row's newest arguments (what its editor last sent, else what it opened on) and sense."""
    from tagger.spans import Frame

    out = []
    for k, frame in enumerate(opened.frames):
        value = accepted[1] if accepted and accepted[0] == k else sent(frame_editor_key(opened, k), "work")
        arguments = frame.arguments
        if value is not None and value.revision == opened.revision and value.document_id == opened.document_id:
            lay = _frame_layout(services().document(opened.document_id).text, frame)
            arguments = tuple(to_spans(lay, value.ranges, project.label_names))
        sense = (st.session_state.get(sense_key(opened, k)) or frame.predicate.label).strip() or "-"
        out.append(Frame(Span(frame.predicate.start, frame.predicate.end, sense), arguments))
    return out


def on_frames_accept(project, doc_id: int, k: int, who: str) -> None:
    """Accept in any row: store every row's frame on the version they were made from."""
    def save():
        opened = st.session_state.get(frames_key(doc_id))
        value = sent(frame_editor_key(opened, k), "accept") if opened else None
        if value is None or value.revision != opened.revision:
            return
        frames = current_frames(project, opened, (k, value))
        try:
            # in an assigned queue, the person's own correction (the gold too unless shared for review)
            store = services().submit_frames_annotation if assigned_queue(project) else services().save_frames_correction
            store(doc_id, frames, annotator=who, expected_version=opened.version)
        except StaleDocument as exc:
            st.session_state[error_key(doc_id)] = str(exc)
            st.session_state[attempts_key(doc_id)] = st.session_state.get(attempts_key(doc_id), 0) + 1
            return
        st.session_state.pop(frames_key(doc_id), None)
        move_on(project, doc_id, f"Saved document #{doc_id} ({len(frames)} predicate{'s' if len(frames) != 1 else ''}).")
    _guarded(doc_id, save)


def on_frames_skip(project, doc_id: int) -> None:
    st.session_state.pop(frames_key(doc_id), None)
    move_on(project, doc_id, f"Skipped document #{doc_id}.")


def change_predicates(project, doc_id: int, add: tuple[int, int] | None = None, remove: int | None = None) -> None:
    """Add the predicate ``add`` (a word's [start, end)) or remove row ``remove``; the other rows keep
    their edits (a new revision: every row's editor starts again on them)."""
    from tagger.spans import Frame

    def change():
        opened = st.session_state[frames_key(doc_id)]
        frames = current_frames(project, opened)
        if remove is not None:
            frames.pop(remove)
        if add is not None:
            if any(f.predicate.start == add[0] and f.predicate.end == add[1] for f in frames):
                raise SeqLabError("that word is a predicate already")
            sense = (st.session_state.get(f"annotate_new_sense_{doc_id}") or "-").strip() or "-"
            frames.append(Frame(Span(add[0], add[1], sense), ()))
            frames.sort(key=lambda f: (f.predicate.start, f.predicate.end))
        st.session_state[frames_key(doc_id)] = replace(opened, revision=opened.revision + 1, frames=tuple(frames))
    _guarded(doc_id, change)


def frame_mode(project, doc, tagger, who: str) -> None:
    """Frame mode: one row per predicate, its sense and a span editor of its arguments (select the
    words, press the role's key); Accept in any row stores all of them."""
    if frames_key(doc.id) not in st.session_state:
        st.session_state[frames_key(doc.id)] = open_frames(doc, tagger)
    opened = st.session_state[frames_key(doc.id)]
    st.caption(md(f"Document #{doc.id}, opened on {opened.source}. One row per predicate (underlined): select "
                  "its arguments and press the role's key. Accept (in any row) stores every row."))
    error = st.session_state.pop(error_key(doc.id), None)
    if error:
        st.error(md(error))
    for k, frame in enumerate(opened.frames):
        word = doc.text[frame.predicate.start:frame.predicate.end]
        left, middle, right = st.columns([2, 2, 1], vertical_alignment="bottom")
        left.markdown(f"**Predicate {k + 1}: {md(word)}**")
        middle.text_input("Sense", value=frame.predicate.label, key=sense_key(opened, k))
        right.button("Remove predicate", key=f"annotate_remove_{doc.id}_{opened.revision}_{k}",
                     on_click=change_predicates, args=(project, doc.id), kwargs={"remove": k})
        span_editor(_frame_layout(doc.text, frame), frame.arguments, project.labels,
                    key=frame_editor_key(opened, k), document_id=doc.id, version=opened.version,
                    revision=opened.revision, attempts=st.session_state.get(attempts_key(doc.id), 0),
                    hints=(Span(frame.predicate.start, frame.predicate.end, "V"),),
                    on_accept=partial(on_frames_accept, project, doc.id, k, who),
                    on_skip=partial(on_frames_skip, project, doc.id))
    if not opened.frames:
        st.info("No predicate in this document yet: add one below.")
    words = selection_units(doc.text)
    taken = {(f.predicate.start, f.predicate.end) for f in opened.frames}
    choices = [w for w in words if w not in taken]
    left, middle, right = st.columns([2, 2, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Add a predicate", choices, key=f"annotate_new_predicate_{doc.id}_{opened.revision}",
                            format_func=lambda w: f"{doc.text[w[0]:w[1]]} (at {w[0]})")
    middle.text_input("Its sense", key=f"annotate_new_sense_{doc.id}", placeholder="e.g. nominate.01")
    right.button("Add predicate", key=f"annotate_add_predicate_{doc.id}", disabled=chosen is None,
                 on_click=change_predicates, args=(project, doc.id), kwargs={"add": chosen})
    if not opened.frames:
        st.button("Accept: no predicate here", key=f"annotate_accept_none_{doc.id}",
                  on_click=lambda: _guarded(doc.id, lambda: (
                      services().save_frames_correction(doc.id, [], who, expected_version=opened.version),
                      st.session_state.pop(frames_key(doc.id), None),
                      move_on(project, doc.id, f"Saved document #{doc.id} (no predicate)."))))


follow_address()
project = project_picker()
who = annotator()
st.title("Annotate")
if assigned_queue(project):
    progress = services().assigned_progress(project.id, who)
    st.progress(progress.fraction, text=f"{progress.done} of {counted(progress.total, 'document')} assigned to you corrected")
else:
    progress = services().queue_progress(project.id)
    st.progress(progress.fraction, text=f"{progress.done} of {counted(progress.total, 'document')} corrected")
notice = st.session_state.pop(NOTICE, None)
if notice:
    st.toast(md(notice))
if project.task_kind == "frames":  # frame mode: a row per predicate, one span editor each
    doc = current_document(project, who)
    if doc is None:
        st.success("Nothing left to correct in this project. Add texts on the Tag or Data page, or train a model.")
        st.stop()
    frame_mode(project, doc, active_tagger(project)[0], who)
    st.stop()
doc = current_document(project, who)
if doc is None and assigned_queue(project):
    st.success("Nothing assigned to you is left to correct in this project: a reviewer assigns more on the Review page.")
    st.stop()
if doc is None:
    st.success("Nothing left to correct in this project. Add texts on the Tag or Data page, or train a model.")
    st.stop()

tagger, version = active_tagger(project)
if opened_key(doc.id) not in st.session_state:
    st.session_state[opened_key(doc.id)] = open_document(project, doc, tagger, who)
opened = st.session_state[opened_key(doc.id)]
header(doc, opened, version)
draft_notice(doc, opened, tagger, who)
changed_meanwhile(doc, opened)
conflict_section(project, doc, who)
error = st.session_state.pop(error_key(doc.id), None)
if error:
    st.error(md(error))
span_editor(opened.layout, opened.spans, project.labels, key=editor_key(opened), document_id=doc.id,
            version=opened.version, revision=opened.revision, attempts=st.session_state.get(attempts_key(doc.id), 0),
            from_patterns=opened.from_patterns, hints=opened.hints, on_work=partial(on_work, project, doc.id, who), on_accept=partial(on_accept, project, doc.id, who),
            on_skip=partial(on_skip, project, doc.id, who), word_tags=project.task_kind == "tags")
hints_section(project, doc, opened, who)
edge_warnings(project, doc, tagger, current_spans(opened))
exact_section(project, doc, who)
