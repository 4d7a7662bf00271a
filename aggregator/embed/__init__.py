"""Embeddings: dense vectors (English and multilingual) and keyword signatures per article.

`run(conn, config, progress=None)` is the stage entry point (see aggregator/embed/stage.py).
"""

from aggregator.embed.stage import run
from aggregator.vectors import from_blob, to_blob

__all__ = ["from_blob", "run", "to_blob"]
