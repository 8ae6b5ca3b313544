"""User text is shown as text everywhere (issue 10 items 2 and 6).

A page hands Streamlit markdown; what a person sees is that markdown rendered. These tests render
what the pages produce with a CommonMark renderer (markdown-it-py) and compare the visible text
with what was typed, and look for any image, link or emphasis in it. GitHub-flavoured autolinks
(applied by Streamlit after parsing) are modelled by their regular expressions; the browser test
(tests/browser/test_escaping.py) checks all of it in real Chromium.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hyp
from markdown_it import MarkdownIt

from db import jobs
from db.session import write_session
from tests.apptest import page
from ui.text import LINK_BREAK, escape, md

LABELS = ["![i](http://127.0.0.1:8765/x)", "**BOLD**", "[x](javascript:alert(1))"]
TEXTS = ["Bob's NER", "a < b & c > d", '"quoted"', "<img src=x onerror=alert(1)>"]
MORE = ["&#x27; &amp; &lt;", ":smile: :red[r] $x$ :material/home:", "# heading", "1. item", "- item",
        "> quote", "`code`", "~~gone~~", "a_b_c_", "\\*", "www.example.com", "mail me@example.org",
        "<http://example.org>", "line one\nline two", "    indented", "x\n\n    code", "| a | b |\n|---|---|",
        "[ref]: http://example.org", "Setext\n===", "*a* _b_"]
RENDERER = MarkdownIt("commonmark").enable(["strikethrough", "table"])
RENDERER.validateLink = lambda url: True  # Streamlit links `javascript:` too (as link text); so must the model
# GFM's literal autolinks (mdast-util-gfm-autolink-literal): a URL or www. with a dotted domain, an e-mail.
GFM_AUTOLINK = re.compile(r"(?i)(?:https?://|www\.)[-\w]+\.[-\w]|[-.+\w]+@[-\w]+\.[-\w]")


@dataclass(frozen=True)
class Rendered:
    text: str  # the visible text, white space collapsed as a browser collapses it
    tags: frozenset[str]  # every element in it
    strong: tuple[str, ...]  # the text of each bold part
    autolinked: bool  # some text node would become a link


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text, self.tags, self.strong, self._in_strong = [], set(), [], None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag == "strong":
            self._in_strong = []

    def handle_endtag(self, tag):
        if tag == "strong":
            self.strong.append("".join(self._in_strong))
            self._in_strong = None
        elif tag == "p":
            self.text.append(" ")

    def handle_data(self, data):
        self.text.append(data)
        if self._in_strong is not None:
            self._in_strong.append(data)


def _collect(source: str) -> _Collector:
    collector = _Collector()
    collector.feed(RENDERER.render(source))
    return collector


def rendered(source: str) -> Rendered:
    """What a person sees of markdown ``source`` (the empty ``LINK_BREAK`` directive shows nothing)."""
    whole = _collect(source.replace(LINK_BREAK, ""))
    # Streamlit links text nodes after parsing; LINK_BREAK ends a text node.
    pieces = ("".join(_collect(piece).text) for piece in source.split(LINK_BREAK))
    return Rendered(" ".join("".join(whole.text).split()), frozenset(whole.tags), tuple(whole.strong),
                    any(GFM_AUTOLINK.search(piece) for piece in pieces))


def shows_exactly(source: str, text: str, allowed: frozenset[str] = frozenset({"p"})) -> bool:
    seen = rendered(source)
    return seen.text == " ".join(text.split()) and seen.tags <= allowed and not seen.autolinked


# ----------------------------------------------------------------------------- the escaping functions


@pytest.mark.parametrize("text", LABELS + TEXTS + MORE)
def test_md_shows_the_text_exactly_as_typed(text):
    seen = rendered(md(text))
    assert seen.text == " ".join(text.split())
    assert seen.tags <= {"p"}, f"markup in {md(text)!r}: {sorted(seen.tags)}"
    assert not seen.autolinked


def test_md_puts_no_html_entity_on_screen():
    assert rendered(md("Bob's NER")).text == "Bob's NER"
    assert "&#" not in md("Bob's \"NER\"") and "&" not in md("'\"").replace("\\&", "")


@settings(max_examples=300, deadline=None)
@given(hyp.text(hyp.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), include_characters="\n\t "),
                max_size=40))
def test_md_of_any_text_is_that_text_without_markup(text):
    seen = rendered(md(text))
    assert seen.text == " ".join(text.split())
    assert seen.tags <= {"p", "br"}
    assert not seen.autolinked


def test_escape_makes_html_text():
    collector = _collect(f"<p>{escape(TEXTS[3] + ' ' + TEXTS[1])}</p>")
    assert "".join(collector.text).strip() == TEXTS[3] + " " + TEXTS[1] and collector.tags == {"p"}


# ----------------------------------------------------------------------------- the pages


@pytest.fixture()
def svc(page_svc):
    return page_svc


@pytest.fixture()
def hostile(svc):
    """A project named ``Bob's NER`` whose labels are the three markdown names."""
    return svc.create_project("Bob's NER", LABELS)


@pytest.mark.parametrize("index", range(len(LABELS)))
def test_settings_toast_shows_the_label_name_as_text(svc, hostile, index):
    name = LABELS[index]
    at = page("settings", project_id=hostile.id)
    at.color_picker(key=f"label_colour_{hostile.id}_{name}").pick("#123456").run()
    at.button(key=f"label_save_{hostile.id}_{name}").click().run()
    assert not at.exception
    toasts = [t.value for t in at.toast]
    assert any(shows_exactly(t, f"Label {name} saved") for t in toasts), toasts


@pytest.mark.parametrize("index", range(len(LABELS)))
def test_settings_error_quotes_the_label_name_as_text(svc, hostile, index):
    name = LABELS[index]
    at = page("settings", project_id=hostile.id)
    at.text_input(key="new_label_name").input(name)
    at.button(key=f"FormSubmitter:add_label_{hostile.id}-Add label").click().run()
    assert not at.exception
    expected = f"label {name!r} already exists in \"Bob's NER\""
    assert at.error and shows_exactly(at.error[0].value, expected), at.error[0].value


def test_the_sidebar_lists_project_names_as_typed(svc, hostile):
    at = page("settings", project_id=hostile.id)
    picker = at.sidebar.selectbox(key="project_picker")
    assert "Bob's NER" in picker.options  # a selectbox shows plain text: no escaping there
    assert picker.value == hostile.id


def test_data_page_shows_the_project_and_file_names_as_text(svc, hostile):
    name = "Bob's <b>file</b> **x** [y](javascript:1).jsonl"
    at = page("data", project_id=hostile.id)
    intro = next(m.value for m in at.markdown if "bring texts in" in m.value)
    assert rendered(intro).strong == ("Bob's NER",) and rendered(intro).tags == {"p", "strong"}
    records = [{"text": "Alice went home .", "spans": [{"start": 0, "end": 5, "label": LABELS[1]}]}]
    at.file_uploader(key="upload").set_value((name, json.dumps(records[0]).encode(), "application/jsonl")).run()
    assert not at.exception
    caption = next(c.value for c in at.caption if "Preview of" in c.value)
    assert rendered(caption).text.startswith(f"Preview of {name}: ") and rendered(caption).tags == {"p"}
    cells = at.dataframe[0].value
    assert list(cells["spans"]) == [f"Alice [{LABELS[1]}]"]  # table cells are plain text


@pytest.mark.parametrize("text", TEXTS)
def test_data_page_error_shows_the_text_it_quotes(svc, hostile, text):
    at = page("data", project_id=hostile.id)
    record = {"text": "Alice went home .", "spans": [{"start": 0, "end": 5, "label": text}]}
    at.file_uploader(key="upload").set_value(("bad.jsonl", json.dumps(record).encode(), "application/jsonl")).run()
    offer = rendered(next(w.value for w in at.warning if "does not have" in w.value))
    assert f"'{text}' (1 span)" in offer.text and offer.tags == {"p"}  # the offer quotes the name as text
    at.checkbox(key="import_add_labels").uncheck().run()
    at.button(key="import_button").click().run()
    assert not at.exception and at.error
    seen = rendered(at.error[0].value)
    assert f"unknown label {text!r}; \"Bob's NER\" has" in seen.text and seen.tags == {"p"}, at.error[0].value
    assert "&#" not in seen.text and "&lt;" not in seen.text


def test_train_page_shows_a_failed_jobs_message_as_text(svc, hostile):
    record = {"text": "Alice went home .", "spans": [{"start": 0, "end": 5, "label": LABELS[0]}]}
    svc.import_file(hostile.id, "gold.jsonl", json.dumps(record).encode())
    job, _ = svc.start_training(hostile.id)
    message = f"unknown label {LABELS[0]!r} in {TEXTS[0]} {TEXTS[3]} {LABELS[2]}"
    with write_session(svc.factory) as s:
        jobs.claim_next(s, "test-worker")
        jobs.finish(s, job.id, "failed", message)
    at = page("train", project_id=hostile.id)
    assert not at.exception
    assert shows_exactly(at.error[0].value, f"Job #{job.id} failed: {message}"), at.error[0].value
    assert list(at.dataframe[0].value["message"]) == [message]


def test_tag_page_legend_shows_the_label_names_as_text(svc, hostile):
    at = page("tag", project_id=hostile.id)
    at.text_area(key="tag_text").input(" ".join(TEXTS))
    at.button(key="tag_button").click().run()
    assert not at.exception
    legend = _collect(next(h.value for h in at.html if "seqlab-legend" in h.value))
    assert legend.text == LABELS and legend.tags == {"div", "mark"}


# ----------------------------------------------------------------------------- team mode: account names


def _team_app(svc, monkeypatch, name: str):
    """app.py in team mode with an account ``name`` (an annotator of the default project)."""
    from argon2 import PasswordHasher
    from streamlit.testing.v1 import AppTest

    import services.accounts as accounts
    from tests.apptest import PAGES

    monkeypatch.setenv("SEQLAB_AUTH", "on")
    monkeypatch.setattr(accounts, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    project = svc.ensure_default_project()
    svc.add_account(name, "annotator", "correct horse battery")
    svc.add_member(project.id, name)
    return AppTest.from_file(str(PAGES.parent / "app.py"), default_timeout=60).run()


def _sign_in(at, name: str, password: str):
    at.text_input(key="sign_in_name").input(name)
    at.text_input(key="sign_in_password").input(password)
    return at.button[0].click().run()


@pytest.mark.parametrize("name", LABELS + ["Bob's"])
def test_the_signed_in_name_shows_as_typed(svc, monkeypatch, name):
    at = _sign_in(_team_app(svc, monkeypatch, name), name, "correct horse battery")
    caption = next(c.value for c in at.caption if "Signed in as" in c.value)
    assert shows_exactly(caption, f"Signed in as {name} (annotator)")


@pytest.mark.parametrize("name", LABELS + ["Bob's"])
def test_the_lock_message_quotes_the_name_as_text(svc, monkeypatch, name):
    at = _team_app(svc, monkeypatch, name)
    for _ in range(5):
        at = _sign_in(at, name, "wrong password")
    error = at.error[0].value
    assert rendered(error).text.startswith(f"Too many wrong passwords: the account {name!r} is locked")
    assert rendered(error).tags <= {"p"} and not rendered(error).autolinked
