"""Data page: import (upload, preview, validation), the document table with filters, export."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from services import PAGE_SIZE, Example, ProjectInfo, SeqLabError
from ui import SPLITS, STATUSES, counted, md, project_picker, services

UPLOAD_TYPES = ["txt", "conll", "conllu", "bio", "bioes", "iob", "tsv", "jsonl", "json"]
SCHEME_CHOICES = ["Detect", "IOB1", "IOB2", "IOBES", "BILOU", "BMES"]
ALL = "All"


def preview_frame(examples: list[Example]) -> pd.DataFrame:
    """Text and spans ("Alice [PER]") of each previewed document."""
    rows = [(ex.text, ", ".join(f"{ex.text[s.start:s.end]} [{s.label}]" for s in ex.spans))
            for ex in examples]
    return pd.DataFrame(rows, columns=["text", "spans"])


def import_section(project: ProjectInfo) -> None:
    """Upload a file, preview its first documents, and store them all with one button."""
    st.subheader("Import")
    upload = st.file_uploader("Upload a file (CoNLL-style columns, JSONL or plain text)",
                              type=UPLOAD_TYPES, key="upload")
    choice = st.selectbox("Tagging scheme of a column file", SCHEME_CHOICES, key="import_scheme",
                          help="Detect reads the scheme from the tags of the whole file.")
    if upload is None:
        return
    scheme = None if choice == "Detect" else choice
    data = upload.getvalue()
    try:
        preview = services().preview_upload(upload.name, data, scheme, project_id=project.id)
    except SeqLabError as exc:
        st.error(md(str(exc)))
        return
    for warning in preview.warnings:  # what the reading repaired, as the CLI prints it
        st.warning(md(warning))
    st.caption(f"Preview of {md(upload.name)}: the first {len(preview.examples)} of "
               f"{counted(preview.total, 'document')}")
    st.dataframe(preview_frame(list(preview.examples)), hide_index=True)
    add = new_labels_offer(project, preview.new_labels)
    n = len(preview.new_labels)
    button = f"Add {counted(n, 'label')} and import" if add and n else "Import"
    if st.button(button, key="import_button", type="primary"):
        try:
            result = services().import_file(project.id, upload.name, data, scheme, add_labels=add)
        except SeqLabError as exc:
            st.error(md(str(exc)))
            return
        message = f"Imported {counted(result.added, 'document')} ({counted(result.duplicates, 'duplicate')} skipped)"
        if add and n:  # the label names are the file's text: escaped
            message += md(f"; added the labels {', '.join(name for name, _ in preview.new_labels)}.")
        st.success(message)


def new_labels_offer(project: ProjectInfo, new_labels) -> bool:
    """Say which of the file's labels the project lacks; the person's choice to add them on import."""
    if not new_labels:
        return False
    listed = ", ".join(f"'{name}' ({count:,} span{'s' if count != 1 else ''})" for name, count in new_labels)
    st.warning(md(f"This file uses {len(new_labels)} label{'s' if len(new_labels) > 1 else ''} that "
                  f"{project.name} does not have: {listed}."))
    return st.checkbox("Add them to the project when importing", value=True, key="import_add_labels",
                       help="Unticked, the import stops at the first document that uses one.")


def documents_section(project: ProjectInfo) -> None:
    """The project's documents, filtered by status and split, a page at a time, and the queue's progress.

    Counted and paged in the database: a run reads one page of rows, however big the project.
    """
    st.subheader("Documents")
    left, right, metric = st.columns(3)
    status = left.selectbox("Status", [ALL, *STATUSES], key="filter_status")
    split = right.selectbox("Split", [ALL, *SPLITS], key="filter_split")
    progress = services().queue_progress(project.id)
    metric.metric("Corrected", f"{progress.done:,} / {progress.total:,}")
    page = services().documents_page(project.id, status=None if status == ALL else status,
                                     split=None if split == ALL else split,
                                     page=st.session_state.get("documents_page", 1))
    st.session_state["documents_page"] = page.page  # back in range after a filter shrank the list
    st.dataframe(page.frame, hide_index=True, key="documents_table")
    first = (page.page - 1) * PAGE_SIZE
    pager, where = st.columns([1, 3], vertical_alignment="bottom")
    pager.number_input(f"Page (of {page.pages:,})", min_value=1, max_value=page.pages, step=1, key="documents_page")
    where.caption(f"Documents {first + 1 if page.total else 0:,}–{first + len(page.frame):,} of {page.total:,}")


def export_section(project: ProjectInfo) -> None:
    """Downloads of every document as JSONL or as a BIO / BIOES column file.

    The files are built only when a button is pressed (Streamlit calls ``data`` then, in its
    own thread), never on an ordinary run of the page.
    """
    st.subheader("Export")
    stem = re.sub(r"[^\w.-]+", "_", project.name).strip("._") or "project"
    left, right = st.columns(2)
    svc, project_id = services(), project.id
    left.download_button("Download JSONL", lambda: svc.export_jsonl(project_id), file_name=f"{stem}.jsonl",
                         mime="application/jsonl", key="export_jsonl", on_click="ignore")
    scheme = right.radio("Column scheme", ["BIO", "BIOES"], key="export_scheme", horizontal=True)
    right.download_button("Download column file", lambda: svc.export_column(project_id, scheme),
                          file_name=f"{stem}.conll", mime="text/plain", key="export_column",
                          on_click="ignore")


project = project_picker()
st.title("Data")
st.markdown(f"Project **{md(project.name)}**: bring texts in, check what is stored, and take it "
            "out again. Upload annotated files (or plain text to annotate) here.")
import_section(project)
documents_section(project)
export_section(project)
