"""Every reader fed arbitrary bytes and arbitrary JSON (hypothesis; issue 10).

The only allowed outcomes are a result or a :class:`SeqLabError` whose message names the file
(and a line that is in the file, where there is one): never a traceback, never a hang.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tagger import formats, store
from tagger.formats import FormatError
from tagger.spans import SeqLabError

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW_FUZZ = settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# Pieces that real and broken column, JSONL and text files are made of: tags, separators,
# line ends, byte-order marks, invisible characters, JSON punctuation, bytes that are not UTF-8.
PIECES = [b"Peter", b"B-PER", b"I-PER", b"E-LOC", b"S-X", b"O", b"b-per", b"-DOCSTART-", b"#", b"\xe5\x8c\x97",
          b" ", b"\t", b"\t\t", b"\n", b"\r\n", b"\r", b"\xef\xbb\xbf", b"\xe2\x80\x8b", b"\xc2\xa0", b"\x00",
          b"\xff", b"\xfe\xff", b"{", b"}", b"[", b"]", b'"text"', b'"spans"', b'"label"', b":", b",",
          b"0", b"9" * 30, b"-1", b"1e999", b"NaN", b'"\\ud800"', b"\\u0000", b'"split"', b'"holdout"']
file_bytes = st.one_of(
    st.binary(max_size=400),
    st.lists(st.sampled_from(PIECES), max_size=60).map(b"".join),
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
span_like = st.one_of(
    json_values,
    st.fixed_dictionaries({"start": json_values | st.integers(-3, 30), "end": json_values | st.integers(-3, 30),
                           "label": json_values | st.sampled_from(["PER", "LOC", "", " "])}),
    st.tuples(st.integers(-3, 30), st.integers(-3, 30), st.text(max_size=5)).map(list),
)
records = st.one_of(
    json_values,
    st.fixed_dictionaries({"text": json_values | st.text(max_size=30)},
                          optional={"spans": st.lists(span_like, max_size=4) | json_values,
                                    "label": st.lists(span_like, max_size=4) | json_values,
                                    "split": json_values | st.sampled_from(["train", "dev", "test", "holdout"]),
                                    "meta": json_values}),
)


def deep(depth: int) -> str:
    return '{"text": "a", "x": ' + "[" * depth + "]" * depth + "}"


def huge(digits: int) -> str:
    return '{"text": "abc", "spans": [{"start": ' + "7" * digits + ', "end": 2, "label": "X"}]}'


jsonl_lines = st.one_of(
    records.map(lambda r: json.dumps(r, allow_nan=True)),
    (st.sampled_from([99, 100, 101, 1_000, 100_000]) | st.integers(1, 300)).map(deep),
    (st.sampled_from([4_300, 4_301, 5_000]) | st.integers(1, 50)).map(huge),
    st.text(max_size=40),
)
jsonl_files = st.lists(jsonl_lines, min_size=1, max_size=5).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass"))


def check_outcome(call, name: str, data: bytes):
    """``call()``'s result, or None after checking its SeqLabError names the file (and a real line)."""
    try:
        result = call()
    except SeqLabError as exc:
        event(type(exc).__name__)  # --hypothesis-show-statistics: how often each outcome came
        message = str(exc)
        assert name in message, message
        if isinstance(exc, FormatError) and exc.line is not None:
            assert 1 <= exc.line <= data.count(b"\n") + 1, message
            assert f"line {exc.line}" in message
        return None
    event("result")
    return result


# ------------------------------------------------------------------ the readers


@FUZZ
@given(data=file_bytes, strict=st.booleans())
def test_read_column_gives_examples_or_an_error_naming_the_file(data, strict):
    check_outcome(lambda: formats.read_column(data, name="fuzz.conll", strict=strict), "fuzz.conll", data)


@FUZZ
@given(data=st.one_of(file_bytes, jsonl_files))
@example(data=deep(100_000).encode())  # the probes of issue 10, every run
@example(data=huge(5_000).encode())
@example(data=b'{"text": "a", "n": NaN}')
def test_read_jsonl_gives_examples_or_an_error_naming_the_file(data):
    check_outcome(lambda: formats.read_jsonl(data, name="fuzz.jsonl"), "fuzz.jsonl", data)


@FUZZ
@given(data=file_bytes)
def test_read_text_gives_examples_or_an_error_naming_the_file(data):
    check_outcome(lambda: formats.read_text(data, name="fuzz.txt"), "fuzz.txt", data)


@FUZZ
@given(data=st.one_of(file_bytes, jsonl_files), name=st.sampled_from(["f.txt", "f.conll", "f.jsonl", "f"]))
def test_guess_format_always_names_a_format(data, name):
    assert formats.guess_format(name, data.decode("utf-8", errors="replace")) in formats.FORMATS


@FUZZ
@given(data=st.one_of(file_bytes, jsonl_files), name=st.sampled_from(["f.txt", "f.conll", "f.jsonl", "upload"]),
       strict=st.booleans())
def test_read_gives_a_reading_or_an_error_naming_the_file(data, name, strict):
    reading = check_outcome(lambda: formats.read(data, name=name, strict=strict), name, data)
    if reading is not None:
        assert len(reading.examples) == len(reading.lines)
        assert all(1 <= line <= data.count(b"\n") + 1 for line in reading.lines)
        assert all(name in str(w) for w in reading.warnings)


# ------------------------------------------------------------------ the app's upload


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    from services import Services

    svc = Services(f"sqlite:///{tmp_path_factory.mktemp('fuzz-db') / 'seqlab.db'}")
    yield svc
    svc.close()


@FUZZ
@given(data=st.one_of(file_bytes, jsonl_files), name=st.sampled_from(["up.txt", "up.conll", "up.jsonl"]))
@example(data=deep(100_000).encode(), name="up.txt")
@example(data=huge(5_000).encode(), name="up.jsonl")
@example(data=b'{"text": "a", "split": "holdout"}', name="up.jsonl")
def test_preview_file_gives_documents_or_an_error_naming_the_file(services, data, name):
    check_outcome(lambda: services.preview_file(name, data), name, data)


# ------------------------------------------------------------------ the model-folder loader


@pytest.fixture(scope="module")
def model_dir(tiny_base, tmp_path_factory) -> Path:
    """An untrained tiny SeqLab folder (a real save: the loader cannot tell)."""
    from tagger.model import HeadConfig

    head = HeadConfig(tags=("O", "B-PER", "I-PER"), lstm_hidden=8, casing_dim=4)
    model, tokenizer = store.build(tiny_base, head)
    return store.save(model, tokenizer, tmp_path_factory.mktemp("fuzz-model") / "model",
                      {"train_config": {"max_length": 32}})


@pytest.fixture()
def scratch(model_dir, tmp_path):
    return Path(shutil.copytree(model_dir, tmp_path / "model"))


heads = st.fixed_dictionaries({}, optional={
    "tags": json_values | st.just(["O", "B-PER", "I-PER"]) | st.lists(st.sampled_from(["O", "B-PER", "X"]), max_size=4),
    "decoder": json_values | st.sampled_from(["crf", "softmax"]),
    "encoder": json_values | st.sampled_from(["bilstm", "none"]),
    "lstm_hidden": json_values | st.integers(-2, 10**12),
    "casing_dim": json_values | st.integers(-2, 10**12),
    "dropout": json_values | st.floats(-1, 2),
})
# the saved head with each field kept, dropped or replaced: reaches the weights and the tokenizer
VALID_HEAD = {"tags": ["O", "B-PER", "I-PER"], "decoder": "crf", "encoder": "bilstm", "lstm_hidden": 8,
              "casing_dim": 4, "dropout": 0.1}


@st.composite
def near_heads(draw) -> dict:
    head = dict(VALID_HEAD)
    for key in draw(st.sets(st.sampled_from(sorted(VALID_HEAD)), max_size=2)):
        junk = draw(json_values | st.sampled_from(["softmax", "none", 16, 0.5, ["O"], None]))
        if junk is None:
            del head[key]
        else:
            head[key] = junk
    return head


metas = st.one_of(
    json_values,
    st.fixed_dictionaries({"head": near_heads()}),
    st.fixed_dictionaries({"head": heads | json_values},
                          optional={"train_config": json_values | st.fixed_dictionaries({"max_length": json_values})}),
).map(json.dumps) | st.text(max_size=50)


@SLOW_FUZZ
@given(content=metas)
@example(content="{}")
@example(content='{"head": {"tags": ["O"], "lstm_hidden": 1000000000000}}')
def test_any_seqlab_json_loads_or_is_a_checkpoint_error(scratch, content):
    (scratch / store.META_FILE).write_text(content, encoding="utf-8")

    check_outcome(lambda: store.load(scratch), str(scratch), content.encode())


@SLOW_FUZZ
@given(filename=st.sampled_from(["model.safetensors", store.HEAD_FILE]), cut=st.integers(0, 10**6),
       flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4), junk=st.binary(max_size=64),
       whole=st.booleans())
@example(filename="model.safetensors", cut=0, flips=[], junk=b"\x80\x04\x95", whole=True)
@example(filename=store.HEAD_FILE, cut=100, flips=[], junk=b"", whole=False)
def test_any_weight_file_loads_or_is_a_checkpoint_error(model_dir, scratch, filename, cut, flips, junk, whole):
    for name in ("model.safetensors", store.HEAD_FILE):  # undo the last example's damage
        shutil.copyfile(model_dir / name, scratch / name)
    data = bytearray((model_dir / filename).read_bytes())
    if whole:
        data = bytearray(junk)
    else:
        data = data[:cut] if cut < len(data) else data
        for at, value in flips:
            if at < len(data):
                data[at] = value
    (scratch / filename).write_bytes(bytes(data))

    check_outcome(lambda: store.load(scratch), str(scratch), b"")
