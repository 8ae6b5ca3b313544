"""The sign-in wall of team mode, the signed-in person of a session, and the sidebar's mode line.

Team mode (``services.accounts``: ``SEQLAB_AUTH=on``, or the admin's switch): until a person
signs in, :func:`wall` gives the app a navigation of one page, the sign-in form, whatever the
address asked for; no page of ``pages/`` runs, so no data or model is read. A signed-in session
holds the :class:`~services.policy.Actor` in ``st.session_state``; it ends on "Sign out", after
``SEQLAB_IDLE_MINUTES`` without a run of the script, or when the account is disabled.

:func:`acting_actor` is what ``ui.services()`` binds the Services to, checked on every call
(callbacks run before the script, so the wall alone would let one stale click through).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import streamlit as st

from services import Actor, PermissionDenied, Services, SignInFailed
from services.accounts import idle_timeout
from ui.text import md

ACTOR = "seqlab_actor"  # session key: the signed-in Actor
SEEN = "seqlab_seen"  # session key: time.monotonic() of the last run of the script
CHECKED = "seqlab_checked"  # session key: when the account was last read from the store
NOTICE = "seqlab_signin_notice"  # session key: why the person was signed out
RECHECK_S = 5.0  # a disabled account or a changed role applies within this many seconds
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@st.cache_resource
def system_services() -> Services:
    """The app's one unbound Services (engine + session factory), on SEQLAB_DB_URL or SEQLAB_HOME."""
    return Services()


@st.cache_data(ttl=5, show_spinner=False)
def _team_mode(database: str) -> bool:
    return system_services().team_mode()


def team_mode() -> bool:
    """Whether this app runs in team mode (read from the store at most every 5 seconds)."""
    return _team_mode(str(system_services().engine.url))


def sign_out(notice: str | None = None) -> None:
    """End the session: everything it held is dropped (the chosen project, drafts on screen...)."""
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if notice:
        st.session_state[NOTICE] = notice


def acting_actor() -> Actor | None:
    """The person the Services act for: None in single-user mode.

    Raises:
        PermissionDenied: team mode and nobody signed in, or the session ended (idle, disabled).
    """
    actor = st.session_state.get(ACTOR)
    if actor is None:
        if team_mode():
            raise PermissionDenied("sign in first: this SeqLab runs in team mode")
        return None
    now = time.monotonic()
    idle = idle_timeout()
    if now - st.session_state.get(SEEN, now) > idle.total_seconds():
        sign_out(f"You were signed out after {idle.total_seconds() / 60:g} minutes without activity.")
        raise PermissionDenied("signed out after a while without activity: sign in again")
    if now - st.session_state.get(CHECKED, 0.0) > RECHECK_S:
        fresh = system_services().current_actor(actor.id)
        if fresh is None:
            sign_out("This account was disabled: ask an admin.")
            raise PermissionDenied("this account was disabled")
        st.session_state[ACTOR], st.session_state[CHECKED] = fresh, now
    return st.session_state[ACTOR]


def wall(addresses: Sequence[str] = ()) -> Actor | None:
    """Run first by app.py: None in single-user mode (saying so in the sidebar); in team mode the
    signed-in person, or the sign-in form alone and ``st.stop()``.

    ``addresses``: the url paths of the app's pages; each shows the sign-in form too (a link to a
    page asks to sign in, then opens that page) instead of Streamlit's "Page not found".
    """
    if not team_mode():
        single_user_note()
        return None
    try:
        actor = acting_actor()
    except PermissionDenied:
        actor = None
    if actor is None:
        forms = [st.Page(sign_in_form, title="Sign in", default=True)]
        forms += [st.Page(sign_in_form, title="Sign in", url_path=path) for path in addresses]
        st.navigation(forms, position="hidden").run()
        st.stop()
    st.session_state[SEEN] = time.monotonic()
    st.sidebar.caption(md(f"Signed in as {actor.name} ({actor.role})"))
    if st.sidebar.button("Sign out", key="sign_out"):
        sign_out("Signed out.")
        st.rerun()
    return actor


def sign_in_form() -> None:
    """The only page of team mode before signing in: "User name", "Password", "Sign in"."""
    st.title("SeqLab")
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.info(md(notice))
    if not system_services().accounts():
        st.warning("This SeqLab runs in team mode but has no accounts yet. An admin creates the first one "
                   "in a terminal: `python -m services.accounts add NAME --role admin`.")
    with st.form("sign_in", enter_to_submit=True, clear_on_submit=True):  # no password left in the field
        name = st.text_input("User name", key="sign_in_name", max_chars=100)
        password = st.text_input("Password", type="password", key="sign_in_password", max_chars=1000)
        submitted = st.form_submit_button("Sign in")
    if not submitted:
        return
    try:
        actor = system_services().sign_in(name, password)
    except SignInFailed as exc:
        st.error(md(str(exc)))
        return
    st.session_state.clear()
    st.session_state[ACTOR], st.session_state[SEEN] = actor, time.monotonic()
    st.session_state[CHECKED] = time.monotonic()
    st.rerun()


def single_user_note() -> None:
    """Say in the sidebar who can reach this app: 127.0.0.1 only, or (warned) every interface."""
    address = st.get_option("server.address") or ""
    if address in LOOPBACK:
        st.sidebar.caption(f"Single-user mode: listening on {address} only.")
    else:
        where = f"on {address}" if address else "on every network interface"
        st.sidebar.warning(md(f"Single-user mode, listening {where}: anyone who can reach this port can read "
                              "and change everything. Start it with make run (127.0.0.1 only) or turn on "
                              "team mode (SEQLAB_AUTH=on)."))
