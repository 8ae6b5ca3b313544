"""SeqLab's tagging engine: BERT (+ BiLSTM) + softmax/CRF, spans over raw text."""

from .spans import Example, SeqLabError, Span

__all__ = ["Example", "SeqLabError", "Span"]
__version__ = "0.1.0"
