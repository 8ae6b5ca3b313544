"""Train page: one button to fine-tune on the project's corrections, live progress, cancel, history.

The training itself runs in the worker process (``python -m worker``), never in the Streamlit
server, so this page only reads the job's row: the fragment below polls it while a job is
queued or running and stops polling once it is finished.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from services import SeqLabError
from ui import md, project_picker, services, start_worker_if_needed, unseen_warning

POLL_S = 1.5


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def data_summary(project):
    """Show what the next job would train on; its TrainingSummary, or None when there is nothing."""
    try:
        data = services().training_summary(project.id)
    except SeqLabError as exc:
        st.error(md(str(exc)))
        return None
    dev = (f"{data.dev_docs} held out from train (the dev split is empty)" if data.dev_holdout
           else f"{data.dev_docs} dev documents")
    st.markdown(f"Training data: **{data.train_docs}** corrected train documents "
                f"({data.train_spans} entities), evaluated on {dev}.")
    unseen_warning(project)
    if not data.train_docs:
        st.info("Nothing to train on yet: correct documents on the Annotate page, or import a labelled file on "
                "the Data page.")
        return None
    return data


def advanced_options(project, data) -> dict:
    """Overrides of the defaults (chosen from the data size; see bench/learning_curve.py), folded away."""
    defaults = services().training_defaults(project.id, data)
    with st.expander("Advanced options"):
        cols = st.columns(4)
        epochs = cols[0].number_input("Epochs", 1, 100, value=None, placeholder=f"auto ({defaults['epochs']})",
                                      key="train_epochs")
        batch = cols[1].number_input("Batch size", 1, 256, value=None, placeholder=f"auto ({defaults['batch_size']})",
                                     key="train_batch")
        lr = cols[2].number_input("Learning rate", 1e-6, 1e-2, value=None, step=1e-5, placeholder="auto",
                                  format="%.1e", key="train_lr")
        choices = ["active", "base"] if defaults["warm_start"] == "active" else ["base", "active"]
        warm = cols[3].selectbox("Start from", choices, key="train_warm",
                                 format_func={"base": "the base model",
                                              "active": "the active version (if any)"}.get)
    if warm == defaults["warm_start"]:
        warm = None  # the default: the worker falls back to the base model when nothing is active
    options = {"epochs": epochs, "batch_size": batch, "lr": lr, "warm_start": warm}
    return {k: v for k, v in options.items() if v is not None}


def start_section(project) -> None:
    data = data_summary(project)
    overrides = advanced_options(project, data)
    if st.button("Start training", key="train_start", type="primary", disabled=data is None):
        try:
            job, created = services().start_training(project.id, **overrides)
        except SeqLabError as exc:
            st.error(md(str(exc)))
            return
        if not created:
            st.session_state["train_notice"] = f"Job #{job.id} with the same data and settings is already {job.state}."
        st.rerun()


def job_progress(job) -> None:
    """Progress bar, ETA, loss and dev-F1 charts, and cancel, for one queued or running job."""
    if job.state == "queued":
        st.info(f"Job #{job.id} is queued; the worker picks it up in a moment.")
    text = f"Job #{job.id} · step {job.step} / {job.total or '?'}"
    if job.eta_s is not None and job.state == "running":
        text += f" · about {duration(job.eta_s)} left"
    if job.tokens_per_s:
        text += f" · {job.tokens_per_s:,.0f} tokens/s"
    st.progress(job.progress, text=text)
    left, right = st.columns(2)
    if job.loss_history:
        left.caption("Training loss")
        left.line_chart(pd.DataFrame(job.loss_history, columns=["step", "loss"]).set_index("step"), height=220)
    if len(job.dev_history) == 1:  # one point draws no line
        value = job.dev_history[0][1]
        right.metric("Dev F1 after epoch 1", "–" if value is None else f"{value:.3f}")
    elif job.dev_history:
        right.caption("Dev F1 after each epoch")
        right.line_chart(pd.DataFrame(job.dev_history, columns=["step", "dev F1"]).set_index("step"), height=220)
    if job.cancel_requested:
        st.caption("Cancelling...")
    elif st.button("Cancel", key=f"train_cancel_{job.id}"):
        services().cancel_training(job.id)
        st.rerun()


def live_section(project) -> None:
    """Polls while a job is queued or running; a full rerun when it ends stops the polling."""
    running = services().running_job(project.id)

    @st.fragment(run_every=POLL_S if running else None)
    def live():
        job = services().running_job(project.id)
        if job is None:
            if running is not None:
                st.rerun()  # it just finished: redraw the page (history, no more polling)
            return
        if job.state == "queued":
            start_worker_if_needed(project)  # e.g. the worker idled out just as the job was queued
        job_progress(job)

    live()


def history_section(project) -> None:
    st.subheader("Job history")
    jobs = [j for j in services().jobs(project.id) if j.finished]  # the live section shows the others
    if not jobs:
        st.caption("No finished training jobs yet.")
        return
    now = datetime.now(UTC)
    rows = [(j.id, j.state, j.created_at, duration(((j.finished_at or now) - j.started_at).total_seconds())
             if j.started_at else "–", f"{j.step}/{j.total}", j.message or "") for j in jobs]
    st.dataframe(pd.DataFrame(rows, columns=["job", "state", "queued at", "took", "steps", "message"]),
                 hide_index=True, key="train_history")
    last = jobs[0]
    if last.state == "failed":
        st.error(md(f"Job #{last.id} failed: {last.message}"))
    elif last.state == "succeeded":
        st.success(md(f"Job #{last.id}: {last.message}. See the Models page."))


project = project_picker()
st.title("Train")
st.markdown("Fine-tune the tagger on this project's corrections. Training runs in the background: keep "
            "annotating while it runs.")
notice = st.session_state.pop("train_notice", None)
if notice:
    st.info(md(notice))
start_section(project)
start_worker_if_needed(project)
live_section(project)
history_section(project)
