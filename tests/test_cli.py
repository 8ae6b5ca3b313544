"""The command line: python -m tagger train|predict|evaluate (tagger/__main__.py).

Most tests call ``main(argv)`` in-process (no second interpreter, no second torch import);
one runs the module to prove the entry point works.
"""

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tagger.__main__ import main
from tagger.config import FAST_PRECISION
from tagger.formats import write_column, write_jsonl

# Small enough to train in a few seconds on a busy CPU; the tiny BERT comes from conftest.
TINY = ["--epochs", "6", "--batch-size", "8", "--lr", "3e-3", "--head-lr", "1e-2",
        "--max-length", "64", "--lstm-hidden", "32"]
QUICK = ["--epochs", "1", "--batch-size", "8", "--max-length", "32", "--lstm-hidden", "16"]


def run(argv, capsys) -> tuple[int, str, str]:
    """``main(argv)``'s exit code, stdout and stderr."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def help_text(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    return capsys.readouterr().out


# ---------------------------------------------------------------- --help


def test_module_entry_point_runs():
    root = Path(__file__).resolve().parents[1]  # where the tagger package is, installed or not
    done = subprocess.run([sys.executable, "-m", "tagger", "train", "--help"], cwd=root,
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert "--train" in done.stdout and "--out" in done.stdout


def test_top_level_help_lists_the_subcommands(capsys):
    text = help_text(["--help"], capsys)

    for command in ("train", "predict", "evaluate"):
        assert command in text


def test_train_help_lists_its_flags(capsys):
    text = help_text(["train", "--help"], capsys)

    for flag in ("--train", "--dev", "--out", "--base-model", "--decoder", "--encoder", "--epochs",
                 "--batch-size", "--lr", "--max-length", "--seed", "--strict", "--freeze-embeddings", "--length-chunk",
                 "--no-freeze-embeddings"):
        assert flag in text


def test_predict_help_lists_its_flags(capsys):
    text = help_text(["predict", "--help"], capsys)

    assert "--model" in text
    assert "input" in text


def test_evaluate_help_lists_its_flags(capsys):
    text = help_text(["evaluate", "--help"], capsys)

    for flag in ("--model", "--data", "--json"):
        assert flag in text


# ---------------------------------------------------------------- train


@pytest.fixture(scope="module")
def cli_model(tiny_base, corpus, tmp_path_factory) -> tuple[int, Path]:
    """(exit code, out folder) of one CLI training run on a column train file and a JSONL dev file.

    A slice of the corpus keeps it fast; predictions are checked on the session's trained_dir.
    """
    folder = tmp_path_factory.mktemp("cli-train")
    write_column(corpus[:24], folder / "train.conll")
    write_jsonl(corpus[100:106], folder / "dev.jsonl")
    out = folder / "model"
    code = main(["train", "--train", str(folder / "train.conll"), "--dev", str(folder / "dev.jsonl"),
                 "--out", str(out), "--base-model", tiny_base, *TINY])
    return code, out


def test_train_exits_zero(cli_model):
    code, _ = cli_model

    assert code == 0


def test_train_writes_a_safetensors_model_folder(cli_model):
    _, out = cli_model

    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "seqlab.json", "seqlab_head.safetensors"} <= names


def test_train_writes_no_pickle_files(cli_model):
    _, out = cli_model

    pickles = [p.name for p in out.rglob("*") if p.suffix in {".bin", ".pt", ".pth", ".pkl", ".ckpt"}]
    assert pickles == []


def test_train_records_the_run_in_seqlab_json(cli_model):
    _, out = cli_model

    meta = json.loads((out / "seqlab.json").read_text(encoding="utf-8"))
    assert meta["labels"] == ["LOC", "ORG", "PER"]
    assert (meta["decoder"], meta["encoder"]) == ("crf", "bilstm")
    assert meta["train_config"]["epochs"] == 6
    assert meta["data"]["fingerprint"]
    assert (meta["data"]["train_docs"], meta["data"]["dev_docs"]) == (24, 6)
    assert {"precision", "recall", "f1", "per_label"} <= set(meta["metrics"])


def test_train_with_dev_prints_the_dev_table(tiny_base, corpus, tmp_path, capsys):
    write_jsonl(corpus[:20], tmp_path / "train.jsonl")
    code, out, _ = run(["train", "--train", tmp_path / "train.jsonl", "--dev", tmp_path / "train.jsonl",
                        "--out", tmp_path / "model", "--base-model", tiny_base, *QUICK], capsys)

    assert code == 0
    assert "overall" in out


# ---------------------------------------------------------------- files the engine has not seen

ANIMALS = ["cat", "dog", "big bird"]
FOODS = ["rice", "apple pie", "fish"]


def animal_food_tsv(n: int) -> str:
    """A TAB-separated file with token, POS, chunk and an IOB2 tag of label ANIMAL or FOOD."""
    lines = []
    for i in range(n):
        animal, food = ANIMALS[i % len(ANIMALS)].split(), FOODS[i % len(FOODS)].split()
        rows = [("the", "DT", "O")] + [(w, "NN", ("B-" if k == 0 else "I-") + "ANIMAL")
                                       for k, w in enumerate(animal)]
        rows += [("at", "IN", "O")] + [(w, "NN", ("B-" if k == 0 else "I-") + "FOOD")
                                       for k, w in enumerate(food)]
        rows += [(".", ".", "O")]
        lines += [f"{w}\t{pos}\tI-NP\t{tag}" for w, pos, tag in rows] + [""]
    return "\n".join(lines)


def bmes_chinese(n: int) -> str:
    """A character-level BMES file: "我在北京工作" and the like, written without spaces."""
    people = [["S-PER"]]  # 我
    places = {"北京": ["B-LOC", "E-LOC"], "上海": ["B-LOC", "E-LOC"],
              "人民大学": ["B-ORG", "M-ORG", "M-ORG", "E-ORG"]}
    lines = []
    for i in range(n):
        place = list(places)[i % len(places)]
        chars = ["我", "在", *place, "工", "作"]
        tags = people[0] + ["O"] + places[place] + ["O", "O"]
        lines += [f"{c} {t}" for c, t in zip(chars, tags)] + [""]
    return "\n".join(lines)


def train_then_evaluate_json(path: Path, tiny_base, capsys) -> dict:
    code, _, err = run(["train", "--train", path, "--out", path.parent / "model",
                        "--base-model", tiny_base, *QUICK], capsys)
    assert code == 0, err
    code, out, err = run(["evaluate", "--model", path.parent / "model", "--data", path, "--json"], capsys)
    assert code == 0, err
    return json.loads(out)


def test_tab_separated_multi_column_file_with_other_labels_trains_and_evaluates(tiny_base, tmp_path, capsys):
    path = tmp_path / "animals.tsv"
    path.write_text(animal_food_tsv(12), encoding="utf-8")

    report = train_then_evaluate_json(path, tiny_base, capsys)

    assert set(report["per_label"]) == {"ANIMAL", "FOOD"}
    assert {"precision", "recall", "f1"} <= set(report)


def test_bmes_chinese_character_file_trains_and_evaluates(tiny_base, tmp_path, capsys):
    path = tmp_path / "places.bmes"
    path.write_text(bmes_chinese(12), encoding="utf-8")

    report = train_then_evaluate_json(path, tiny_base, capsys)

    assert set(report["per_label"]) == {"PER", "LOC", "ORG"}
    assert {"precision", "recall", "f1"} <= set(report)


# ---------------------------------------------------------------- predict

LINES = ["Alice went to Paris .", "  Bob works at Globex in London .  "]


def parse_jsonl(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_predict_from_a_file_writes_one_object_per_line(trained_dir, tmp_path, capsys):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")

    code, out, _ = run(["predict", "--model", trained_dir, path], capsys)

    assert code == 0
    assert [record["text"] for record in parse_jsonl(out)] == LINES


def test_predict_from_stdin_writes_one_object_per_line(trained_dir, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(LINES) + "\n"))

    code, out, _ = run(["predict", "--model", trained_dir, "-"], capsys)

    assert code == 0
    assert [record["text"] for record in parse_jsonl(out)] == LINES


def test_predicted_spans_have_offsets_label_and_score(trained_dir, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(LINES) + "\n"))

    _, out, _ = run(["predict", "--model", trained_dir], capsys)

    spans = [span for record in parse_jsonl(out) for span in record["spans"]]
    assert spans
    for span in spans:
        assert set(span) == {"start", "end", "label", "score"}
        assert 0.0 <= span["score"] <= 1.0


def test_predict_finds_the_person_and_the_place(trained_dir, monkeypatch, capsys):
    text = "Alice went to Paris ."
    monkeypatch.setattr(sys, "stdin", io.StringIO(text + "\n"))

    _, out, _ = run(["predict", "--model", trained_dir, "-"], capsys)

    [record] = parse_jsonl(out)
    found = [(text[s["start"]:s["end"]], s["label"]) for s in record["spans"]]
    assert found == [("Alice", "PER"), ("Paris", "LOC")]


# ---------------------------------------------------------------- evaluate


@pytest.fixture(scope="module")
def dev_file(corpus, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli-dev") / "dev.jsonl"
    write_jsonl(corpus[100:], path)
    return path


def test_evaluate_prints_a_table_with_each_label_and_overall(trained_dir, dev_file, capsys):
    code, out, _ = run(["evaluate", "--model", trained_dir, "--data", dev_file], capsys)

    assert code == 0
    for word in ("PER", "LOC", "ORG", "overall"):
        assert word in out


def test_evaluate_json_prints_one_json_object(trained_dir, dev_file, capsys):
    code, out, _ = run(["evaluate", "--model", trained_dir, "--data", dev_file, "--json"], capsys)

    assert code == 0
    [line] = out.splitlines()
    report = json.loads(line)
    assert {"precision", "recall", "f1", "per_label"} <= set(report)
    assert set(report["per_label"]) == {"PER", "LOC", "ORG"}


# ---------------------------------------------------------------- bad input: a message, exit 2


def test_missing_train_file_is_a_clear_error(tmp_path, capsys):
    code, _, err = run(["train", "--train", tmp_path / "nope.conll", "--out", tmp_path / "model"], capsys)

    assert code == 2
    assert "nope.conll" in err and "cannot read" in err
    assert "Traceback" not in err


def test_column_line_without_a_tag_names_its_line(tmp_path, capsys):
    path = tmp_path / "train.conll"
    path.write_text("Alice B-PER\nwent O\nto\nParis B-LOC\n", encoding="utf-8")

    code, _, err = run(["train", "--train", path, "--out", tmp_path / "model"], capsys)

    assert code == 2
    assert "line 3" in err
    assert "Traceback" not in err


def test_model_folder_that_does_not_exist_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("Alice went to Paris .\n"))

    code, _, err = run(["predict", "--model", tmp_path / "no-such-model"], capsys)

    assert code == 2
    assert "no-such-model" in err
    assert "Traceback" not in err


def test_model_folder_with_a_pickle_is_refused(trained_dir, dev_file, tmp_path, capsys):
    folder = tmp_path / "model"
    shutil.copytree(trained_dir, folder)
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")

    code, _, err = run(["evaluate", "--model", folder, "--data", dev_file], capsys)

    assert code == 2
    assert "pytorch_model.bin" in err and "pickle" in err


def test_unknown_hub_id_offline_is_a_clear_error(corpus, tmp_path, capsys):
    write_jsonl(corpus[:5], tmp_path / "train.jsonl")

    code, _, err = run(["train", "--train", tmp_path / "train.jsonl", "--out", tmp_path / "model",
                        "--base-model", "no-such-org/no-such-model"], capsys)

    assert code == 2
    assert "not available offline" in err
    assert not (tmp_path / "model").exists()


# ---------------------------------------------------------------- invalid IOB2 sequences

INVALID_IOB2 = "Alice B-PER\nwent O\nto O\nParis I-LOC\n. O\n\nBob B-PER\nvisited O\nLondon B-LOC\n"


def test_invalid_iob2_sequence_is_read_leniently_by_default(tiny_base, tmp_path, capsys):
    path = tmp_path / "train.conll"
    path.write_text(INVALID_IOB2, encoding="utf-8")

    code, _, err = run(["train", "--train", path, "--out", tmp_path / "model",
                        "--base-model", tiny_base, *QUICK], capsys)

    assert code == 0, err


def test_invalid_iob2_sequence_is_refused_with_strict(tmp_path, capsys):
    path = tmp_path / "train.conll"
    path.write_text(INVALID_IOB2, encoding="utf-8")

    code, _, err = run(["train", "--train", path, "--out", tmp_path / "model", "--strict"], capsys)

    assert code == 2
    assert "line 4" in err and "I-LOC" in err


# ---------------------------------------------------------------- one reading policy (issue 18)


def run_module(*argv) -> subprocess.CompletedProcess:
    root = Path(__file__).resolve().parents[1]
    return subprocess.run([sys.executable, "-m", "tagger", *map(str, argv)], cwd=root,
                          capture_output=True, text=True, timeout=300)


def reading_messages(stderr: str) -> list[str]:
    """The warning and error lines about reading the data file (not training's own)."""
    return [line for line in stderr.splitlines()
            if line.startswith(("warning: ", "error: ")) and "data.conll" in line]


def test_every_command_reads_an_invalid_sequence_with_the_same_warning_or_with_strict_the_same_error(
        tiny_base, trained_dir, tmp_path):
    data = tmp_path / "data.conll"
    data.write_text(INVALID_IOB2, encoding="utf-8")
    commands = {
        "train": ["train", "--train", data, "--out", tmp_path / "model", "--base-model", tiny_base, *QUICK],
        "evaluate": ["evaluate", "--model", trained_dir, "--data", data],
        "predict": ["predict", "--model", trained_dir, data],
        "rank": ["rank", "--model", trained_dir, data],
    }
    lenient = {name: run_module(*argv) for name, argv in commands.items()}
    strict = {name: run_module(*argv, "--strict") for name, argv in commands.items()}

    assert {name: done.returncode for name, done in lenient.items()} == dict.fromkeys(commands, 0)
    assert {name: reading_messages(done.stderr) for name, done in lenient.items()} == dict.fromkeys(commands, [
        "warning: data.conll: 1 tag sequence was repaired as conlleval does: line 4: tag 'I-LOC' "
        "follows 'O' in IOB2 (a strict reading refuses it)"])
    assert {name: done.returncode for name, done in strict.items()} == dict.fromkeys(commands, 2)
    assert {name: reading_messages(done.stderr) for name, done in strict.items()} == dict.fromkeys(commands, [
        "error: data.conll, line 4: tag 'I-LOC' follows 'O' in IOB2"])


def test_predict_reads_an_invalid_sequence_as_train_and_evaluate_do(trained_dir, tmp_path, capsys):
    path = tmp_path / "test.conll"
    path.write_text(INVALID_IOB2, encoding="utf-8")

    code, out, err = run(["predict", "--model", trained_dir, path], capsys)

    assert code == 0, err
    assert [r["text"] for r in parse_jsonl(out)] == ["Alice went to Paris .", "Bob visited London"]


# ---------------------------------------------------------------- odd files: exit 2 naming file and line (issue 10)

NESTED = '{"text": "Alice went to Paris .", "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
BIG_NUMBER = '{"text": "Alice went to Paris .", "spans": [{"start": ' + "9" * 5000 + ', "end": 5, "label": "PER"}]}\n'


@pytest.mark.parametrize("content, reason", [(NESTED, "nested more than"), (BIG_NUMBER, "a number has more than")])
@pytest.mark.parametrize("command", ["train", "predict", "evaluate"])
def test_odd_json_exits_2_naming_file_and_line(trained_dir, tmp_path, capsys, command, content, reason):
    path = tmp_path / "odd.jsonl"
    path.write_text('{"text": "Bob visited London"}\n' + content, encoding="utf-8")
    argv = {"train": ["train", "--train", path, "--out", tmp_path / "model"],
            "predict": ["predict", "--model", trained_dir, path],
            "evaluate": ["evaluate", "--model", trained_dir, "--data", path]}[command]

    code, _, err = run(argv, capsys)

    assert code == 2
    assert err.startswith(f"error: odd.jsonl, line 2: the record is {reason}" if "nested" in reason
                          else f"error: odd.jsonl, line 2: {reason}")
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_seqlab_json_of_an_empty_object_exits_2(trained_dir, dev_file, tmp_path, capsys, command):
    folder = tmp_path / "model"
    shutil.copytree(trained_dir, folder)
    (folder / "seqlab.json").write_text("{}", encoding="utf-8")
    argv = {"predict": ["predict", "--model", folder, dev_file],
            "evaluate": ["evaluate", "--model", folder, "--data", dev_file]}[command]

    code, _, err = run(argv, capsys)

    assert code == 2
    assert "seqlab.json" in err and 'no "head"' in err


@pytest.mark.parametrize("filename", ["model.safetensors", "seqlab_head.safetensors"])
def test_truncated_weights_exit_2(trained_dir, dev_file, tmp_path, capsys, filename):
    folder = tmp_path / "model"
    shutil.copytree(trained_dir, folder)
    (folder / filename).write_bytes((folder / filename).read_bytes()[:1000])

    code, _, err = run(["evaluate", "--model", folder, "--data", dev_file], capsys)

    assert code == 2
    assert f"error: {filename} in " in err and "not a safetensors file" in err


def test_evaluate_on_an_empty_file_exits_2(trained_dir, tmp_path, capsys):
    path = tmp_path / "empty.conll"
    path.write_text("\n\n", encoding="utf-8")

    code, _, err = run(["evaluate", "--model", trained_dir, "--data", path], capsys)

    assert code == 2
    assert "error: empty.conll: no documents in the file" in err


def test_evaluate_warns_about_labels_the_model_does_not_know(trained_dir, tmp_path, capsys):
    path = tmp_path / "other.conll"
    path.write_text("Alice B-PER\nwent O\nto O\nParis B-GPE\n\nBob B-FOO\nvisited O\nLondon B-GPE\n",
                    encoding="utf-8")

    code, _, err = run(["evaluate", "--model", trained_dir, "--data", path], capsys)

    assert code == 0
    assert ("warning: other.conll has labels the model does not know: FOO (1 span), GPE (2 spans); "
            "they count as missed") in err


def test_a_line_of_only_u_feff_is_read_as_blank_with_a_warning(trained_dir, tmp_path, capsys):
    path = tmp_path / "dev.txt"
    path.write_bytes(b"Alice B-PER\nwent O\n\xef\xbb\xbf\nBob B-PER\n")

    code, out, err = run(["predict", "--model", trained_dir, path], capsys)

    assert code == 0, err
    assert "warning: dev.txt: 1 line holding only invisible characters was read as blank: line 3 (U+FEFF)" in err
    assert [r["text"] for r in parse_jsonl(out)] == ["Alice went", "Bob"]


# ---------------------------------------------------------------- the fast paths against fp32


def test_predict_evaluate_and_rank_fast_paths_agree_with_fp32(trained_dir, dev_file, corpus, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(ex.text for ex in corpus[100:140]) + "\n", encoding="utf-8")
    spans, f1 = {}, {}
    for precision in ("int8", "onnx-int8", "fp32", None):  # None: no flag, the default
        flag = ["--precision", precision] if precision else []
        code, out, _ = run(["predict", "--model", trained_dir, texts, *flag], capsys)
        assert code == 0
        spans[precision] = [[(s["start"], s["end"], s["label"]) for s in r["spans"]] for r in parse_jsonl(out)]
        _, out, _ = run(["evaluate", "--model", trained_dir, "--data", dev_file, "--json", *flag], capsys)
        f1[precision] = json.loads(out)["f1"]
    assert spans[None] == spans[FAST_PRECISION] and f1[None] == f1[FAST_PRECISION]
    for fast in ("int8", "onnx-int8"):
        same = sum(a == b for a, b in zip(spans[fast], spans["fp32"]))
        assert same >= 0.95 * len(spans["fp32"]), f"{fast} changed {len(spans['fp32']) - same} of 40 texts' spans"
        assert abs(f1[fast] - f1["fp32"]) <= 0.01, f1
    code, out, _ = run(["rank", "--model", trained_dir, texts, "--precision", "fp32", "--top", "3"], capsys)
    assert code == 0 and len(parse_jsonl(out)) == 3


def test_a_precision_that_does_not_exist_is_refused(trained_dir, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["predict", "--model", trained_dir, "--precision", "fp8"])
    assert exit_.value.code == 2
    assert "argument --precision: invalid choice: 'fp8'" in capsys.readouterr().err


def test_predict_imports_neither_the_training_code_nor_seqeval(trained_dir, tmp_path):
    """What ``predict`` loads is what it pays for at start-up: not tagger.train, seqeval or sklearn."""
    texts = tmp_path / "one.txt"
    texts.write_text("Alice went to Paris .\n", encoding="utf-8")
    probe = ("import sys, runpy; sys.argv = ['tagger', 'predict', '--model', sys.argv[1], sys.argv[2]]\n"
             "try:\n    runpy.run_module('tagger', run_name='__main__')\nexcept SystemExit as e:\n    code = e.code\n"
             "heavy = sorted(m for m in ('tagger.train', 'tagger.evaluate', 'seqeval', 'sklearn') if m in sys.modules)\n"
             "print('HEAVY', heavy, 'CODE', code, file=sys.stderr)\n")
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", probe, trained_dir, str(texts)], cwd=root, capture_output=True,
                          text=True, timeout=300, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert "HEAVY [] CODE 0" in done.stderr, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[0])["text"] == "Alice went to Paris ."
