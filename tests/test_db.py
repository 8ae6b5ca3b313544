"""The store on a real SQLite file: pragmas, projects, documents, spans, history, concurrency."""

from __future__ import annotations

import multiprocessing as mp
import re
import sqlite3

import pytest
from sqlalchemy import text

from db import repo
from db.models import SCHEMA_VERSION
from db.session import make_engine, session_factory, tables, write_session
from tagger.spans import Example, SeqLabError, Span


@pytest.fixture()
def project(factory):
    with write_session(factory) as s:
        return repo.create_project(s, "English NER", ["PER", "ORG", "LOC", "MISC"])


def test_sqlite_connections_get_wal_busy_timeout_foreign_keys_and_full_sync(sqlite_factory):
    with sqlite_factory() as s:
        pragma = lambda name: s.execute(text(f"PRAGMA {name}")).scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("busy_timeout") >= 5000
        assert pragma("foreign_keys") == 1
        assert pragma("synchronous") == 2  # FULL


def test_database_url_comes_from_seqlab_home(tmp_path, monkeypatch):
    from db.session import database_url

    monkeypatch.delenv("SEQLAB_DB_URL", raising=False)
    monkeypatch.setenv("SEQLAB_HOME", str(tmp_path / "home"))
    assert database_url() == f"sqlite:///{tmp_path / 'home' / 'seqlab.db'}"
    monkeypatch.setenv("SEQLAB_DB_URL", "sqlite:///elsewhere.db")
    assert database_url() == "sqlite:///elsewhere.db"


def test_project_with_labels_shortcuts_and_colours(project):
    assert project.label_names == ["PER", "ORG", "LOC", "MISC"]
    assert [lb.shortcut for lb in project.labels] == ["1", "2", "3", "4"]
    assert len({lb.colour for lb in project.labels}) == 4


def test_project_names_are_unique(factory, project):
    with pytest.raises(SeqLabError, match="already exists"), write_session(factory) as s:
        repo.create_project(s, "English NER")


@pytest.mark.parametrize("name", ["", "   ", "<script>x</script>", "a\x00b"])
def test_bad_project_names_are_refused(factory, name):
    with pytest.raises(SeqLabError), write_session(factory) as s:
        repo.create_project(s, name)
    with factory() as s:
        assert repo.list_projects(s) == []


def test_documents_keep_the_exact_text(factory, project):
    texts = ["  leading and trailing  ", "CRLF\r\nline", "emoji 👩‍👩‍👧 and e\u0301", "tab\there"]
    with write_session(factory) as s:
        repo.add_documents(s, project.id, [Example(t) for t in texts])
    with factory() as s:
        assert [d.text for d in repo.list_documents(s, project.id)] == texts


def test_import_is_all_or_nothing(factory, project):
    good = Example("Alice in Paris", (Span(0, 5, "PER"),))
    bad = Example("Bob in Rome", (Span(0, 3, "PER"), Span(2, 6, "LOC")))
    with pytest.raises(SeqLabError, match="document 2: overlapping"), write_session(factory) as s:
        repo.add_documents(s, project.id, [good, bad])
    with factory() as s:
        assert repo.list_documents(s, project.id) == []


def test_unknown_label_in_an_import_is_refused(factory, project):
    with pytest.raises(SeqLabError, match="unknown label 'ANIMAL'"), write_session(factory) as s:
        repo.add_documents(s, project.id, [Example("a cat", (Span(2, 5, "ANIMAL"),))])


def test_duplicates_are_reported_not_stored_twice(factory, project):
    with write_session(factory) as s:
        first = repo.add_documents(s, project.id, [Example("one"), Example("two"), Example("one")])
    with write_session(factory) as s:
        second = repo.add_documents(s, project.id, [Example("two"), Example("three")])
    assert (first.added, first.duplicates, second.added, second.duplicates) == (2, 1, 1, 1)


def test_split_is_stable_by_hash(factory, project):
    texts = [f"sentence number {i}" for i in range(200)]
    with write_session(factory) as s:
        repo.add_documents(s, project.id, [Example(t) for t in texts])
    with factory() as s:
        splits = {d.text: d.split for d in repo.list_documents(s, project.id)}
    assert splits == {t: repo.stable_split(repo.content_hash(t)) for t in texts}
    assert set(splits.values()) == {"train", "dev", "test"}


def test_every_change_is_kept_in_the_history(factory, project):
    with write_session(factory) as s:
        repo.add_documents(s, project.id, [Example("Alice met Bob")])
        doc = repo.list_documents(s, project.id)[0]
        repo.save_spans(s, doc.id, [Span(0, 5, "PER", 0.9)], annotator="model", source="model")
        repo.save_spans(s, doc.id, [Span(0, 5, "PER"), Span(10, 13, "PER")], annotator="ann")
        repo.save_spans(s, doc.id, [Span(10, 13, "ORG")], annotator="ann2")
    with factory() as s:
        entries = repo.history(s, doc.id)
        final = repo.get_document(s, doc.id)
    assert [(e.annotator, len(e.before), len(e.after)) for e in entries] == [("model", 0, 1), ("ann", 1, 2), ("ann2", 2, 1)]
    assert entries[1].after == (Span(0, 5, "PER"), Span(10, 13, "PER"))
    assert final.spans == (Span(10, 13, "ORG"),) and final.status == "corrected"
    assert final.sources == ("human",)


def test_bad_correction_changes_nothing(factory, project):
    with write_session(factory) as s:
        repo.add_documents(s, project.id, [Example("Alice met Bob", (Span(0, 5, "PER"),))])
        doc_id = repo.list_documents(s, project.id)[0].id
    for spans in ([Span(0, 50, "PER")], [Span(0, 5, "NOPE")], [Span(0, 5, "PER"), Span(3, 9, "ORG")], [Span(3, 3, "PER")]):
        with pytest.raises(SeqLabError), write_session(factory) as s:
            repo.save_spans(s, doc_id, spans, annotator="x")
    with factory() as s:
        assert repo.get_document(s, doc_id).spans == (Span(0, 5, "PER"),)
        assert len(repo.history(s, doc_id)) == 1


def test_queue_gives_new_and_predicted_documents_in_order(factory, project):
    with write_session(factory) as s:
        repo.add_documents(s, project.id, [Example("a b"), Example("c d", (Span(0, 1, "PER"),)), Example("e f")])
        first = repo.next_in_queue(s, project.id)
        second = repo.next_in_queue(s, project.id, after_id=first.id)
        assert (first.text, second.text) == ("a b", "e f")
        assert repo.next_in_queue(s, project.id, after_id=second.id) is None
        assert repo.count_documents(s, project.id)["corrected"] == 1


def test_rename_label_moves_its_spans(factory, project):
    with write_session(factory) as s:
        repo.add_documents(s, project.id, [Example("Acme rocks", (Span(0, 4, "ORG"),))])
        repo.rename_label(s, project.id, "ORG", "COMPANY")
    with factory() as s:
        assert repo.list_documents(s, project.id)[0].spans[0].label == "COMPANY"
        assert "COMPANY" in repo.get_project(s, project.id).label_names


def test_database_of_an_older_schema_opens(tmp_path):
    path = tmp_path / "old.db"
    make_engine(f"sqlite:///{path}").dispose()
    with sqlite3.connect(path) as con:
        con.execute("UPDATE schema_info SET version = 0")
        con.execute("DROP TABLE training_jobs")
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as c:
        assert c.execute(text("SELECT version FROM schema_info")).scalar() == SCHEMA_VERSION
    assert "training_jobs" in tables(engine)


def test_database_of_a_newer_seqlab_is_refused(tmp_path):
    path = tmp_path / "new.db"
    make_engine(f"sqlite:///{path}").dispose()
    with sqlite3.connect(path) as con:
        con.execute("UPDATE schema_info SET version = 99")
    with pytest.raises(RuntimeError, match="newer SeqLab"):
        make_engine(f"sqlite:///{path}")


def _writer(url: str, project_id: int, who: str, n: int, errors) -> None:
    factory = session_factory(make_engine(url))
    try:
        for i in range(n):
            with write_session(factory) as s:
                # read-then-write: the pattern that fails under deferred transactions
                repo.count_documents(s, project_id)
                repo.add_documents(s, project_id, [Example(f"{who} document {i}")])
    except Exception as exc:  # reported to the parent, which fails the test
        errors.put(repr(exc))


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    factory = session_factory(make_engine(url))
    with write_session(factory) as s:
        project_id = repo.create_project(s, "busy").id
    ctx = mp.get_context("spawn")
    errors = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(url, project_id, who, 1000, errors)) for who in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0]
    assert errors.empty(), errors.get()
    with factory() as s:
        assert repo.count_documents(s, project_id)["new"] == 2000
        assert s.execute(text("PRAGMA integrity_check")).scalar() == "ok"


# ----------------------------------------------------------------------------- look-alike names


@pytest.mark.parametrize("name", ["english ner", "ENGLISH NER", "English  NER", "ＥＮＧＬＩＳＨ ＮＥＲ",
                                  "Engl\u200dish NER"])
def test_a_project_name_that_only_looks_different_is_taken(factory, project, name):
    with write_session(factory) as s, pytest.raises(SeqLabError, match="a project named 'English NER' already exists"):
        repo.create_project(s, name)


@pytest.mark.parametrize(("name", "character"), [
    ("English NER\u200b", "U+200B ZERO WIDTH SPACE"),
    ("\u202eREN hsilgnE", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("English\u200eNER", "U+200E LEFT-TO-RIGHT MARK"),
    ("\ufeffEnglish", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
    ("NER\u200d", "U+200D ZERO WIDTH JOINER"),  # a joiner joins nothing at the end
    ("Two\nlines", "U+000A"),
])
def test_invisible_characters_in_a_project_name_are_refused_by_name(factory, name, character):
    with write_session(factory) as s, pytest.raises(SeqLabError, match=f"character {re.escape(character)}"):
        repo.create_project(s, name)
    with factory() as s:
        assert repo.list_projects(s) == []


@pytest.mark.parametrize("name", ["می\u200cخواهم", "👨\u200d👩\u200d👧", "🏴\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"])
def test_joiners_inside_a_word_or_emoji_are_part_of_the_name(factory, name):
    with write_session(factory) as s:
        assert repo.create_project(s, name).name == name


def test_renaming_a_project_to_a_look_alike_of_another_is_refused(factory, project):
    with write_session(factory) as s:
        other = repo.create_project(s, "Other")
    with write_session(factory) as s, pytest.raises(SeqLabError, match="looks the same"):
        repo.update_project(s, other.id, name="english ner")
    with write_session(factory) as s:  # changing the case of its own name is fine
        assert repo.update_project(s, project.id, name="English ner").name == "English ner"


def test_label_names_are_compared_like_project_names(factory, project):
    with write_session(factory) as s, pytest.raises(SeqLabError, match="label 'PER' already exists in 'English NER'"):
        repo.add_label(s, project.id, "per")
    with write_session(factory) as s, pytest.raises(SeqLabError, match="U\\+200B ZERO WIDTH SPACE"):
        repo.add_label(s, project.id, "GPE\u200b")
    with write_session(factory) as s, pytest.raises(SeqLabError, match="label 'ORG' already exists"):
        repo.rename_label(s, project.id, "PER", "ＯＲＧ")
    with write_session(factory) as s:
        repo.rename_label(s, project.id, "PER", "Per")  # its own name in another case
        assert "Per" in repo.get_project(s, project.id).label_names


def test_a_project_name_with_braces_still_gets_a_clear_duplicate_message(factory):
    with write_session(factory) as s:
        created = repo.create_project(s, "a {0} b", ["X"])
    with write_session(factory) as s, pytest.raises(SeqLabError, match=re.escape("label 'X' already exists in 'a {0} b'")):
        repo.add_label(s, created.id, "x")
