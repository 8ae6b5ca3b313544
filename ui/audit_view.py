"""The Models page's label-noise audit: start one (a worker job), then its findings, most
suspicious first, each with the stored correction beside what the evidence suggests, and a way to
open the document in Annotate to fix it."""

from __future__ import annotations

import streamlit as st

from services import SeqLabError
from services.audit import DEFAULT_FOLDS, is_audit
from ui import md, services, start_worker_if_needed
from ui.ledger_view import PAGE_SIZE, document_actions, excerpt, side_by_side

NOTICE = "models_audit_notice"


def suggestion(stored, suspect, suggested) -> list:
    """The stored spans with the suspect ones replaced by the suggested ones."""
    gone = {s.key() for s in suspect}
    kept = [s for s in stored if s.key() not in gone
            and not any(s.start < g.end and g.start < s.end for g in suggested)]
    return sorted([*kept, *suggested])


def audit_section(project) -> None:
    st.subheader("Label-noise audit")
    st.caption("Corrections that are probably wrong: the same string labelled differently across documents, and "
               "documents where a model trained on the other folds disagrees with the stored spans (one training "
               "per fold, run by the worker; the project's settings).")
    left, right = st.columns([1, 3])
    folds = left.number_input("Folds", 0, 10, DEFAULT_FOLDS, key="models_audit_folds",
                              help="0: the string check alone, no training")
    if right.button("Run the audit", key="models_audit_start"):
        try:
            job, created = services().start_audit(project.id, int(folds))
            start_worker_if_needed(project)
            st.session_state[NOTICE] = (f"Audit job #{job.id} is queued." if created
                                        else f"Audit job #{job.id} with the same data is already {job.state}.")
        except SeqLabError as exc:
            st.error(md(str(exc)))
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.info(md(notice))
    running = services().running_job(project.id)
    if running is not None and is_audit(running):
        st.info(md(f"Audit job #{running.id} is {running.state}" +
                   (f": fold {running.step} of {running.total}." if running.total else ".")))
    findings_section(project)


def findings_section(project) -> None:
    job, count = services().latest_audit(project.id)
    if job is None:
        st.caption("No audit has finished yet.")
        return
    st.caption(md(f"Audit job #{job.id}: {job.message or ''}. {count} findings, most suspicious first"
                  + (f" (the first {PAGE_SIZE} here)." if count > PAGE_SIZE else ".")))
    findings = {f.rank: f for f in services().audit_findings(job.id, limit=PAGE_SIZE)}
    if not findings:
        return
    rank = st.selectbox("Finding", list(findings), key=f"models_audit_pick_{job.id}",
                        format_func=lambda r: f"{findings[r].score:.2f} · #{findings[r].document_id} · "
                                              f"{excerpt(findings[r].reason, 120)}")
    f = findings[rank]
    st.caption(md(f"Why: {f.reason}."))
    columns = [("Stored correction", f.stored), ("Suggested", suggestion(f.stored, f.suspect, f.suggested))]
    side_by_side(project, f.text, columns, key=f"models_audit_view_{job.id}_{rank}")
    document_actions(f.document_id, None, key=f"models_audit_{job.id}_{rank}")
