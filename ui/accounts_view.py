"""Settings' team part (admins, team mode): who is a member of the project, and the accounts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from services import ROLES, ActingServices, SeqLabError
from ui import md, services


def team_section(project) -> None:
    """Membership of ``project`` and the accounts; in single-user mode, how to turn team mode on."""
    st.subheader("Team")
    svc = services()
    if not isinstance(svc, ActingServices):
        st.caption("Single-user mode: no accounts. See the README's Teams section to turn team mode on "
                   "(python -m services.accounts add NAME --role admin, then SEQLAB_AUTH=on).")
        return
    members_form(svc, project)
    accounts_table(svc)
    with st.expander("Add an account"):
        add_account_form(svc)
    with st.expander("Change an account"):
        change_account_form(svc)


def members_form(svc, project) -> None:
    names = [a.name for a in svc.accounts()]
    current = [a.name for a in svc.members(project.id)]
    with st.form(f"members_form_{project.id}"):
        chosen = st.multiselect("Members of this project", names, default=current, key=f"members_{project.id}",
                                help="Admins reach every project; reviewers and annotators only their own.")
        if not st.form_submit_button("Save members"):
            return
    try:
        for name in set(chosen) - set(current):
            svc.add_member(project.id, name)
        for name in set(current) - set(chosen):
            svc.remove_member(project.id, name)
    except SeqLabError as exc:
        st.error(md(str(exc)))
        return
    st.toast("Members saved")
    st.rerun()


def accounts_table(svc) -> None:
    rows = [(a.name, a.role, "disabled" if a.disabled else ("locked" if a.locked_until else "active"),
             a.last_login) for a in svc.accounts()]
    st.dataframe(pd.DataFrame(rows, columns=["name", "role", "state", "last sign-in"]), hide_index=True,
                 key="accounts_table")


def add_account_form(svc) -> None:
    with st.form("add_account_form", clear_on_submit=True):
        name = st.text_input("New user name", key="add_account_name", max_chars=100)
        role = st.selectbox("Role", ROLES, index=ROLES.index("annotator"), key="add_account_role")
        password = st.text_input("First password", type="password", key="add_account_password", max_chars=1000)
        if not st.form_submit_button("Add account"):
            return
    try:
        account = svc.add_account(name, role, password)
    except SeqLabError as exc:
        st.error(md(str(exc)))
        return
    st.toast(md(f"Account {account.name} added"))
    st.rerun()


def change_account_form(svc) -> None:
    accounts = {a.name: a for a in svc.accounts()}
    with st.form("change_account_form", clear_on_submit=True):
        name = st.selectbox("Account", list(accounts), key="change_account_name")
        role = st.selectbox("Role", ("keep", *ROLES), key="change_account_role")
        state = st.selectbox("State", ("keep", "enabled", "disabled"), key="change_account_state")
        password = st.text_input("New password (empty: keep)", type="password", key="change_account_password",
                                 max_chars=1000)
        if not st.form_submit_button("Save account") or name is None:
            return
    try:
        if role != "keep":
            svc.set_role(name, role)
        if state != "keep":
            (svc.enable_account if state == "enabled" else svc.disable_account)(name)
        if password:
            svc.reset_password(name, password)
    except SeqLabError as exc:
        st.error(md(str(exc)))
        return
    st.toast(md(f"Account {name} saved"))
    st.rerun()
