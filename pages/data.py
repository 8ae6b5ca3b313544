"""Data page: import (upload, preview, validation), the document table with filters, export."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from services import Example, ProjectInfo, SeqLabError
from ui import SPLITS, STATUSES, md, project_picker, services

UPLOAD_TYPES = ["txt", "conll", "bio", "bioes", "iob", "tsv", "jsonl", "json"]
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
        preview = services().preview_file(upload.name, data, scheme)
    except SeqLabError as exc:
        st.error(md(str(exc)))
        return
    st.caption(f"Preview of {md(upload.name)}: the first {len(preview)} documents")
    st.dataframe(preview_frame(preview), hide_index=True)
    if st.button("Import", key="import_button", type="primary"):
        try:
            result = services().import_file(project.id, upload.name, data, scheme)
        except SeqLabError as exc:
            st.error(md(str(exc)))
            return
        st.success(f"Imported {result.added} documents ({result.duplicates} duplicates skipped)")


def documents_section(project: ProjectInfo) -> None:
    """The project's documents, filtered by status and split, and the queue's progress."""
    st.subheader("Documents")
    left, right, metric = st.columns(3)
    status = left.selectbox("Status", [ALL, *STATUSES], key="filter_status")
    split = right.selectbox("Split", [ALL, *SPLITS], key="filter_split")
    progress = services().queue_progress(project.id)
    metric.metric("Corrected", f"{progress.done} / {progress.total}")
    frame = services().documents_frame(project.id, status=None if status == ALL else status,
                                       split=None if split == ALL else split)
    st.dataframe(frame, hide_index=True)


def export_section(project: ProjectInfo) -> None:
    """Downloads of every document as JSONL or as a BIO / BIOES column file."""
    st.subheader("Export")
    stem = re.sub(r"[^\w.-]+", "_", project.name).strip("._") or "project"
    left, right = st.columns(2)
    left.download_button("Download JSONL", services().export_jsonl(project.id), file_name=f"{stem}.jsonl",
                         mime="application/jsonl", key="export_jsonl", on_click="ignore")
    scheme = right.radio("Column scheme", ["BIO", "BIOES"], key="export_scheme", horizontal=True)
    right.download_button("Download column file", services().export_column(project.id, scheme),
                          file_name=f"{stem}.conll", mime="text/plain", key="export_column",
                          on_click="ignore")


project = project_picker()
st.title("Data")
st.markdown(f"Project **{md(project.name)}**: bring texts in, check what is stored, and take it "
            "out again. Upload annotated files (or plain text to annotate) here.")
import_section(project)
documents_section(project)
export_section(project)
