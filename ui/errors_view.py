"""The Models page's error analysis: the label confusion and the error kinds as cells to click; a
cell lists its sentences with the correction and the version's spans side by side (the editor's
read-only renderer), each of which opens in Annotate. Built from the version's ledger."""

from __future__ import annotations

import streamlit as st

from tagger.config import FAST_PRECISION
from tagger.error_cells import ERROR_KINDS, OUTSIDE, Cell, confusion_cell, error_cell
from ui import counted, database_key, md, services
from ui.ledger_view import PAGE_SIZE, document_actions, excerpt, side_by_side

KIND_TITLES = {"wrong_label": "wrong label", "wrong_boundary": "wrong boundary", "missed": "missed",
               "spurious": "spurious"}
CELL = "models_cell"  # session key: (version id, Cell) chosen
MAX_GRID = 12  # labels up to this many get a grid of buttons; more get two pickers


@st.cache_data(max_entries=8, show_spinner="Reading the version's spans on every correction...")
def _cells(database: str, version_id: int, scored_at, dev_only: bool):
    """The cells of a version's ledger, kept while that ledger (the database, the version, when it
    was scored) is the same: reading every entry on each run of the page would not scale."""
    return services().error_cells(version_id, dev_only=dev_only)


def cell_title(cell: Cell) -> str:
    if cell.kind == "confusion":
        return f"gold {cell.gold} → predicted {cell.predicted}"
    return KIND_TITLES[cell.kind]


def errors_section(project, version) -> None:
    """The cells of the chosen version, then the sentences of the cell chosen."""
    summary = services().ledger_summary(version.id)
    if summary is None or summary.error:
        return
    st.subheader("Errors, sentence by sentence")
    dev_only = st.toggle("Only the dev documents (what the dev F1 is on)", value=True,
                         key=f"models_cells_dev_{version.id}")
    index = _cells(database_key(), version.id, summary.scored_at, dev_only)
    st.caption(md(f"{counted(index.scored, 'document')}, as {version.name} tags them in the app ({FAST_PRECISION}). "
                  "Click a number to see its sentences."))
    kinds = st.columns(len(ERROR_KINDS))
    for col, kind in zip(kinds, ERROR_KINDS):
        cell_button(col, version, error_cell(kind), index.count(error_cell(kind)), KIND_TITLES[kind])
    labels = index.labels()
    if labels:
        st.caption("Confusion: rows are the corrected label, columns the predicted one (O: no span).")
        confusion(version, index, labels)
    chosen = st.session_state.get(CELL)
    if chosen and chosen[0] == version.id:
        cell_sentences(project, version, chosen[1], index.documents.get(chosen[1], ()))


def cell_button(container, version, cell: Cell, count: int, label: str) -> None:
    key = f"models_cell_{version.id}_{cell.kind}_{cell.gold}_{cell.predicted}"
    if container.button(md(f"{label}: {count}" if label else str(count)), key=key, disabled=not count,
                        width="stretch"):
        st.session_state[CELL] = (version.id, cell)


def confusion(version, index, labels: list[str]) -> None:
    if len(labels) > MAX_GRID:
        left, right = st.columns(2)
        gold = left.selectbox("Corrected label", labels, key=f"models_cells_gold_{version.id}")
        pred = right.selectbox("Predicted label", labels, key=f"models_cells_pred_{version.id}")
        cell = confusion_cell(gold, pred)
        cell_button(st, version, cell, index.count(cell), f"{gold} → {pred}")
        return
    header = st.columns(len(labels) + 1)
    header[0].caption("gold \\ predicted")
    for col, name in zip(header[1:], labels):
        col.caption(md(name))
    for gold in labels:
        row = st.columns(len(labels) + 1)
        row[0].caption(md(gold))
        for col, pred in zip(row[1:], labels):
            cell = confusion_cell(gold, pred)
            if gold == OUTSIDE and pred == OUTSIDE:
                continue
            cell_button(col, version, cell, index.count(cell), "")


def cell_sentences(project, version, cell: Cell, doc_ids) -> None:
    st.markdown(f"**{md(cell_title(cell))}**: {counted(len(doc_ids), 'document')}")
    if not doc_ids:
        return
    shown = list(doc_ids[:PAGE_SIZE])
    entries = {e.document_id: e for e in services().ledger_entries_of(version.id, shown)}
    if len(doc_ids) > PAGE_SIZE:
        st.caption(f"The first {PAGE_SIZE} of them.")
    key = f"models_cell_doc_{version.id}_{cell.kind}_{cell.gold}_{cell.predicted}"
    chosen = st.selectbox("Sentence", [i for i in shown if i in entries], key=key,
                          format_func=lambda i: f"#{i} · {excerpt(entries[i].text)}")
    entry = entries[chosen]
    side_by_side(project, entry.text, [("Correction", entry.gold), (version.name, entry.predicted)],
                 key=f"models_cell_view_{version.id}_{chosen}")
    document_actions(chosen, None, key=f"models_cell_{chosen}")
