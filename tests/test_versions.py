"""Model versions: numbering, one active per project, rollback, registering and zipping a folder."""

from __future__ import annotations

import io
import zipfile

import pytest

from db import repo, versions
from db.session import write_session
from services import Services
from tagger.spans import SeqLabError


@pytest.fixture()
def project_id(factory):
    with write_session(factory) as s:
        return repo.create_project(s, "p", ["PER"]).id


def test_versions_are_numbered_per_project_newest_first(factory, project_id):
    with write_session(factory) as s:
        other = repo.create_project(s, "other", ["PER"]).id
        versions.create_version(s, project_id, "/a")
        versions.create_version(s, other, "/x")
        versions.create_version(s, project_id, "/b", metrics={"f1": 0.5})
    with factory() as s:
        listed = versions.list_versions(s, project_id)
        assert [(v.name, v.path) for v in listed] == [("v2", "/b"), ("v1", "/a")]
        assert listed[0].f1 == 0.5 and listed[1].f1 is None
        assert versions.get_version(s, listed[0].id).number == 2


def test_activating_a_version_deactivates_the_others_and_rollback_works(factory, project_id):
    with write_session(factory) as s:
        v1 = versions.create_version(s, project_id, "/a")
        v2 = versions.create_version(s, project_id, "/b", parent_id=v1.id)
        assert versions.active_version(s, project_id) is None
        versions.activate(s, v1.id)
        versions.activate(s, v2.id)
    with factory() as s:
        assert versions.active_version(s, project_id).id == v2.id
        assert [v.active for v in versions.list_versions(s, project_id)] == [True, False]
    with write_session(factory) as s:
        versions.activate(s, v1.id)  # rollback
    with factory() as s:
        assert versions.active_version(s, project_id).id == v1.id


def test_an_unknown_version_is_a_clear_error(factory):
    with factory() as s, pytest.raises(SeqLabError, match="no model version 99"):
        versions.get_version(s, 99)


def test_a_registered_folder_predicts_and_zips(tmp_path, trained_dir):
    svc = Services(f"sqlite:///{tmp_path / 'db.sqlite'}")
    project = svc.create_project("p", ["PER", "LOC", "ORG"])
    version = svc.register_version(project.id, trained_dir, activate=True)
    assert svc.active_version(project.id) == version
    assert version.f1 is not None and version.config["epochs"] == 8
    tagger = svc.load_tagger(version, quantize=False)
    assert any(s.label == "PER" for s in tagger.predict(["Alice went to Paris ."])[0])
    names = zipfile.ZipFile(io.BytesIO(svc.version_zip(version.id))).namelist()
    assert "v1/seqlab.json" in names and any(n.endswith(".safetensors") for n in names)
    svc.close()


def test_a_folder_holding_a_pickle_is_not_registered(tmp_path, trained_dir):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(trained_dir, folder)
    (folder / "pytorch_model.bin").write_bytes(b"not really a pickle")
    svc = Services(f"sqlite:///{tmp_path / 'db.sqlite'}")
    project = svc.create_project("p", ["PER"])
    with pytest.raises(SeqLabError, match="pickle|\\.bin"):
        svc.register_version(project.id, folder)
    assert svc.versions(project.id) == []
    svc.close()
