"""The Models page's correction ledger through AppTest: counts per version, the documents of each
outcome with the correction and both versions' spans, pins, and opening a document in Annotate."""

from __future__ import annotations

import json

import pytest

from db import ledger
from db.session import write_session
from services import ledger as ledger_service
from tagger.error_cells import Cell
from tagger.spans import Span
from streamlit.testing.v1 import AppTest

from tests.apptest import PAGES, TIMEOUT, page, shown, unmd

APP = str(PAGES.parent / "app.py")


class Fake:
    def __init__(self, answers):
        self.answers = answers

    def predict(self, texts):
        return [list(self.answers.get(t, [])) for t in texts]


@pytest.fixture()
def svc(page_svc):
    return page_svc


@pytest.fixture()
def project(svc, corpus):
    project = svc.ensure_default_project()
    lines = [json.dumps({"text": ex.text, "split": "dev" if i % 5 == 0 else "train",
                         "spans": [{"start": s.start, "end": s.end, "label": s.label} for s in ex.spans]})
             for i, ex in enumerate(corpus[:12])]
    svc.import_file(project.id, "gold.jsonl", "\n".join(lines).encode())
    return project


@pytest.fixture()
def scored(svc, project, trained_dir, trained_softmax_dir):
    """v1 active, v2 scored against it with made-up predictions: document a learned, b regressed,
    c unchanged right, the rest still wrong."""
    v1 = svc.register_version(project.id, trained_dir, activate=True)
    v2 = svc.register_version(project.id, trained_softmax_dir)
    with svc.factory() as s:
        docs = ledger.corrections_after(s, project.id, 0, 100)
    (a, _, ea), (b, _, eb), (c, _, ec) = docs[:3]
    old = Fake({eb.text: list(eb.spans), ec.text: list(ec.spans)})
    new = Fake({ea.text: list(ea.spans), ec.text: list(ec.spans), eb.text: [Span(0, 1, "ORG")]})
    ledger_service.score_version(svc.factory, project.id, v2.id, new, old)
    with write_session(svc.factory) as s:
        ledger.save_summary(s, v2.id, v1.id)
    return v1, v2, (a, b, c), len(docs)


def test_the_versions_table_shows_each_versions_ledger_counts(svc, project, scored):
    at = page("models")

    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["version"]) == ["v2", "v1"]
    assert table["learned"][0] == 1 and table["regressed"][0] == 1
    assert table["still wrong"][0] == scored[3] - 3


def test_the_ledger_shows_the_four_counts_and_opens_on_the_regressed_documents(svc, project, scored):
    _, v2, (a, b, c), total = scored

    at = page("models")

    assert not at.exception
    assert [(m.label, m.value) for m in at.metric] == [
        ("learned", "1"), ("still wrong", str(total - 3)), ("regressed", "1"), ("unchanged right", "1")]
    assert at.selectbox(key=f"models_ledger_doc_{v2.id}_regressed").options == [f"#{b} · {svc.document(b).text}"]
    assert any("tagged by v2 and by v1" in t for t in shown(at))


def test_each_outcome_lists_exactly_its_documents(svc, project, scored):
    _, v2, (a, b, c), _ = scored
    at = page("models")

    at.radio(key=f"models_ledger_outcome_{v2.id}").set_value("learned").run()

    assert not at.exception
    [only] = at.selectbox(key=f"models_ledger_doc_{v2.id}_learned").options
    assert only.startswith(f"#{a} · ")
    at.radio(key=f"models_ledger_outcome_{v2.id}").set_value("still_wrong").run()
    listed = [int(o.split(" ")[0][1:]) for o in at.selectbox(key=f"models_ledger_doc_{v2.id}_still_wrong").options]
    assert a not in listed and b not in listed and c not in listed and listed == sorted(listed)


def test_pinning_a_correction_lists_it_and_warns_that_the_version_breaks_it(svc, project, scored):
    _, v2, (_, b, _), _ = scored
    at = page("models")

    at.button(key=f"models_ledger_{b}_pin").click().run()

    assert not at.exception
    assert [p.document_id for p in svc.pinned_corrections(project.id)] == [b]
    assert any(f"v2 breaks pinned corrections (#{b})" in unmd(w.value) for w in at.warning)
    assert at.button(key=f"models_ledger_{b}_pin").label == "Unpin this correction"
    at.button(key=f"models_ledger_{b}_pin").click().run()
    assert svc.pinned_corrections(project.id) == []


def test_open_in_annotate_opens_the_corrected_document_on_its_stored_spans(svc, project, scored):
    _, _, (_, b, _), _ = scored
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()  # the whole app: switch_page needs st.navigation
    at.switch_page("pages/models.py").run()

    at.button(key=f"models_ledger_{b}_open").click().run()

    assert not at.exception
    assert at.session_state["annotate_doc"] == b
    assert any(f"Document #{b}" in t and "the stored version" in t for t in shown(at))


def test_a_version_without_a_ledger_says_so(svc, project, trained_dir):
    svc.register_version(project.id, trained_dir, activate=True)

    at = page("models")

    assert not at.exception
    assert any("has no correction ledger" in t for t in shown(at))


# ----------------------------------------------------------------------------- error cells


def expected_cells(svc, version_id):
    from tagger.error_cells import index_cells

    with svc.factory() as s:
        return index_cells((e.document_id, e.gold, e.predicted) for e in ledger.iter_entries(s, version_id))


def test_an_error_cell_lists_exactly_its_sentences(svc, project, scored):
    _, v2, _, _ = scored
    expected = expected_cells(svc, v2.id)
    at = page("models")
    at.toggle(key=f"models_cells_dev_{v2.id}").set_value(False).run()

    at.button(key=f"models_cell_{v2.id}_missed__").click().run()

    assert not at.exception
    options = at.selectbox(key=f"models_cell_doc_{v2.id}_missed__").options
    missed = expected.documents[Cell("missed")]
    assert [int(o.split(" ")[0][1:]) for o in options] == list(missed)
    assert any(f"missed**: {len(missed)} document{'s' if len(missed) != 1 else ''}" in m.value.replace("\\", "")
               for m in at.markdown)


def test_a_confusion_cell_lists_exactly_its_sentences_and_opens_one_in_annotate(svc, project, scored):
    _, v2, _, _ = scored
    expected = expected_cells(svc, v2.id)
    cell = next(c for c in expected.counts if c.kind == "confusion" and c.predicted == "ORG" and c.gold != "ORG")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("pages/models.py").run()
    at.toggle(key=f"models_cells_dev_{v2.id}").set_value(False).run()

    at.button(key=f"models_cell_{v2.id}_confusion_{cell.gold}_ORG").click().run()

    options = at.selectbox(key=f"models_cell_doc_{v2.id}_confusion_{cell.gold}_ORG").options
    assert [int(o.split(" ")[0][1:]) for o in options] == list(expected.documents[cell])
    doc_id = expected.documents[cell][0]
    at.button(key=f"models_cell_{doc_id}_open").click().run()
    assert not at.exception and at.session_state["annotate_doc"] == doc_id


def test_on_the_dev_documents_the_cells_count_the_dev_split_only(svc, project, scored):
    _, v2, _, _ = scored
    with svc.factory() as s:
        dev = [e for e in ledger.iter_entries(s, v2.id) if e.split == "dev"]  # a registered folder names no dev ids
    at = page("models")

    assert not at.exception and dev
    assert any(f"{len(dev)} documents, as v2 tags them" in t for t in shown(at))


# ----------------------------------------------------------------------------- the audit


def test_the_audit_button_queues_one_job_for_two_clicks(svc, project, scored):
    at = page("models")
    at.number_input(key="models_audit_folds").set_value(0).run()

    at.button(key="models_audit_start").click().run()
    at.button(key="models_audit_start").click().run()

    assert not at.exception
    [job] = [j for j in svc.jobs(project.id) if j.config.get("kind") == "audit"]
    assert job.config["folds"] == 0
    assert any(f"Audit job #{job.id} with the same data is already queued" in t for t in shown(at))


def test_the_audits_findings_show_stored_and_suggested_spans_and_open_in_annotate(svc, project, scored):
    import worker
    from db import jobs
    from db.session import data_home

    with svc.factory() as s:
        first = ledger.corrections_after(s, project.id, 0, 1)[0]
    svc.save_correction(first[0], [Span(first[2].spans[0].start, first[2].spans[0].end, "ORG")], annotator="x")
    job, _ = svc.start_audit(project.id, folds=0)
    with write_session(svc.factory) as s:
        claimed = jobs.claim_next(s, "test")
    worker.run_job(svc.factory, claimed, data_home())
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page("pages/models.py").run()

    assert not at.exception
    picker = at.selectbox(key=f"models_audit_pick_{job.id}")
    assert picker.options and all(" · #" in o for o in picker.options)
    finding = svc.audit_findings(job.id)[0]
    at.button(key=f"models_audit_{job.id}_0_open").click().run()
    assert not at.exception and at.session_state["annotate_doc"] == finding.document_id


# ----------------------------------------------------------------------------- hostile names


def test_hostile_label_names_and_texts_show_as_text_in_the_ledger_and_the_cells(svc, trained_dir):
    from tests.test_escaping import LABELS, TEXTS, rendered, shows_exactly

    project = svc.create_project("Bob's NER", LABELS)
    text = f"{TEXTS[3]} met **Bob** at www.example.com"
    span = Span(text.index("**Bob**"), text.index("**Bob**") + len("**Bob**"), LABELS[1])
    record = {"text": text, "split": "dev", "spans": [{"start": span.start, "end": span.end, "label": span.label}]}
    svc.import_file(project.id, "gold.jsonl", json.dumps(record).encode())
    v1 = svc.register_version(project.id, trained_dir, activate=True)
    v2 = svc.register_version(project.id, trained_dir)
    ledger_service.score_version(svc.factory, project.id, v2.id, Fake({text: [Span(span.start, span.end, LABELS[0])]}),
                                 Fake({text: [span]}))
    with write_session(svc.factory) as s:
        ledger.save_summary(s, v2.id, v1.id)
    [doc] = [e.document_id for e in svc.ledger_entries(v2.id, "regressed")]
    svc.pin_correction(doc, "<b>ann</b>")

    at = page("models", project_id=project.id)

    assert not at.exception
    assert at.selectbox(key=f"models_ledger_doc_{v2.id}_regressed").options == [f"#{doc} 📌 · {text}"]  # plain text
    assert any(shows_exactly(w.value, f"v2 breaks pinned corrections (#{doc}): it gets them wrong where the version "
                                      "it was compared with got them right.") for w in at.warning)
    headers = [c.value for c in at.caption]
    for name in (LABELS[0], LABELS[1]):
        assert any(shows_exactly(h, name) for h in headers), headers
    at.button(key=f"models_cell_{v2.id}_confusion_{LABELS[1]}_{LABELS[0]}").click().run()
    title = next(m.value for m in at.markdown if "document" in m.value and "predicted" in m.value)
    seen = rendered(title)
    assert seen.text == f"gold {LABELS[1]} → predicted {LABELS[0]}: 1 document" and seen.strong == (
        f"gold {LABELS[1]} → predicted {LABELS[0]}",)
    assert seen.tags == {"p", "strong"}
