"""Shared fixtures: a tiny BERT and WordPiece vocabulary made in code (nothing downloaded)."""

from __future__ import annotations

import atexit
import os
import random
import shutil
import sys
import tempfile

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# the ONNX exports of the fast path (tagger.runtime), for this run only, shared by its app servers
if "SEQLAB_CACHE" not in os.environ:
    os.environ["SEQLAB_CACHE"] = tempfile.mkdtemp(prefix="seqlab-test-cache-")
    atexit.register(shutil.rmtree, os.environ["SEQLAB_CACHE"], True)

from tagger.spans import Example, Span  # noqa: E402

PERSONS = ["alice", "bob", "carol smith", "dave"]
PLACES = ["paris", "new york", "berlin", "london"]
ORGS = ["acme corp", "united nations", "globex"]
FILLER = ["went", "to", "visited", "works", "at", "the", "in", "and", "said", "from", "today", ".", ","]
CJK = list("北京上海我在工作人民大学")
VOCAB = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    + sorted({w for phrase in PERSONS + PLACES + ORGS for w in phrase.split()})
    + FILLER
    + CJK
    + ["play", "##ing", "##s"]
    + list("abcdefghijklmnopqrstuvwxyz0123456789")
    + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
)


def make_sentence(rng: random.Random, capitalise: bool = True) -> Example:
    """A templated sentence with PER / LOC / ORG spans at exact offsets."""
    template = rng.choice([
        ["PER", "went", "to", "LOC", "."],
        ["PER", "works", "at", "ORG", "in", "LOC", "."],
        ["the", "ORG", "said", "PER", "visited", "LOC", "today", "."],
        ["PER", "and", "PER", "went", "from", "LOC", "to", "LOC", "."],
    ])
    pools = {"PER": PERSONS, "LOC": PLACES, "ORG": ORGS}
    text, spans = "", []
    for slot in template:
        piece = rng.choice(pools[slot]) if slot in pools else slot
        if capitalise and slot in pools:
            piece = " ".join(w.capitalize() for w in piece.split())
        start = len(text) + (1 if text else 0)
        text = f"{text} {piece}" if text else piece
        if slot in pools:
            spans.append(Span(start, start + len(piece), slot))
    return Example(text, tuple(spans))


def make_corpus(n: int, seed: int = 0) -> list[Example]:
    rng = random.Random(seed)
    return [make_sentence(rng) for _ in range(n)]


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> str:
    """A folder holding a 2-layer, hidden-32 BERT and its WordPiece tokenizer."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(VOCAB)}, model_max_length=64)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Train as a worker beside a busy server would: one thread (OpenMP spinning on a shared
    2-core machine makes a second thread 10x slower, not 2x faster). Modules that train through
    the worker use it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _keep_the_main_module():
    """Put ``sys.modules["__main__"]`` back after each test: Streamlit's script runner (AppTest)
    replaces it with the page it ran, and a later ``multiprocessing`` spawn would run that page
    again in its child (a two-writer test's child then wrote to the default data folder)."""
    main = sys.modules.get("__main__")
    yield
    sys.modules["__main__"] = main


# ----------------------------------------------------------------------------- databases

POSTGRES_URL = os.environ.get("SEQLAB_TEST_POSTGRES_URL")  # set by .ci/run (scripts/throwaway-postgres)
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _fresh_postgres_database(server_url: str) -> tuple[str, object]:
    """A new, empty database on the test server: ``(url, drop)``."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"seqlab_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(server_url).set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """A URL of a fresh, empty database: a SQLite file, and (marked ``postgres``) a database on the
    PostgreSQL server of ``SEQLAB_TEST_POSTGRES_URL``. Without that variable the PostgreSQL case
    skips locally and fails in CI (``.ci/run`` always starts a server)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'seqlab.db'}"
        return
    if not POSTGRES_URL:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail("SEQLAB_TEST_POSTGRES_URL is not set in CI (.ci/run starts a throwaway server)")
        pytest.skip("no PostgreSQL server (set SEQLAB_TEST_POSTGRES_URL, see scripts/throwaway-postgres)")
    url, drop = _fresh_postgres_database(POSTGRES_URL)
    yield url
    drop()


@pytest.fixture()
def factory(db_url):
    """A session factory on a fresh database (schema migrated; SQLite pragmas on), per back end."""
    from db.session import make_engine, session_factory

    engine = make_engine(db_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture()
def svc(db_url):
    """:class:`services.Services` on a fresh database, per back end."""
    from services import Services

    service = Services(db_url)
    yield service
    service.close()


@pytest.fixture()
def page_svc(tmp_path, monkeypatch):
    """Services on the SQLite file the pages open too (``SEQLAB_DB_URL``), with the data folder in
    ``tmp_path``, no worker started by a page, and Streamlit's cached resources cleared around the
    test (so a page does not keep another test's Services or model): for AppTest page tests."""
    import streamlit as st

    from services import Services

    url = f"sqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("SEQLAB_DB_URL", url)
    monkeypatch.setenv("SEQLAB_HOME", str(tmp_path))
    monkeypatch.setenv("SEQLAB_WORKER", "off")
    st.cache_resource.clear()
    service = Services(url)
    yield service
    service.close()
    st.cache_resource.clear()


@pytest.fixture()
def sqlite_factory(tmp_path):
    """A session factory on a fresh SQLite file, for what only SQLite has (pragmas, file locks)."""
    from db.session import make_engine, session_factory

    engine = make_engine(f"sqlite:///{tmp_path / 'seqlab.db'}")
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def corpus() -> list[Example]:
    return make_corpus(120, seed=1)


@pytest.fixture(scope="session")
def trained_dir(tiny_base, corpus, tmp_path_factory) -> str:
    """A tiny tagger trained until it tags the templated corpus well (CRF + BiLSTM)."""
    from tagger.train import TrainConfig, train

    config = TrainConfig(base_model=tiny_base, epochs=8, batch_size=8, lr=3e-3, head_lr=1e-2,
                         max_length=64, lstm_hidden=32)
    result = train(corpus[:100], corpus[100:], config)
    out = tmp_path_factory.mktemp("models") / "crf"
    result.save(out)
    return str(out)


@pytest.fixture(scope="session")
def trained_softmax_dir(tiny_base, corpus, tmp_path_factory) -> str:
    """A tiny tagger with --encoder none --decoder softmax: a plain transformers checkpoint."""
    from tagger.train import TrainConfig, train

    config = TrainConfig(base_model=tiny_base, epochs=8, batch_size=8, lr=3e-3, head_lr=1e-2,
                         max_length=64, encoder="none", decoder="softmax")
    result = train(corpus[:100], corpus[100:], config)
    out = tmp_path_factory.mktemp("models") / "softmax"
    result.save(out)
    return str(out)


# ----------------------------------------------------------------------------- training jobs

# Overrides that make a job on the tiny BERT take about a second (its embeddings are random: they must learn).
FAST_TRAINING = {"epochs": 3, "batch_size": 8, "lr": 3e-3, "head_lr": 1e-2, "max_length": 64, "lstm_hidden": 16,
                 "freeze_embeddings": False}


@pytest.fixture()
def training_svc(db_url, tmp_path, monkeypatch):
    """Services on a fresh database (per back end), with the data folder (SEQLAB_HOME) at ``tmp_path / "home"``."""
    from services import Services

    monkeypatch.setenv("SEQLAB_HOME", str(tmp_path / "home"))
    svc = Services(db_url)
    yield svc
    svc.close()


def add_labelled_project(svc, base_model: str, n: int = 60, seed: int = 3, name: str = "NER", split=None):
    """A PER/LOC/ORG project over ``base_model`` with ``n`` imported (so corrected) documents."""
    from db import repo
    from db.session import write_session

    project = svc.create_project(name, ["PER", "LOC", "ORG"], base_model=base_model)
    with write_session(svc.factory) as s:
        repo.add_documents(s, project.id, make_corpus(n, seed=seed), split=split)
    return project
