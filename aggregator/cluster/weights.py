"""Keyword weights: inverse document frequency from a fixed-size counting sketch.

Counting every keyword of every article exactly would need a table as large as the vocabulary
and a lookup per keyword; a 2^21-bucket array of counts (8 MB, one blob) loads in milliseconds
and is exact but for rare hash collisions, which only make a word look a little commoner.
Articles are counted once (table keywords_counted), all pending ones before a run
clusters any of them, so weights within a run do not depend on the order articles arrived in.
"""

from __future__ import annotations

import sqlite3

import numpy as np

from aggregator.keywords import HASH_DTYPE
from aggregator.store import transaction

BUCKETS = 1 << 21
MASK = BUCKETS - 1
# Pseudo-documents that contain none of the words: keeps weights sane in a young database,
# where every word would otherwise look common or unique.
PRIOR_DOCUMENTS = 100
SKETCH_KEY, DOCUMENTS_KEY = "df_sketch", "df_documents"


class DocumentFrequency:
    def __init__(self, counts: np.ndarray, documents: int) -> None:
        self.counts = counts
        self.documents = documents

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> DocumentFrequency:
        rows = dict(conn.execute("SELECT key, value FROM cluster_state").fetchall())
        if SKETCH_KEY in rows:
            counts = np.frombuffer(rows[SKETCH_KEY], dtype="<u4").copy()
            return cls(counts, int(rows[DOCUMENTS_KEY]))
        return cls(np.zeros(BUCKETS, dtype=np.uint32), 0)

    def add_many(self, id_arrays: list[np.ndarray]) -> None:
        """Count articles, each given by its distinct keyword ids."""
        if not id_arrays:
            return
        buckets = np.concatenate(id_arrays) & MASK
        self.counts += np.bincount(buckets, minlength=BUCKETS).astype(np.uint32)
        self.documents += len(id_arrays)

    def weights_of(self, ids: np.ndarray) -> np.ndarray:
        """The weight of each keyword id (any number of articles' ids, concatenated)."""
        df = self.counts[ids & MASK].astype(np.float64)
        idf = np.log((self.documents + PRIOR_DOCUMENTS + 1) / (df + 0.5))
        return np.maximum(idf, 0.0)

    def save(self, conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO cluster_state (key, value) VALUES (?, ?)",
            [
                (SKETCH_KEY, self.counts.astype("<u4").tobytes()),
                (DOCUMENTS_KEY, str(self.documents)),
            ],
        )


def count_new(conn: sqlite3.Connection) -> int:
    """Add every not-yet-counted signature to the sketch, in one transaction."""
    with transaction(conn):
        rows = conn.execute(
            "SELECT k.article_id, k.ids FROM article_keywords k WHERE NOT EXISTS "
            "(SELECT 1 FROM keywords_counted c WHERE c.article_id = k.article_id)"
        ).fetchall()
        if not rows:
            return 0
        frequency = DocumentFrequency.load(conn)
        frequency.add_many([np.frombuffer(row["ids"], dtype=HASH_DTYPE) for row in rows])
        frequency.save(conn)
        conn.executemany(
            "INSERT INTO keywords_counted (article_id) VALUES (?)",
            [(row["article_id"],) for row in rows],
        )
    return len(rows)
