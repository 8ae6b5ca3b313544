"""Small helpers shared by the pages: the cached Services and models, highlighting; escaping (ui.text)."""

from __future__ import annotations

import os

import streamlit as st

from services import SPLITS, STATUSES, ActingServices, ProjectInfo, Services, Span  # noqa: F401  (pages take them from here)
from services.core import base_tokenizer
from tagger.patterns import selection_units  # noqa: F401  (the editor's units: words, CJK characters)
from ui.signin import acting_actor, system_services
from ui.text import counted, escape, guard_text_inputs, md  # noqa: F401  (the one escaping path; pages take it from here)


def services() -> Services | ActingServices:
    """The app's Services: in team mode bound to the signed-in person, so that every call checks
    their role and projects (services.policy); in single-user mode the unbound one.

    Raises:
        PermissionDenied: team mode and nobody signed in (a page run without app.py's wall).
    """
    actor = acting_actor()
    return system_services() if actor is None else system_services().as_user(actor)


def database_key() -> str:
    """The database's URL, for keys of cached data (ids repeat across databases)."""
    return str(system_services().engine.url)


def legend_html(colours: dict[str, str]) -> str:
    """One coloured chip per label."""
    chips = "".join(f'<mark class="seqlab-legend" style="background:{escape(c)};padding:0.1em 0.4em;'
                    f'border-radius:0.3em;margin-right:0.4em">{escape(name)}</mark>' for name, c in colours.items())
    return f'<div class="seqlab-legend-row">{chips}</div>'


@st.cache_resource(max_entries=4, show_spinner="Loading the model...")
def tags_html(text: str, words, colours: dict[str, str]) -> str:
    """Task ``tags``: each word with its tag under it (and how sure the model is, on hover), the
    text between words kept; everything escaped."""
    out, pos = [], 0
    for w in sorted(words, key=lambda s: s.start):
        if w.start > pos:
            out.append(escape(text[pos:w.start]))
        colour = colours.get(w.label, "#dddddd")
        sure = "" if w.score is None else f' title="{escape(f"{w.score:.2f}")}"'
        low = " seqlab-unsure" if w.score is not None and w.score < 0.6 else ""
        out.append(f'<span class="seqlab-word{low}"{sure} style="display:inline-block;text-align:center;'
                   f'margin:0 2px 6px 0;vertical-align:top"><span style="display:block">{escape(text[w.start:w.end])}'
                   f'</span><span style="display:block;font-size:0.7em;padding:0 3px;border-radius:3px;'
                   f'background:{escape(colour)}{";outline:1px dashed #c00" if low else ""}">{escape(w.label)}</span></span>')
        pos = max(pos, w.end)
    out.append(escape(text[pos:]))
    return f'<div class="seqlab-tags" style="line-height:1.3">{"".join(out)}</div>'


def frames_html(text: str, frames, colours: dict[str, str]) -> str:
    """Task ``frames``: one row per predicate, the predicate boxed with its sense, its arguments
    highlighted with their roles; everything escaped."""
    rows = []
    for frame in frames:
        marks = sorted([(frame.predicate, True), *((a, False) for a in frame.arguments)], key=lambda m: m[0].start)
        out, pos = [], 0
        for span, is_predicate in marks:
            if span.start < pos:
                continue
            out.append(escape(text[pos:span.start]))
            piece = escape(text[span.start:span.end])
            sure = "" if span.score is None else f' title="{escape(f"{span.score:.2f}")}"'
            if is_predicate:
                out.append(f'<b class="seqlab-predicate" style="border:2px solid #333;padding:0 3px;border-radius:3px"'
                           f'{sure}>{piece}<sub style="font-weight:normal"> {escape(span.label)}</sub></b>')
            else:
                out.append(f'<mark class="seqlab-argument" style="background:{escape(colours.get(span.label, "#dddddd"))};'
                           f'padding:0 3px;border-radius:3px"{sure}>{piece}<sub> {escape(span.label)}</sub></mark>')
            pos = span.end
        out.append(escape(text[pos:]))
        rows.append(f'<div class="seqlab-frame" style="line-height:1.9;margin-bottom:6px">{"".join(out)}</div>')
    return f'<div class="seqlab-frames">{"".join(rows)}</div>'


def _tagger(version_id: int):
    return services().load_tagger(services().version(version_id))


def active_tagger(project: ProjectInfo):
    """``(tagger, version)`` of the project's active version, or ``(None, None)``.

    Loaded once per version (cached by its folder); a newly activated version is used on the next run.
    """
    version = services().active_version(project.id)
    if version is None:
        return None, None
    return _tagger(version.id), version


@st.cache_resource(max_entries=4)
def tokenizer(base_model: str):
    """The base model's tokenizer (to warn about span edges inside subwords)."""
    return base_tokenizer(base_model)


@st.cache_data(ttl=60, show_spinner=False)
def _unseen_share(database: str, project_id: int, base_model: str, documents: int) -> float | None:
    """Cached per database, project, base model and number of documents (ids repeat across databases)."""
    return services().unseen_share(project_id, tokenizer(base_model))


def unseen_warning(project: ProjectInfo, threshold: float = 0.2) -> None:
    """Say so when the base model's tokenizer cannot see much of the project's text (issue 17)."""
    try:
        share = _unseen_share(database_key(), project.id, project.base_model,
                              services().queue_progress(project.id).total)
    except Exception:  # a base model that does not load is said where it is chosen (Settings)
        return
    if share is None or share < threshold:
        return
    st.warning(md(f"{share:.0%} of this project's characters are unknown ([UNK]) to the base model "
                  f"'{project.base_model}': BERT sees each of them as the same symbol. Training learns an "
                  "embedding for them and, for Chinese text, reads where each character stands in the words "
                  "of a dictionary (jieba's); both help, but a base model that knows the script does far better: "
                  "set a local Hugging Face folder (a Chinese BERT you have on disk, say) as the base model "
                  "in Settings."))


def colours(project: ProjectInfo) -> dict[str, str]:
    return {label.name: label.colour for label in project.labels}


def project_picker() -> ProjectInfo:
    """A sidebar selectbox over the projects; the chosen id is kept in ``st.session_state["project_id"]``.

    The default project is created first, so a fresh data folder shows "English NER". Every page
    calls this first, so it also mounts the guard that keeps lone surrogates out of text fields.
    """
    guard_text_inputs()
    svc = services()
    signed_in = isinstance(svc, ActingServices)
    default = svc.ensure_default_project() if not signed_in or svc.actor.admin else None
    projects = {p.id: p for p in svc.projects()}
    if not projects:  # in team mode: a person who is a member of no project yet
        st.info("You are not a member of any project yet: ask an admin to add you.")
        st.stop()
    ids = list(projects)
    default_id = default.id if default is not None and default.id in projects else ids[0]
    if "switch_project" in st.session_state:  # set by a page that created a project
        st.session_state["project_picker"] = st.session_state.pop("switch_project")
    current = st.session_state.get("project_id", default_id)
    if st.session_state.get("project_picker") not in projects:  # a project the person may not open
        st.session_state.pop("project_picker", None)
    index = ids.index(current) if current in ids else ids.index(default_id)
    chosen = st.sidebar.selectbox("Project", ids, index=index, key="project_picker",
                                  format_func=lambda pid: projects[pid].name)
    st.session_state["project_id"] = chosen
    return projects[chosen]


def start_worker_if_needed(project: ProjectInfo) -> None:
    """Start the training worker when the project has a queued job and no worker is alive.

    ``SEQLAB_WORKER=off`` leaves it to a worker started by hand (e.g. on another machine).
    """
    if os.environ.get("SEQLAB_WORKER", "auto").lower() == "off":
        return
    job = services().running_job(project.id)
    if job is not None and job.state == "queued" and services().ensure_worker():
        st.toast("Started the training worker.")


def annotator() -> str:
    """The name corrections are stored under: the signed-in person's, else the sidebar's "Your
    name" (kept for the session)."""
    actor = acting_actor()
    if actor is not None:
        st.session_state["annotator"] = actor.name
        return actor.name
    name = st.sidebar.text_input("Your name", value=st.session_state.get("annotator", "you"), key="annotator_input",
                                 max_chars=100, help="Stored with every correction you make.")
    st.session_state["annotator"] = name.strip() or "you"
    return st.session_state["annotator"]
