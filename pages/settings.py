"""Settings page: create and rename projects, manage labels and patterns, choose base model, decoder, encoder;
in team mode, the project's members and the accounts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from services import SeqLabError
from ui import md, project_picker, services, unseen_warning
from ui.accounts_view import team_section

TASK_KINDS = {"spans": "spans: entities in the text (NER)", "tags": "tags: one tag per word (e.g. part of speech)",
              "frames": "frames: predicates and their arguments (semantic roles, SRL)"}
DECODERS = {"crf": "CRF (models which tag may follow which; best F1)", "softmax": "softmax (fastest)"}
ENCODERS = {"bilstm": "BiLSTM with casing features (best F1)", "none": "none (plain transformers checkpoint)"}
QUEUE_ORDERS = {"uncertainty": "what the model is least sure of first (once a model is trained; file order before)",
                "file": "file order (as imported)", "random": "random (a fixed shuffle)"}


def attempt(action, success: str) -> bool:
    """Run ``action``; a user error becomes ``st.error``, success a toast. True if it worked."""
    try:
        action()
    except SeqLabError as exc:
        st.error(md(str(exc)))
        return False
    st.toast(md(success))  # "Label <name> saved": the name is user text
    return True


def new_project_section() -> None:
    with st.expander("New project"):
        with st.form("new_project_form", clear_on_submit=False):
            name = st.text_input("Project name", key="new_project_name", max_chars=200)
            kind = st.radio("Task kind", list(TASK_KINDS), format_func=TASK_KINDS.get, key="new_project_kind")
            labels = st.text_input("Labels (comma-separated)", key="new_project_labels", value="PER, ORG, LOC, MISC")
            submitted = st.form_submit_button("Create project")
        if submitted:
            names = [x.strip() for x in labels.split(",") if x.strip()]
            try:
                created = services().create_project(name, names, task_kind=kind)
            except SeqLabError as exc:
                st.error(md(str(exc)))
                return
            st.session_state["switch_project"] = created.id
            st.rerun()


def project_section(project) -> None:
    st.subheader("Project")
    name = st.text_input("Name", value=project.name, key=f"project_name_{project.id}", max_chars=200)
    if name != project.name and st.button("Rename project", key="rename_project"):
        if attempt(lambda: services().update_project(project.id, name=name), "Project renamed"):
            st.rerun()
    st.caption(f"Task kind: {md(TASK_KINDS[project.task_kind])}")


def model_section(project) -> None:
    st.subheader("Model")
    with st.form(f"model_form_{project.id}"):
        base = st.text_input("Base model", value=project.base_model, key="base_model",
                             help="'default' is the embedded all-MiniLM-L6-v2 (offline). Or a local folder, "
                                  "or a Hugging Face id already in the local cache.")
        decoder = st.selectbox("Decoder", list(DECODERS), index=list(DECODERS).index(project.decoder),
                               format_func=DECODERS.get, key="decoder")
        encoder = st.selectbox("Encoding layer", list(ENCODERS), index=list(ENCODERS).index(project.encoder),
                               format_func=ENCODERS.get, key="encoder")
        auto = st.checkbox("Activate a newly trained version automatically if its dev F1 did not get worse",
                           value=project.auto_activate, key="auto_activate")
        saved = st.form_submit_button("Save model settings")
    if saved:
        changes = dict(base_model=base, decoder=decoder, encoder=encoder, auto_activate=auto)
        if attempt(lambda: services().update_project(project.id, **changes), "Model settings saved"):
            st.rerun()
    st.caption("These apply to the next training job; existing versions keep what they were trained with.")
    unseen_warning(project)


def queue_section(project) -> None:
    st.subheader("Annotation queue")
    order = st.selectbox("Annotate asks for", list(QUEUE_ORDERS), index=list(QUEUE_ORDERS).index(project.queue_order),
                         format_func=QUEUE_ORDERS.get, key=f"queue_order_{project.id}")
    if order != project.queue_order:
        if attempt(lambda: services().update_project(project.id, queue_order=order), "Queue order saved"):
            st.rerun()
    st.caption("The training worker ranks the waiting documents after each retrain (and after an activation "
               "or rollback), so the uncertainty order follows the active model without slowing this app.")


def _row_key(project, name: str) -> str:
    """Widget keys of one label row hold the name it shows, so a rename made elsewhere gives fresh
    fields (never a stale name that a save would rename the label back to)."""
    return f"{project.id}_{name}"


def stale_label_saves(project) -> None:
    """A "Save label" pressed on a row whose label was renamed (in another tab, or by someone else)
    after this page showed it: that row is gone, so say what was not saved instead of dropping it."""
    prefix = f"label_save_{project.id}_"
    shown = {_row_key(project, label.name) for label in project.labels}
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(prefix)]:
        row = key.removeprefix("label_save_")
        if st.session_state.get(key) and row not in shown:
            name = row.removeprefix(f"{project.id}_")
            wanted = st.session_state.get(f"label_name_{row}", name)
            shortcut = st.session_state.get(f"label_key_{row}", "")
            st.error(md(f"Label '{name}' was not saved: there is no label '{name}' any more (it was renamed "
                        f"or changed in another tab, or by someone else, after this page showed it). Your change "
                        f"(name '{wanted}', key '{shortcut}') was not applied; the labels below are as stored now."))


def labels_section(project) -> None:
    st.subheader("Labels")
    stale_label_saves(project)
    for label in project.labels:
        key = _row_key(project, label.name)
        with st.form(f"label_form_{key}", border=False):
            cols = st.columns([3, 1, 1, 2], vertical_alignment="bottom")
            new_name = cols[0].text_input("Label", value=label.name, key=f"label_name_{key}", max_chars=100)
            colour = cols[1].color_picker("Colour", value=label.colour, key=f"label_colour_{key}")
            shortcut = cols[2].text_input("Key", value=label.shortcut or "", key=f"label_key_{key}", max_chars=1)
            saved = cols[3].form_submit_button("Save label", key=f"label_save_{key}")
        if saved:
            def change(label=label, new_name=new_name, colour=colour, shortcut=shortcut):
                services().update_label(project.id, label.name, colour=colour, shortcut=shortcut)
                if new_name.strip() != label.name:
                    services().rename_label(project.id, label.name, new_name, annotator=st.session_state.get(
                        "annotator", "you"))
            if attempt(change, f"Label {label.name} saved"):
                st.rerun()
    with st.form(f"add_label_{project.id}", clear_on_submit=True):
        cols = st.columns([3, 1, 1])
        name = cols[0].text_input("New label", key="new_label_name", max_chars=100)
        colour = cols[1].color_picker("Colour", value="#8ecae6", key="new_label_colour")
        shortcut = cols[2].text_input("Key", key="new_label_key", max_chars=1)
        if st.form_submit_button("Add label"):
            if attempt(lambda: services().add_label(project.id, name, colour, shortcut or None), "Label added"):
                st.rerun()


PATTERN_KINDS = {"term": "term (whole words, any case)", "regex": "regular expression"}
FROM_LINES = "From each line (LABEL<TAB>term)"


def patterns_frame(patterns) -> pd.DataFrame:
    return pd.DataFrame([(p.label, p.kind, p.pattern, p.case_sensitive, p.created_by) for p in patterns],
                        columns=["label", "kind", "pattern", "case sensitive", "added by"])


def patterns_section(project) -> None:
    """Term lists and regular expressions that suggest labels: suggestions on Annotate and Tag while
    there is no model, hints about what the model missed afterwards."""
    st.subheader("Patterns")
    st.caption("Terms and regular expressions mapped to labels. Before the first model is trained, Annotate "
               "and Tag suggest what they match (drawn dotted, for you to confirm); afterwards, matches the "
               "model missed are shown as hints. Terms match whole words; regular expressions must start "
               "and end on word edges.")
    if not project.labels:
        st.info("Add a label first: every pattern suggests one of the project's labels.")
        return
    who = st.session_state.get("annotator", "you")
    with st.form(f"add_pattern_{project.id}", clear_on_submit=True):
        cols = st.columns([2, 2, 4, 1], vertical_alignment="bottom")
        label = cols[0].selectbox("Label", project.label_names, key="pattern_label")
        kind = cols[1].selectbox("Kind", list(PATTERN_KINDS), format_func=PATTERN_KINDS.get, key="pattern_kind")
        text = cols[2].text_input("Term or expression", key="pattern_text", max_chars=500,
                                  placeholder="e.g. Acme Corp, or \\d{4}-\\d{2}-\\d{2}")
        case = cols[3].checkbox("Case", key="pattern_case", help="Match the case exactly")
        if st.form_submit_button("Add pattern"):
            attempt(lambda: services().add_pattern(project.id, label, text, kind, case, created_by=who),
                    "Pattern added")
    with st.expander("Import a list"):
        with st.form(f"import_patterns_{project.id}", clear_on_submit=True):
            upload = st.file_uploader("A list: one term per line; or LABEL<TAB>term lines; or JSONL "
                                      '{"label": ..., "pattern": ...}', type=["txt", "tsv", "jsonl", "csv"],
                                      key="pattern_file")
            cols = st.columns(2)
            list_label = cols[0].selectbox("Label of the list", [FROM_LINES, *project.label_names],
                                           key="pattern_list_label")
            list_kind = cols[1].selectbox("Lines are", list(PATTERN_KINDS), format_func=PATTERN_KINDS.get,
                                          key="pattern_list_kind")
            if st.form_submit_button("Import list") and upload is not None:
                chosen = None if list_label == FROM_LINES else list_label
                try:
                    added = services().import_patterns(project.id, upload.name, upload.getvalue(), label=chosen,
                                                       kind=list_kind, created_by=who)
                except SeqLabError as exc:
                    st.error(md(str(exc)))
                else:
                    st.success(f"Imported {added.added:,} patterns ({added.duplicates:,} already there).")
    patterns = services().patterns(project.id)
    if not patterns:
        st.caption("No patterns yet.")
        return
    picked = st.dataframe(patterns_frame(patterns), hide_index=True, key=f"patterns_table_{project.id}",
                          on_select="rerun", selection_mode="multi-row")
    rows = [patterns[i] for i in picked.selection.rows if i < len(patterns)] if picked else []
    if len(rows) == 1:
        edit_pattern(project, rows[0])
    if rows and st.button(f"Delete {len(rows)} selected pattern{'s' if len(rows) > 1 else ''}",
                          key=f"delete_patterns_{project.id}"):
        gone = services().delete_patterns(project.id, [p.id for p in rows])
        st.toast(f"Deleted {gone} pattern{'s' if gone != 1 else ''}")
        st.rerun()
    try_patterns(project)


def edit_pattern(project, pattern) -> None:
    with st.form(f"edit_pattern_{pattern.id}"):
        cols = st.columns([2, 2, 4, 1], vertical_alignment="bottom")
        names = project.label_names
        label = cols[0].selectbox("Label", names, index=names.index(pattern.label) if pattern.label in names else 0,
                                  key=f"edit_pattern_label_{pattern.id}")
        kinds = list(PATTERN_KINDS)
        kind = cols[1].selectbox("Kind", kinds, index=kinds.index(pattern.kind), format_func=PATTERN_KINDS.get,
                                 key=f"edit_pattern_kind_{pattern.id}")
        text = cols[2].text_input("Term or expression", value=pattern.pattern, max_chars=500,
                                  key=f"edit_pattern_text_{pattern.id}")
        case = cols[3].checkbox("Case", value=pattern.case_sensitive, key=f"edit_pattern_case_{pattern.id}")
        if st.form_submit_button("Save pattern"):
            if attempt(lambda: services().update_pattern(project.id, pattern.id, label, text, kind, case),
                       "Pattern saved"):
                st.rerun()


def try_patterns(project) -> None:
    text = st.text_input("Try the patterns on a text", key=f"try_patterns_{project.id}", max_chars=5000)
    if not text.strip():
        return
    try:
        found = services().pattern_spans(project.id, text)
    except SeqLabError as exc:
        st.error(md(str(exc)))
        return
    st.caption(md("Matches: " + (", ".join(f"'{text[s.start:s.end]}' {s.label}" for s in found) or "none")))


project = project_picker()
st.title("Settings")
new_project_section()
project_section(project)
labels_section(project)
patterns_section(project)
model_section(project)
queue_section(project)
team_section(project)
