"""What the AppTest page tests share: running a page, and reading what it shows as a person would."""

from __future__ import annotations

import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from ui.text import LINK_BREAK

TIMEOUT = 60
PAGES = Path(__file__).resolve().parent.parent / "pages"


def page(name: str, **state) -> AppTest:
    """Run ``pages/<name>.py`` once, with ``state`` put into its session state first."""
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def unmd(text: str) -> str:
    """What markdown shows for text escaped with ui.md: its link breaks and leading-space references
    undone, backslash escapes removed (tests/test_escaping.py renders it for real)."""
    text = re.sub(r"(?<!\\)&#(\d+);", lambda m: chr(int(m.group(1))), str(text).replace(LINK_BREAK, ""))
    return re.sub(r"\\(.)", r"\1", text)


def shown(at: AppTest) -> list[str]:
    """Every markdown, caption and message on the page, as displayed."""
    kinds = (at.markdown, at.caption, at.error, at.success, at.warning, at.info)
    return [unmd(e.value) for kind in kinds for e in kind]
