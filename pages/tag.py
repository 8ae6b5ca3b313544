"""Tag page: paste text, see the active model's entities highlighted, save it for correction."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from services import NoModel, PatternError, SeqLabError
from tagger.patterns import missed
from ui import active_tagger, colours, legend_html, md, project_picker, selection_units, frames_html, services, tags_html
from ui.editor.editor import show_spans

RESULT = "tag_result"  # session key: (project id, version id, text, spans, pattern spans) of the last "Tag"


def spans_frame(text: str, spans) -> pd.DataFrame:
    """One row per span: its text, label, confidence and offsets."""
    rows = [(text[s.start:s.end], s.label, None if s.score is None else round(s.score, 3), s.start, s.end)
            for s in spans]
    return pd.DataFrame(rows, columns=["text", "label", "confidence", "start", "end"])


def explain_model(version) -> None:
    """Which version predicts, or why nothing does yet."""
    if version is None:
        st.info("No model is trained for this project yet, so there are no predictions. Predictions become "
                "useful once the model is trained on your corrections (Annotate, then Train) or on an "
                "imported labelled file (Data, then Train). You can still save texts for correction.")
    else:
        f1 = f", dev F1 {version.f1:.3f}" if version.f1 is not None else ""
        st.caption(f"Predictions from model version {md(version.name)}{f1}.")


def show_result(project, text: str, spans, predicted: bool, matched=()) -> None:
    """Highlights (the Annotate editor's renderer, read-only), legend, table of spans; without a
    model, the patterns' matches as the suggestions; with one, the matches it missed as hints."""
    from_patterns = () if predicted else tuple(matched)
    shown = list(spans) if predicted else list(from_patterns)
    if project.task_kind == "frames":  # a row per predicate, its arguments highlighted
        if predicted:
            st.html(frames_html(text, shown, colours(project)))
            if not shown:
                st.caption("The model found no predicate in this text.")
        return
    if project.task_kind == "tags":  # a tag under every word; dashed: the model is unsure
        if predicted:
            st.html(tags_html(text, shown, colours(project)))
            st.dataframe(spans_frame(text, shown).rename(columns={"label": "tag"}), hide_index=True,
                         key="tag_spans_table")
        return
    st.html(legend_html(colours(project)))
    if from_patterns:
        st.caption("No model yet: these are what your patterns (Settings) match, drawn dotted.")
    show_spans(text, selection_units(text), shown, project.labels, key="tag_view", from_patterns=from_patterns)
    if shown:
        st.dataframe(spans_frame(text, shown), hide_index=True, key="tag_spans_table")
    elif predicted:
        st.caption("The model found no entities in this text.")
    hints = missed(matched, spans) if predicted else []
    if hints:
        listed = ", ".join(f"'{text[h.start:h.end]}' {h.label}" for h in hints[:8])
        more = f" and {len(hints) - 8} more" if len(hints) > 8 else ""
        st.caption(md(f"Your patterns also match {listed}{more}, which the model did not mark."))


project = project_picker()
st.title("Tag")
tagger, version = active_tagger(project)
explain_model(version)
text = st.text_area("Text to tag", key="tag_text", height=160,
                    placeholder="Paste a sentence or a paragraph, e.g. " + "Alice Johnson flew from London to Paris.")
left, right = st.columns([1, 4])
if left.button("Tag", key="tag_button", type="primary"):
    try:
        try:
            if project.task_kind == "frames":  # spans: the frames found, one row each
                spans, model_id = services().tag_frames(tagger, text), version.id if version else None
            else:
                spans, model_id = services().tag_text(tagger, text), version.id if version else None
        except NoModel:
            spans, model_id = [], None
        try:
            matched = services().pattern_spans(project.id, text)
        except PatternError as exc:
            matched = []
            st.warning(md(f"Patterns skipped: {exc}"))
        st.session_state[RESULT] = (project.id, model_id, text, spans, matched)
        if model_id is None and not matched:
            st.warning("No model yet: the text is shown without predictions.")
    except SeqLabError as exc:
        st.session_state.pop(RESULT, None)
        st.error(md(str(exc)))

result = st.session_state.get(RESULT)
if result and result[0] == project.id:
    _, version_id, tagged_text, spans, matched = result
    show_result(project, tagged_text, spans, predicted=version_id is not None, matched=matched)
    if st.button("Save for correction", key="tag_save"):
        try:  # the model's spans are stored as its prediction; pattern matches are left to the annotator
            doc = services().save_for_correction(project.id, tagged_text,
                                                 () if project.task_kind == "frames" else spans)
            st.success(f"Stored as document #{doc.id} ({md(doc.status)}): it is in the Annotate queue.")
        except SeqLabError as exc:
            st.error(md(str(exc)))
