"""The Models page's correction ledger: what a version learned, still gets wrong and broke, the
documents behind each count, side by side with the correction, and pins.

Sentences are drawn with the editor's read-only renderer (as on Tag); a document opens in Annotate
through :data:`ANNOTATE_OPEN`, which that page reads (a corrected document too, on its stored spans).
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from services import SeqLabError
from tagger.ledger import OUTCOMES, REGRESSED, TITLES
from ui import md, selection_units, services
from ui.editor.editor import show_spans

ANNOTATE_OPEN = "annotate_open"  # session key read by pages/annotate.py: the document to open there
ANNOTATE_PAGE = "pages/annotate.py"
PAGE_SIZE = 200
EXCERPT = 80


def excerpt(text: str, limit: int = EXCERPT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def open_in_annotate(document_id: int) -> None:
    """Go to Annotate with this document in the editor."""
    st.session_state[ANNOTATE_OPEN] = document_id
    st.switch_page(ANNOTATE_PAGE)


def side_by_side(project, text: str, columns: Sequence[tuple[str, Sequence | None]], key: str) -> None:
    """The text drawn once per span list (the correction, a version's spans...), in columns."""
    shown = [(title, spans) for title, spans in columns if spans is not None]
    for col, (title, spans) in zip(st.columns(len(shown)), shown):
        with col:
            st.caption(md(title))
            show_spans(text, selection_units(text), list(spans), project.labels, key=f"{key}_{title}")


def document_actions(document_id: int, pinned: bool | None, key: str) -> None:
    """Open in Annotate, and pin or unpin the correction (``pinned`` None: no pin button)."""
    left, right, _ = st.columns([2, 2, 4])
    if left.button(f"Open #{document_id} in Annotate", key=f"{key}_open"):
        open_in_annotate(document_id)
    if pinned is None:
        return
    label = "Unpin this correction" if pinned else "Pin this correction"
    if right.button(label, key=f"{key}_pin", help="A pinned correction must stay right: a retrained version "
                    "that gets it wrong while the active one got it right is not activated automatically."):
        try:
            if pinned:
                services().unpin_correction(document_id)
            else:
                services().pin_correction(document_id, annotator_name())
        except SeqLabError as exc:  # e.g. the document went back to the queue meanwhile
            st.error(md(str(exc)))
            return
        st.rerun()


def annotator_name() -> str:
    return st.session_state.get("annotator", "you")


def ledger_section(project, version, names: dict[int, str]) -> None:
    """The chosen version's ledger: counts, then the documents of one outcome, one in detail."""
    st.subheader("What this version learned")
    summary = services().ledger_summary(version.id)
    if summary is None:
        st.caption("This version has no correction ledger (it was not made by a training job here, "
                   "or before the ledger existed).")
        return
    if summary.error:
        st.warning(md(f"Its corrections could not be scored: {summary.error}"))
        return
    against = names.get(summary.previous_id, "the version it replaced") if summary.previous_id else "no earlier version"
    st.caption(md(f"Every correction of the project (train and dev) tagged by {version.name} and by "
                  f"{against}; a correction counts as right when the version's spans are exactly the corrected ones."))
    for col, outcome in zip(st.columns(len(OUTCOMES)), OUTCOMES):
        col.metric(TITLES[outcome], summary.counts[outcome])
    if summary.broken_pins:
        listed = ", ".join(f"#{i}" for i in summary.broken_pins)
        st.error(md(f"{version.name} breaks pinned corrections: {listed}. It is not activated automatically."))
    options = [o for o in OUTCOMES if summary.counts[o]] or list(OUTCOMES)
    outcome = st.radio("Documents", options, horizontal=True, key=f"models_ledger_outcome_{version.id}",
                       index=options.index(REGRESSED) if REGRESSED in options else 0,
                       format_func=lambda o: md(f"{TITLES[o]} ({summary.counts[o]})"))
    entry_list(project, version, outcome, summary.counts[outcome], names.get(summary.previous_id))


def entry_list(project, version, outcome: str, total: int, previous_name: str | None) -> None:
    pages = max(1, -(-total // PAGE_SIZE))
    page = 1
    if pages > 1:
        page = int(st.number_input(f"Page (of {pages}, {PAGE_SIZE} documents each)", 1, pages, 1,
                                   key=f"models_ledger_page_{version.id}_{outcome}"))
    entries = services().ledger_entries(version.id, outcome, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    if not entries:
        st.caption("No documents.")
        return
    by_id = {e.document_id: e for e in entries}
    chosen = st.selectbox("Document", list(by_id), key=f"models_ledger_doc_{version.id}_{outcome}",
                          format_func=lambda i: f"#{i}{' 📌' if by_id[i].pinned else ''} · {excerpt(by_id[i].text)}")
    entry = by_id[chosen]
    side_by_side(project, entry.text, [("Correction", entry.gold), (version.name, entry.predicted),
                                       (previous_name or "previous version", entry.previous)],
                 key=f"models_ledger_view_{version.id}_{entry.document_id}")
    document_actions(entry.document_id, entry.pinned, key=f"models_ledger_{entry.document_id}")


def pins_section(project) -> None:
    """The project's pinned corrections (the regression set)."""
    pins = services().pinned_corrections(project.id)
    with st.expander(md(f"Pinned corrections ({len(pins)})")):
        if not pins:
            st.caption("None yet. Pin a correction from the documents above: a retrained version that breaks it "
                       "is not activated automatically.")
            return
        import pandas as pd

        st.dataframe(pd.DataFrame([(p.document_id, excerpt(p.text), p.pinned_by) for p in pins],
                                  columns=["document", "text", "pinned by"]), hide_index=True, key="models_pins")


def ledger_counts(version_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """version id -> its ledger counts, for the versions table (versions without a ledger left out)."""
    return {vid: s.counts for vid, s in services().ledger_summaries(version_ids).items() if not s.error}

