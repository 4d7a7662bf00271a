"""The stored vectors, as the embed stage writes them and the cluster stage reads them.

`embeddings.vector` holds little-endian float32 blobs, in one of two spaces: `multilingual`
(the original text, every article with text) and `english` (the English text, once the
translate stage has settled the article and there is English text). The SQL conditions below
say which articles get which vector; they are written against `articles` aliased as `a`.
"""

from __future__ import annotations

import numpy as np

MULTILINGUAL, ENGLISH = "multilingual", "english"  # embeddings.space
DTYPE = np.dtype("<f4")

# The translate stage is done with the article: translated, copied, marked as having no model,
# or failed once. Its English vector and keyword signature wait for this.
SETTLED = "(a.translated_at IS NOT NULL OR a.translation_error IS NOT NULL)"
# The article has text to embed (its multilingual vector).
HAS_TEXT = "(COALESCE(a.title, '') || COALESCE(a.summary, '')) != ''"
# The article has English text (its English vector, once settled).
HAS_ENGLISH = "(COALESCE(a.title_en, '') || COALESCE(a.summary_en, '')) != ''"


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=DTYPE).tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    """A read-only view of the blob (several vectors' blobs joined decode in one call)."""
    return np.frombuffer(blob, dtype=DTYPE)
