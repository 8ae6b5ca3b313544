"""Annotate page: the queue of documents to correct, with the active model's suggestions pre-filled.

Editing is done with plain Streamlit widgets (see the README for why): the words of the text are
pills; pick the first and last word of an entity and press its label's button (or its key).
"""

from __future__ import annotations

import streamlit as st

from services import SeqLabError, Span
from ui import (active_tagger, annotator, colours, highlight_html, legend_html, md, project_picker,
                selection_units, services, tokenizer)

CURRENT = "annotate_doc"  # session key: id of the document being corrected


def work_key(doc_id: int) -> str:
    return f"annotate_work_{doc_id}"


def selection_key(doc_id: int) -> str:
    return f"annotate_sel_{doc_id}"


def current_document(project):
    """The document being corrected: the remembered one while it still needs correcting, else the next."""
    doc_id = st.session_state.get(CURRENT)
    if doc_id is not None:
        doc = services().document(doc_id)
        if doc.project_id == project.id and doc.status in ("new", "predicted"):
            return doc
    doc = services().next_document(project.id)
    st.session_state[CURRENT] = doc.id if doc else None
    return doc


def suggestions(doc, tagger) -> list[Span]:
    """The active model's spans for the document, or the stored ones when there is no model."""
    if tagger is None:
        return list(doc.spans)
    return list(services().predict(tagger, [doc.text])[0])


def add_span(doc_id: int, text: str, label: str) -> None:
    """Callback of a label button: the selected words (first to last) become one span.

    Spans it overlaps are replaced, so relabelling by reselecting works too.
    """
    chosen = st.session_state.get(selection_key(doc_id)) or []
    if not chosen:
        st.session_state["annotate_notice"] = "Select the words of the entity first, then press its label."
        return
    units = selection_units(text)
    new = Span(units[min(chosen)][0], units[max(chosen)][1], label)
    work = [s for s in st.session_state[work_key(doc_id)] if s.end <= new.start or s.start >= new.end]
    st.session_state[work_key(doc_id)] = sorted(work + [new])
    st.session_state[selection_key(doc_id)] = []


def add_exact(doc_id: int, start: int, end: int, label: str) -> None:
    """Callback of the character-offset form (for edges inside words)."""
    new = Span(int(start), int(end), label)
    work = [s for s in st.session_state[work_key(doc_id)] if s.end <= new.start or s.start >= new.end]
    st.session_state[work_key(doc_id)] = sorted(work + [new])


def delete_span(doc_id: int, index: int) -> None:
    work = list(st.session_state[work_key(doc_id)])
    del work[index]
    st.session_state[work_key(doc_id)] = work


def relabel_span(doc_id: int, index: int, widget: str) -> None:
    work = list(st.session_state[work_key(doc_id)])
    old = work[index]
    work[index] = Span(old.start, old.end, st.session_state[widget])
    st.session_state[work_key(doc_id)] = work


def words_section(project, doc) -> None:
    """Word pills to select, and one button per label (with its keyboard shortcut)."""
    units = selection_units(doc.text)
    st.pills("Select the words of an entity (first and last are enough)", list(range(len(units))),
             selection_mode="multi", key=selection_key(doc.id),
             format_func=lambda i: md(doc.text[units[i][0]:units[i][1]]))  # pills render markdown
    cols = st.columns(max(1, len(project.labels)))
    for col, label in zip(cols, project.labels):
        # Streamlit shows the shortcut key on the button itself
        col.button(label.name, key=f"annotate_add_{label.name}", shortcut=label.shortcut or None,
                   on_click=add_span, args=(doc.id, doc.text, label.name), width="stretch")


def spans_section(project, doc) -> None:
    """The current spans: change a label, delete one."""
    work = st.session_state[work_key(doc.id)]
    if not work:
        st.caption("No entities yet.")
    for i, span in enumerate(work):
        cols = st.columns([4, 2, 1])
        cols[0].markdown(f"{i + 1}. **{md(doc.text[span.start:span.end])}** `[{span.start}, {span.end})`")
        widget = f"annotate_label_{doc.id}_{i}_{span.start}_{span.end}"
        names = project.label_names
        cols[1].selectbox("Label", names, index=names.index(span.label) if span.label in names else 0, key=widget,
                          label_visibility="collapsed", on_change=relabel_span, args=(doc.id, i, widget))
        cols[2].button("Delete", key=f"annotate_del_{doc.id}_{i}_{span.start}", on_click=delete_span,
                       args=(doc.id, i))


def exact_section(project, doc) -> None:
    with st.expander("Add a span by character offsets (for an edge inside a word)"):
        cols = st.columns(3)
        start = cols[0].number_input("Start", 0, len(doc.text), 0, key=f"annotate_start_{doc.id}")
        end = cols[1].number_input("End", 0, len(doc.text), 0, key=f"annotate_end_{doc.id}")
        label = cols[2].selectbox("Label", project.label_names, key=f"annotate_exact_label_{doc.id}")
        st.caption(f"Covers: {md(repr(doc.text[int(start):int(end)]))}")
        st.button("Add span", key=f"annotate_exact_add_{doc.id}", on_click=add_exact,
                  args=(doc.id, start, end, label), disabled=end <= start)


def accept(project, doc, who: str) -> None:
    """Store the spans as the correction and move to the next document."""
    try:
        services().save_correction(doc.id, st.session_state[work_key(doc.id)], annotator=who)
    except SeqLabError as exc:
        st.error(md(str(exc)))
        return
    nxt = services().next_document(project.id, after_id=doc.id) or services().next_document(project.id)
    st.session_state[CURRENT] = nxt.id if nxt else None
    st.session_state["annotate_notice"] = f"Saved document #{doc.id}."
    st.rerun()


def skip(project, doc) -> None:
    nxt = services().next_document(project.id, after_id=doc.id) or services().next_document(project.id)
    st.session_state[CURRENT] = nxt.id if nxt else None
    st.rerun()


def edge_warnings(project, doc, tagger) -> None:
    """Warn when a span edge cuts inside one of the model's subwords (it can only learn whole ones)."""
    tok = tagger.encoder.tokenizer if tagger is not None else tokenizer(project.base_model)
    for message in services().subword_edge_warnings(tok, doc.text, st.session_state[work_key(doc.id)]):
        st.warning(md(f"Cuts a model subword: {message}"))


project = project_picker()
who = annotator()
st.title("Annotate")
progress = services().queue_progress(project.id)
st.progress(progress.fraction, text=f"{progress.done} of {progress.total} documents corrected")
notice = st.session_state.pop("annotate_notice", None)
if notice:
    st.toast(notice)
doc = current_document(project)
if doc is None:
    st.success("Nothing left to correct in this project. Add texts on the Tag or Data page, or train a model.")
    st.stop()

tagger, version = active_tagger(project)
if work_key(doc.id) not in st.session_state:
    st.session_state[work_key(doc.id)] = sorted(suggestions(doc, tagger))
source = f"suggestions from model {version.name}" if version else "no model yet: add the entities yourself"
st.caption(f"Document #{doc.id} · split {md(doc.split)} · {md(source)}")
st.html(legend_html(colours(project)))
st.html(highlight_html(doc.text, st.session_state[work_key(doc.id)], colours(project), numbered=True))
edge_warnings(project, doc, tagger)
words_section(project, doc)
spans_section(project, doc)
exact_section(project, doc)
left, right, _ = st.columns([2, 1, 3])
if left.button("Accept", key="annotate_accept", type="primary", shortcut="ctrl+enter", width="stretch"):
    accept(project, doc, who)
if right.button("Skip", key="annotate_skip", width="stretch"):
    skip(project, doc)
