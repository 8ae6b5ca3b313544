"""SeqLab's tagging engine: BERT (+ BiLSTM) + softmax/CRF, spans over raw text."""

import os

# oneDNN (torch's CPU kernels for bfloat16) keeps up to 1,024 compiled primitives, one per shape
# seen, each with its own copy of the weights in its layout: with sentences of every length, bf16
# training on CoNLL-2003 grew by a third (7,000 sentences: 2.56 GB against 2.18 in fp32). Eight
# keep it below fp32's (1.97 GB) at the same speed. oneDNN reads this on first use; a value the
# user set is kept.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "8")

from .spans import Example, SeqLabError, Span  # noqa: E402

__all__ = ["Example", "SeqLabError", "Span"]
__version__ = "0.1.0"
