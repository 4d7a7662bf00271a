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

    def add_buckets(self, buckets: np.ndarray, documents: int) -> None:
        """Count `documents` articles, given by the buckets of their keyword ids, concatenated."""
        self.counts += np.bincount(buckets, minlength=BUCKETS).astype(np.uint32)
        self.documents += documents

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
    """Add every not-yet-counted signature to the sketch, in one transaction. Read a chunk at
    a time: a rebuild counts all 100,000, whose rows held at once took ~130 MB (kept by the
    allocator for the rest of the run)."""
    with transaction(conn):
        cursor = conn.cursor()
        cursor.row_factory = None
        cursor.execute(
            "SELECT k.article_id, k.ids FROM article_keywords k WHERE NOT EXISTS "
            "(SELECT 1 FROM keywords_counted c WHERE c.article_id = k.article_id)"
        )
        counted: list[int] = []
        buckets: list[np.ndarray] = []
        while chunk := cursor.fetchmany(4096):
            counted.extend(article_id for article_id, _ in chunk)
            ids = [np.frombuffer(blob, dtype=HASH_DTYPE) for _, blob in chunk]
            buckets.append((np.concatenate(ids) & MASK).astype(np.uint32))
        if not counted:
            return 0
        frequency = DocumentFrequency.load(conn)
        frequency.add_buckets(np.concatenate(buckets), len(counted))
        frequency.save(conn)
        conn.executemany(
            "INSERT INTO keywords_counted (article_id) VALUES (?)", [(i,) for i in counted]
        )
    return len(counted)
