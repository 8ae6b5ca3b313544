"""The model side of :class:`services.Services`: training jobs, model versions, activation."""

from __future__ import annotations


class TrainingServices:
    """Mixed into :class:`services.Services`; uses its ``self.factory`` (a session factory)."""
