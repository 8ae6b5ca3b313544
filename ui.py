"""Small helpers shared by the pages: the cached Services, HTML escaping, the project picker."""

from __future__ import annotations

import html

import streamlit as st

from services import SPLITS, STATUSES, ProjectInfo, Services  # noqa: F401  (pages take them from here)


@st.cache_resource
def services() -> Services:
    """The app's one Services (engine + session factory), on SEQLAB_DB_URL or SEQLAB_HOME."""
    return Services()


def escape(text: str) -> str:
    """THE escaping function for anything user-provided that goes into markdown or HTML."""
    return html.escape(str(text), quote=True)


def project_picker() -> ProjectInfo:
    """A sidebar selectbox over the projects; the chosen id is kept in ``st.session_state["project_id"]``.

    The default project is created first, so a fresh data folder shows "English NER".
    """
    svc = services()
    default = svc.ensure_default_project()
    projects = {p.id: p for p in svc.projects()}
    ids = list(projects)
    current = st.session_state.get("project_id", default.id)
    index = ids.index(current) if current in ids else ids.index(default.id)
    chosen = st.sidebar.selectbox("Project", ids, index=index, key="project_picker",
                                  format_func=lambda pid: projects[pid].name)
    st.session_state["project_id"] = chosen
    return projects[chosen]
