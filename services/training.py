"""The model side of :class:`services.Services`: model versions and activation (jobs: see below)."""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from db import versions
from db.session import write_session
from db.versions import VersionInfo
from tagger import store

if TYPE_CHECKING:
    from tagger.predict import Tagger

log = logging.getLogger(__name__)


class TrainingServices:
    """Mixed into :class:`services.Services`; uses its ``self.factory`` (a session factory)."""

    # ------------------------------------------------------------------ versions

    def versions(self, project_id: int) -> list[VersionInfo]:
        """The project's model versions, newest first."""
        with self.factory() as s:
            return versions.list_versions(s, project_id)

    def version(self, version_id: int) -> VersionInfo:
        with self.factory() as s:
            return versions.get_version(s, version_id)

    def active_version(self, project_id: int) -> VersionInfo | None:
        """The version the project predicts with, or None before the first training."""
        with self.factory() as s:
            return versions.active_version(s, project_id)

    def activate_version(self, version_id: int) -> VersionInfo:
        """Make a version active (rollback = activate an older one); pages pick it up on their next run."""
        with write_session(self.factory) as s:
            info = versions.activate(s, version_id)
        log.info("project %d: %s is active", info.project_id, info.name)
        return info

    def register_version(self, project_id: int, path: str | Path, activate: bool = False) -> VersionInfo:
        """Record an existing SeqLab model folder as a version (checked to be safetensors-only first)."""
        path = Path(path).resolve()
        meta = store.read_meta(path)
        store.check_safe_dir(path, require_weights=True)
        with write_session(self.factory) as s:
            info = versions.create_version(s, project_id, str(path), metrics=meta.get("metrics") or {},
                                           config=meta.get("train_config") or {}, data=meta.get("data") or {})
            return versions.activate(s, info.id) if activate else info

    def load_tagger(self, version: VersionInfo, quantize: bool = True) -> Tagger:
        """The version's tagger; int8 by default (the fast path bench/speed.py shows keeps F1)."""
        from tagger.predict import Tagger

        return Tagger.load(version.path, quantize=quantize)

    def version_zip(self, version_id: int) -> bytes:
        """The version's Hugging Face folder as a zip (for download)."""
        info = self.version(version_id)
        folder = Path(info.path)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for file in sorted(folder.rglob("*")):
                if file.is_file():
                    zf.write(file, f"{info.name}/{file.relative_to(folder)}")
        return out.getvalue()
