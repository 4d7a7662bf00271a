"""Which of the kernel's version links are marked as versions (`article_versions`).

The kernel links a pair as versions when it is the same event and the two share most keywords
(aggregator/cluster/kernel.py, `strength`); that link decides the story. But keyword coverage
and the vectors cannot tell a translation from an independent report that repeats the same
facts: on the demo, whose outlets each wrote their own article with the same names and numbers,
62 of its 200 pairs of independent reports were linked, with keyword coverage and centred
cosines in the same range as WMT's human translations (docs/clustering.md, *Versions*). What a
translation or a copy keeps and an independent report does not is every figure of the text:
a translation needs the two texts' numbers to agree (`NUMBERS_AGREE`, the Jaccard share of
their sets of numbers; texts without numbers agree). Copies (one language) are marked as the
kernel links them: on the SemEval pairs the number test only lost real copies there.
"""

from __future__ import annotations

import json
import re
import sqlite3

# Tuned on half 1 of bench/eval_versions.py's pairs (docs/clustering.md): 0.9 and 1.0 tie.
NUMBERS_AGREE = 0.9

# A digit group separator (space, no-break spaces, comma, point, apostrophe) before exactly
# three digits: "2,400", "2.400", "2 400" and "2'400" are one number.
_GROUPED = re.compile(r"(?<=\d)[ \u00a0\u202f,.'’](?=\d{3}(?!\d))")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")


def numbers(text: str) -> frozenset[str]:
    """The numbers of a text, written one way (no digit grouping, a decimal point, no leading
    zeros)."""
    found = _NUMBER.findall(_GROUPED.sub("", text))
    return frozenset(n.replace(",", ".").lstrip("0") or "0" for n in found)


def agreement(a: str, b: str) -> float:
    """How far two texts carry the same numbers: the Jaccard share of their sets (1.0 when
    neither has any)."""
    na, nb = numbers(a), numbers(b)
    if not na and not nb:
        return 1.0
    return len(na & nb) / len(na | nb)


def marked(
    conn: sqlite3.Connection, links: list[tuple[int, int, str, float]]
) -> list[tuple[int, int, str, float]]:
    """The links (article, article it matched, kind, score) to mark: the copies, and the
    translations whose texts' numbers agree."""
    if not any(kind == "translation" for _, _, kind, _ in links):
        return links
    wanted = sorted({a for a, b, kind, _ in links if kind == "translation" for a in (a, b)})
    texts = {
        article_id: f"{title or ''}\n{summary or ''}"
        for article_id, title, summary in conn.execute(
            "SELECT id, title, summary FROM articles WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(wanted),),
        )
    }
    return [
        link
        for link in links
        if link[2] != "translation"
        or agreement(texts.get(link[0], ""), texts.get(link[1], "")) >= NUMBERS_AGREE
    ]
