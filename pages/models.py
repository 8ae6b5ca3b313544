"""Models page: versions with their dev metrics, per-label scores and error types, what each
learned from the corrections (the ledger, ui/ledger_view.py), pins, comparison, activation and
rollback, and download of a version's Hugging Face folder."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from services import SeqLabError
from ui import md, project_picker, services
from ui.audit_view import audit_section
from ui.errors_view import errors_section
from ui.ledger_view import ledger_counts, ledger_section, pins_section

ERROR_TYPES = {"wrong_label": "wrong label", "wrong_boundary": "wrong boundary", "missed": "missed",
               "spurious": "spurious"}


def score(metrics: dict, key: str) -> float | None:
    value = (metrics or {}).get(key)
    return None if value is None else round(float(value), 4)


def versions_frame(versions, ledgers: dict[int, dict[str, int]] | None = None) -> pd.DataFrame:
    rows = []
    for v in versions:
        data = v.data or {}
        dev = f"{data.get('dev_docs', '?')}{' (held out)' if data.get('dev_holdout') else ''}"
        counts = (ledgers or {}).get(v.id, {})
        rows.append((v.name, "✓" if v.active else "", v.f1 and round(v.f1, 4), score(v.metrics, "precision"),
                     score(v.metrics, "recall"), counts.get("learned"), counts.get("still_wrong"),
                     counts.get("regressed"), data.get("train_docs"), dev, v.created_at))
    # "dev F1": a tags model's token accuracy (VersionInfo.f1)
    return pd.DataFrame(rows, columns=["version", "active", "dev F1", "precision", "recall", "learned", "still wrong",
                                       "regressed", "train docs", "dev docs", "created"])


def per_label_frame(metrics: dict) -> pd.DataFrame:
    rows = [(label, round(s["precision"], 4), round(s["recall"], 4), round(s["f1"], 4), s.get("support"))
            for label, s in sorted((metrics or {}).get("per_label", {}).items())]
    return pd.DataFrame(rows, columns=["label", "precision", "recall", "F1", "support"])


def errors_frame(metrics: dict) -> pd.DataFrame:
    errors = (metrics or {}).get("errors") or {}
    return pd.DataFrame([(name, errors.get(key, 0)) for key, name in ERROR_TYPES.items()],
                        columns=["error type", "count"])


def version_detail(project, version, active) -> None:
    """One version: its per-label table, error types, activate/rollback and download."""
    st.subheader(md(version.name) + (" (active)" if version.active else ""))
    if not version.metrics:
        st.caption("This version has no dev evaluation.")
    else:
        left, right = st.columns([3, 2])
        left.dataframe(per_label_frame(version.metrics), hide_index=True, key="models_per_label")
        right.dataframe(errors_frame(version.metrics), hide_index=True, key="models_errors")
    cols = st.columns(2)
    broken = services().broken_pins(version) if not version.active else []
    if broken:
        st.warning(md(f"{version.name} breaks pinned corrections ({', '.join(f'#{i}' for i in broken)}): "
                      "it gets them wrong where the version it was compared with got them right."))
    if not version.active:
        older = active is not None and version.id < active.id
        label = f"Roll back to {md(version.name)}" if older else f"Activate {md(version.name)}"
        if cols[0].button(label, key="models_activate", type="primary"):
            try:
                services().activate_version(version.id)
            except SeqLabError as exc:
                st.error(md(str(exc)))
                return
            st.session_state["models_notice"] = f"{version.name} is now active: Tag and Annotate use it."
            st.rerun()
    cols[1].download_button(f"Download {md(version.name)} (Hugging Face folder, zip)",
                            data=lambda: services().version_zip(version.id), file_name=f"{version.name}.zip",
                            mime="application/zip", key="models_download", on_click="ignore")


def compare_section(versions) -> None:
    if len(versions) < 2:
        return
    st.subheader("Compare two versions")
    by_id = {v.id: v for v in versions}
    ids = list(by_id)
    left, right = st.columns(2)
    a = left.selectbox("Version A", ids, index=1, format_func=lambda i: by_id[i].name, key="models_cmp_a")
    b = right.selectbox("Version B", ids, index=0, format_func=lambda i: by_id[i].name, key="models_cmp_b")
    st.dataframe(services().compare_versions(a, b), hide_index=True, key="models_compare")
    st.caption("delta = F1 of B minus F1 of A, per label.")


project = project_picker()
st.title("Models")
notice = st.session_state.pop("models_notice", None)
if notice:
    st.success(md(notice))
versions = services().versions(project.id)
if not versions:
    st.info("No model versions yet. Start a training job on the Train page; each successful job adds a version.")
    st.stop()
active = next((v for v in versions if v.active), None)
st.caption(f"Active: {md(active.name) if active else 'none'} · dev F1 is on the project's dev split "
           "(or a held-out tenth of train when it is empty).")
st.dataframe(versions_frame(versions, ledger_counts([v.id for v in versions])), hide_index=True, key="models_table")
chosen = st.selectbox("Version", [v.id for v in versions], key="models_pick",
                      format_func=lambda i: next(v.name for v in versions if v.id == i))
version_detail(project, next(v for v in versions if v.id == chosen), active)
ledger_section(project, next(v for v in versions if v.id == chosen), {v.id: v.name for v in versions})
errors_section(project, next(v for v in versions if v.id == chosen))
pins_section(project)
audit_section(project)
compare_section(versions)
