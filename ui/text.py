"""User text on screen, and user text on its way in.

Out: every name, message or typed text a page shows goes through one of two functions.

- :func:`md` for everything Streamlit renders as markdown: ``st.markdown``, captions, titles,
  ``st.error``/``warning``/``success``/``info``, toasts, ``st.progress`` text, ``st.metric``,
  every widget label (buttons, download buttons, checkboxes, text inputs, expanders), and the
  options of ``st.radio``, ``st.pills`` and ``st.segmented_control`` (their ``format_func``).
- :func:`escape` for HTML (``st.html``).

``st.selectbox``/``st.multiselect`` options and ``st.dataframe`` cells are plain text: pass them
as they are (``md`` there would show its backslashes).

In: :func:`guard_text_inputs` mounts a small component whose script runs in the page and
replaces a lone surrogate typed or pasted into any text field with U+FFFD before Streamlit
sends it; such a character cannot be encoded, and the server would drop the connection.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import streamlit as st

# Every ASCII punctuation character: CommonMark lets each be backslash-escaped, and a backslash
# escape shows the bare character. So `**`, `![..](..)`, `[..](..)`, `<..>`, `&..;`, `:emoji:`,
# `:red[..]`, `$..$` and block markers (`#`, `>`, `-`, `1.`) all show literally.
ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# GitHub-flavoured markdown links URL-looking text after parsing, escapes or not: a URL
# `http://127.0.0.1/x`, `www.x.org`, `a@b.org`. Ending the text node at each of their dots
# leaves no domain to link. The break is Streamlit's small-text directive, empty: no text, no box.
AUTOLINK = re.compile(r"(?i)(?:https?://|www\.|mailto:|xmpp:)\S*|[-.+\w]+@[-\w]+(?:\.[-\w]+)+")
LINK_BREAK = ":small[]"
# Leading spaces or tabs would make an indented code block: written as character references.
LEADING_SPACE = re.compile(r"^[ \t]+", re.MULTILINE)
GUARD_JS = Path(__file__).with_name("text_guard.js")
GUARD_KEY = "seqlab_text_guard"
GUARD_NOTICE = "seqlab_text_guard_notice"


def escape(text: str) -> str:
    """User text for HTML (``st.html``): ``<``, ``>``, ``&`` and quotes as entities."""
    return html.escape(str(text), quote=True)


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun, singular for one: "1 document", "2 documents", "0 documents"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def md(text: str) -> str:
    """User text for anything Streamlit renders as markdown: shown exactly as typed.

    ``Bob's NER`` shows as ``Bob's NER`` (no HTML entity: markdown shows raw HTML as text, so
    nothing is HTML-escaped here), ``**B**`` is not bold, ``![i](http://x/y)`` is no image and
    fetches nothing, ``[x](javascript:...)`` is no link.
    """
    text = str(text)
    parts, at = [], 0
    for match in AUTOLINK.finditer(text):
        parts.append(_escaped(text[at:match.start()]))
        parts.append((LINK_BREAK + r"\.").join(_escaped(piece) for piece in match.group().split(".")))
        at = match.end()
    parts.append(_escaped(text[at:]))
    return LEADING_SPACE.sub(lambda m: "".join(f"&#{ord(ch)};" for ch in m.group()), "".join(parts))


def _escaped(text: str) -> str:
    return ASCII_PUNCTUATION.sub(r"\\\1", text)


@st.cache_resource
def _guard():
    return st.components.v2.component("seqlab_text_guard", js=GUARD_JS.read_text(encoding="utf-8"))


def guard_text_inputs() -> None:
    """Keep lone surrogates out of every text field of the page, and say when one was replaced.

    A lone surrogate (half of a UTF-16 pair, e.g. from a text cut in the middle of an emoji) cannot
    be encoded as UTF-8: Streamlit's server could not read the message and closed the connection,
    so the text was lost without a word. The component's script replaces it with U+FFFD as it is
    typed or pasted, and a toast (until closed) names the field.
    """
    _guard()(key=GUARD_KEY, height=0, on_replaced_change=_remember_replacement)
    notice = st.session_state.pop(GUARD_NOTICE, None)
    if notice:
        st.toast(md(notice), icon=":material/warning:", duration="infinite")


def _remember_replacement() -> None:
    """Callback of the guard's trigger: the notice is kept in the session until a run shows it, so a
    click that interrupts the run the trigger started does not lose it."""
    replaced = st.session_state[GUARD_KEY].get("replaced") or {}
    field = replaced.get("field") or "a text field"
    count = int(replaced.get("count") or 1)
    what = "a broken character" if count == 1 else f"{count} broken characters"
    st.session_state[GUARD_NOTICE] = (f"The text in “{field}” contained {what} (a lone surrogate): "
                                      f"replaced with U+FFFD \ufffd.")
