"""The compiled inner loop of clustering (numba): each article of a batch, in order, against
the stories of its window, and the window's upkeep.

Everything here works on the window's arrays (aggregator/cluster/window.py) and nothing else:
no Python objects, no database. Per article the work is a few hundred small steps (a top-k
over the window's story centroids, cosines with the candidate stories' articles, keyword
coverage by merging sorted hash arrays), which in Python cost ~300 µs and here a few µs.

`strength` is the one definition of the pair rule (docs/clustering.md: the signals and how the
thresholds were chosen), and `rule_parameters` turns the cluster settings into the parameters
the loop takes. The signals, per pair of articles: the English cosine where both have English
text, the language-centred multilingual cosine (aggregator/cluster/centering.py), and keyword
coverage (aggregator/keywords.py) where the two share a keyword space. tests/test_cluster_kernel.py
checks the loop against a plain-Python reference; tests/test_cluster_signals.py judges pairs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from aggregator.config import ClusterSettings

NONE = -np.inf  # "no match": below every strength
VERSION = 1.0  # added to a version's strength: a version of an article outranks any event match

# Indices into the float parameters of `assign_batch`.
(
    THRESHOLD_EVENT,
    THRESHOLD_EVENT_CROSS,
    THRESHOLD_EN,
    THRESHOLD_KEYWORDS,
    THRESHOLD_VERSION,
    WINDOW_S,
    GATE,
    MIN_CANDIDATE,
    THRESHOLD_MERGE,
    THRESHOLD_EN_EVENT,
    THRESHOLD_COPY,
) = range(11)
PARAM_COUNT = 11
DAY = 86400.0
CENTROID_SLACK = 0.1  # a centroid sits below its closest member: look a little lower
# How far below the event bar a multilingual cosine may be for the pair to be judged at all:
# the English cosine can still make it the same event.
CANDIDATE_FLOOR = 0.2


def rule_parameters(settings: ClusterSettings) -> np.ndarray:
    """The settings as the compiled loop takes them (THRESHOLD_EVENT...)."""
    lowest = min(settings.threshold_event, settings.threshold_event_cross)
    params = np.zeros(PARAM_COUNT)
    params[THRESHOLD_EVENT] = settings.threshold_event
    params[THRESHOLD_EVENT_CROSS] = settings.threshold_event_cross
    params[THRESHOLD_EN] = settings.threshold_en
    params[THRESHOLD_KEYWORDS] = settings.threshold_keywords
    params[THRESHOLD_VERSION] = settings.threshold_version
    params[WINDOW_S] = settings.window_days * DAY
    params[GATE] = lowest - CANDIDATE_FLOOR - CENTROID_SLACK
    params[MIN_CANDIDATE] = lowest - CANDIDATE_FLOOR
    params[THRESHOLD_MERGE] = settings.merge_margin
    params[THRESHOLD_EN_EVENT] = settings.threshold_en_event
    params[THRESHOLD_COPY] = settings.threshold_copy
    return params


@njit(cache=True, nogil=True)
def strength(
    multi, cross, has_english, english, has_keywords, keywords, params
):  # pragma: no cover - compiled
    """How far a pair is above the bar (higher is better; NONE below it), and whether one is
    a version of the other (a translation, rewrite or wire copy).

    multi: the language-centred multilingual cosine; cross: the two are in different
    languages; english: the English cosine (when both have English text); keywords: keyword
    coverage, the smaller direction (when they share a keyword space).

    Same event: where both have English text, the mean of the two models' cosines reaches
    `threshold_en_event` (and the English one `threshold_en`); elsewhere the centred
    multilingual cosine reaches `threshold_event` (`threshold_event_cross` across languages).
    A version is a same-event pair that shares most keywords (`threshold_keywords` across
    languages, `threshold_copy` within one) or, with no shared keyword space, is nearly one
    text (`threshold_version`); its strength is 1 + coverage (or + that cosine), above any
    other match."""
    if has_english:
        if english < params[THRESHOLD_EN]:
            return NONE, False
        score, bar = (english + multi) / 2, params[THRESHOLD_EN_EVENT]
    else:
        score = multi
        bar = params[THRESHOLD_EVENT_CROSS] if cross else params[THRESHOLD_EVENT]
    if score < bar:
        return NONE, False
    if has_keywords:
        if keywords >= (params[THRESHOLD_KEYWORDS] if cross else params[THRESHOLD_COPY]):
            return VERSION + keywords, True
    elif multi >= params[THRESHOLD_VERSION]:
        return VERSION + multi, True
    return score - bar, False


@njit(cache=True, nogil=True)
def coverage_same(a_ids, a_weights, a_total, b_ids, marks):  # pragma: no cover - compiled
    """Share of a's keyword weight whose identity b carries (both id arrays sorted; an id is
    its own item)."""
    return coverage_cross(a_ids, np.arange(len(a_ids)), a_weights, a_total, b_ids, marks)


@njit(cache=True, nogil=True)
def coverage_cross(a_alts, a_owners, a_weights, a_total, b_alts, marks):  # pragma: no cover
    """Share of a's keyword weight whose items have any alternative b carries (alternatives
    sorted; `marks`: a scratch array of at least len(a_weights) False values, left False)."""
    if a_total <= 0:
        return 0.0
    i = j = 0
    while i < len(a_alts) and j < len(b_alts):
        if a_alts[i] < b_alts[j]:
            i += 1
        elif a_alts[i] > b_alts[j]:
            j += 1
        else:
            marks[a_owners[i]] = True
            i += 1  # the next alternative of a may be the same hash for another item
    found = 0.0
    for item in range(len(a_weights)):
        if marks[item]:
            found += a_weights[item]
            marks[item] = False
    return found / a_total


@njit(cache=True, nogil=True, fastmath=True)
def _dot(a, b):  # pragma: no cover - compiled
    """a . b in float64, vectorised (the order of the additions is left to the compiler)."""
    total = 0.0
    for d in range(len(a)):
        total += np.float64(a[d]) * np.float64(b[d])
    return total


@njit(cache=True, nogil=True)
def _coverage(
    a,
    b,
    kw_lang,
    id_start,
    id_count,
    alt_start,
    alt_count,
    kw_total,
    ids_pool,
    w_pool,
    alts_pool,
    owners_pool,
    marks,
):  # pragma: no cover - compiled
    ids_a = id_start[a]
    weights = w_pool[ids_a : ids_a + id_count[a]]
    if kw_lang[a] == kw_lang[b]:
        ids_b = id_start[b]
        return coverage_same(
            ids_pool[ids_a : ids_a + id_count[a]],
            weights,
            kw_total[a],
            ids_pool[ids_b : ids_b + id_count[b]],
            marks,
        )
    alts_a, alts_b = alt_start[a], alt_start[b]
    return coverage_cross(
        alts_pool[alts_a : alts_a + alt_count[a]],
        owners_pool[alts_a : alts_a + alt_count[a]],
        weights,
        kw_total[a],
        alts_pool[alts_b : alts_b + alt_count[b]],
        marks,
    )


@njit(cache=True, nogil=True)
def _judge(
    a,
    b,
    multi_sim,
    params,
    lang,
    english,
    has_english,
    kw_lang,
    kw_glossed,
    id_start,
    id_count,
    alt_start,
    alt_count,
    kw_total,
    ids_pool,
    w_pool,
    alts_pool,
    owners_pool,
    marks,
):  # pragma: no cover - compiled
    """The strength of rows a and b as one story and whether they are versions of one article
    (`strength`), computing the costly signals only while they can still change the answer."""
    if multi_sim < params[MIN_CANDIDATE]:
        return NONE, False
    both_english = has_english[a] and has_english[b]
    english_sim = 0.0
    if both_english:
        english_sim = _dot(english[a], english[b])
        if english_sim < params[THRESHOLD_EN]:
            return NONE, False
    has_keywords = (
        kw_lang[a] >= 0
        and kw_lang[b] >= 0
        and (kw_lang[a] == kw_lang[b] or (kw_glossed[a] and kw_glossed[b]))
    )
    keywords = 0.0
    if has_keywords:
        keywords = _coverage(
            a,
            b,
            kw_lang,
            id_start,
            id_count,
            alt_start,
            alt_count,
            kw_total,
            ids_pool,
            w_pool,
            alts_pool,
            owners_pool,
            marks,
        )
        if keywords > 0 and keywords >= min(params[THRESHOLD_KEYWORDS], params[THRESHOLD_COPY]):
            backward = _coverage(
                b,
                a,
                kw_lang,
                id_start,
                id_count,
                alt_start,
                alt_count,
                kw_total,
                ids_pool,
                w_pool,
                alts_pool,
                owners_pool,
                marks,
            )
            keywords = min(keywords, backward)
    return strength(
        multi_sim, lang[a] != lang[b], both_english, english_sim, has_keywords, keywords, params
    )


@njit(cache=True, nogil=True)
def _insert(sims, keys, slots, n, k, sim, key, slot):  # pragma: no cover - compiled
    """Keep the k best (sim desc, key asc) in sims/keys/slots[:n]; return the new n."""
    if n == k and (sim < sims[n - 1] or (sim == sims[n - 1] and key > keys[n - 1])):
        return n
    position = n if n < k else k - 1
    while position > 0 and (
        sims[position - 1] < sim or (sims[position - 1] == sim and keys[position - 1] > key)
    ):
        if position < k:
            sims[position], keys[position], slots[position] = (
                sims[position - 1],
                keys[position - 1],
                slots[position - 1],
            )
        position -= 1
    sims[position], keys[position], slots[position] = sim, key, slot
    return n + 1 if n < k else n


@njit(cache=True, nogil=True)
def _in_time(
    top_sim,
    top_slot,
    n_top,
    ti,
    window_s,
    slot_tmin,
    slot_tmax,
    slot_story,
    found_sim,
    found_key,
    found_slot,
    n_found,
):  # pragma: no cover - compiled
    """Append to found_*[n_found:] those of the top stories with an article within the window
    of time ti; return the new count."""
    for j in range(n_top):
        slot = top_slot[j]
        if slot_tmax[slot] >= ti - window_s and slot_tmin[slot] <= ti + window_s:
            found_sim[n_found], found_slot[n_found] = top_sim[j], slot
            found_key[n_found] = slot_story[slot]
            n_found += 1
    return n_found


@njit(cache=True, nogil=True)
def _candidates(
    row, ti, top_sim, top_slot, n_near, params, t, multi, slot_live, slot_head, next_row
):  # pragma: no cover - compiled
    """The articles of the nearest stories that reach the lowest event bar and are within the window
    of time ti, as (cosine, story rank, row), best first (ties: nearer story, older row)."""
    size = 0
    for rank in range(n_near):
        size += slot_live[top_slot[rank]]
    sims = np.empty(size, dtype=np.float64)
    ranks = np.empty(size, dtype=np.int64)
    rows = np.empty(size, dtype=np.int64)
    n = 0
    for rank in range(n_near):
        slot = top_slot[rank]
        single = slot_live[slot] == 1
        member = slot_head[slot]
        while member >= 0:
            sim = top_sim[rank] if single else _dot(multi[row], multi[member])
            if sim >= params[MIN_CANDIDATE] and abs(t[member] - ti) <= params[WINDOW_S]:
                position = n
                while position > 0 and (
                    sims[position - 1] < sim
                    or (
                        sims[position - 1] == sim
                        and (
                            ranks[position - 1] > rank
                            or (ranks[position - 1] == rank and rows[position - 1] > member)
                        )
                    )
                ):
                    sims[position] = sims[position - 1]
                    ranks[position] = ranks[position - 1]
                    rows[position] = rows[position - 1]
                    position -= 1
                sims[position], ranks[position], rows[position] = sim, rank, member
                n += 1
            member = next_row[member]
    return sims[:n], ranks[:n], rows[:n]


@njit(cache=True, nogil=True)
def assign_batch(
    batch_rows,
    raw,
    col_norm2,
    col_slot,
    col_ok,
    gram,
    spare,
    next_id,
    params,
    k,
    per_story,
    t,
    multi,
    lang,
    english,
    has_english,
    row_slot,
    next_row,
    alive,
    kw_lang,
    kw_glossed,
    kw_total,
    id_start,
    id_count,
    alt_start,
    alt_count,
    ids_pool,
    w_pool,
    alts_pool,
    owners_pool,
    slot_sum,
    slot_tmin,
    slot_tmax,
    slot_live,
    slot_head,
    slot_tail,
    slot_story,
    story_out,
    slot_out,
    new_out,
    version_out,
    version_score_out,
    merged_out,
):  # pragma: no cover - compiled
    """Assign each article of the batch, in order, to a story (see ClusterStage.process).

    batch_rows: the window row of each batch article (-1: no multilingual vector, so a story
    of its own). raw, col_norm2, col_slot, col_ok: the batch against the stories in the window
    at its start (dot products with their vector sums, the sums' squared norms, their slots,
    whether they overlap the batch's time range). gram: the batch's own dot products. spare:
    slots for new stories, in order of use. lang: each row's language (a number). Returns
    (next story id, spare slots used, stories merged); the story, slot, is-new, the row it is
    a version of (-1: none) and that version's keyword score of each article are written to
    the *_out arrays, each merge to merged_out (story merged away, story kept, freed slot, at
    which article),
    and the window's arrays are updated as articles join.
    """
    n_batch = len(batch_rows)
    n_cols = len(col_slot)
    window_s, gate = params[WINDOW_S], params[GATE]
    col_off = np.zeros(n_cols, dtype=np.bool_)
    # 1 / |sum| for the stories overlapping the batch's time range; NaN (never passes) otherwise
    col_scale = np.full(n_cols, np.nan)
    for col in range(n_cols):
        if col_ok[col]:
            col_scale[col] = 1.0 / max(np.sqrt(col_norm2[col]), 1e-12)
    slot_col = np.full(len(slot_live), -1, dtype=np.int64)
    for col in range(n_cols):
        slot_col[col_slot[col]] = col
    # Stories changed in this batch, by slot: each article changes one, a merge one more.
    changed = np.empty(2 * n_batch, dtype=np.int64)
    slot_changed = np.full(len(slot_live), -1, dtype=np.int64)
    dots = np.zeros((2 * n_batch, n_batch), dtype=np.float64)  # changed x batch: x . sum
    norm2 = np.zeros(2 * n_batch, dtype=np.float64)
    scale = np.zeros(2 * n_batch, dtype=np.float64)  # 1 / |sum| of the changed stories
    n_merged = 0
    rank_value = np.empty(k, dtype=np.float64)
    rank_version = np.empty(k, dtype=np.int64)
    rank_links = np.zeros(k, dtype=np.int64)
    n_changed = 0
    used = 0
    marks = np.zeros(max(1, np.max(id_count) if len(id_count) else 1), dtype=np.bool_)
    found_sim = np.empty(2 * k, dtype=np.float64)
    found_key = np.empty(2 * k, dtype=np.int64)
    found_slot = np.empty(2 * k, dtype=np.int64)
    top_sim = np.empty(k, dtype=np.float64)
    top_key = np.empty(k, dtype=np.int64)
    top_slot = np.empty(k, dtype=np.int64)
    examined = np.zeros(k, dtype=np.int64)

    for i in range(n_batch):
        row = batch_rows[i]
        if row < 0:
            story_out[i], slot_out[i], new_out[i] = next_id, -1, True
            version_out[i] = -1
            next_id += 1
            continue
        ti = t[row]
        # 1. The k nearest story centroids that pass the gate and have an article within the
        #    window of this one: among the stories unchanged in this batch (from `raw`), then
        #    among the changed ones (from `dots`); each: top k by cosine, then the time check.
        n_found = 0
        n_top = 0
        for col in range(n_cols):
            sim = raw[i, col] * col_scale[col]
            if sim >= gate and not col_off[col]:
                n_top = _insert(top_sim, top_key, top_slot, n_top, k, sim, col, col_slot[col])
        n_found = _in_time(
            top_sim,
            top_slot,
            n_top,
            ti,
            window_s,
            slot_tmin,
            slot_tmax,
            slot_story,
            found_sim,
            found_key,
            found_slot,
            n_found,
        )
        n_top = 0
        for c in range(n_changed):
            sim = dots[c, i] * scale[c]
            if sim >= gate:
                n_top = _insert(top_sim, top_key, top_slot, n_top, k, sim, c, changed[c])
        n_found = _in_time(
            top_sim,
            top_slot,
            n_top,
            ti,
            window_s,
            slot_tmin,
            slot_tmax,
            slot_story,
            found_sim,
            found_key,
            found_slot,
            n_found,
        )
        n_near = 0
        for j in range(n_found):
            n_near = _insert(
                top_sim, top_key, top_slot, n_near, k, found_sim[j], found_key[j], found_slot[j]
            )

        # 2. Their closest articles, pair by pair: a story of one article is its centroid. A
        #    story's value is that of its best pair.
        cand_sim, cand_rank, cand_row = _candidates(
            row, ti, top_sim, top_slot, n_near, params, t, multi, slot_live, slot_head, next_row
        )
        examined[:] = 0
        rank_links[:] = 0
        rank_value[:] = NONE
        rank_version[:] = -1
        for c in range(len(cand_row)):
            rank = cand_rank[c]
            if examined[rank] == per_story:
                continue
            examined[rank] += 1
            value, is_version = _judge(
                row,
                cand_row[c],
                cand_sim[c],
                params,
                lang,
                english,
                has_english,
                kw_lang,
                kw_glossed,
                id_start,
                id_count,
                alt_start,
                alt_count,
                kw_total,
                ids_pool,
                w_pool,
                alts_pool,
                owners_pool,
                marks,
            )
            if value != NONE:
                rank_links[rank] += 1
            if value > rank_value[rank]:
                rank_value[rank] = value
                rank_version[rank] = cand_row[c] if is_version else -1
        for rank in range(n_near):
            # Against chaining (A like B, B like C, C unlike A): an article joins a story of
            # several articles as an event when it is like two of them, not just one.
            if rank_version[rank] < 0 and rank_links[rank] < 2 and slot_live[top_slot[rank]] >= 2:
                rank_value[rank] = NONE
        best, second = -1, -1
        for rank in range(n_near):
            if rank_value[rank] == NONE:
                continue
            if best < 0 or rank_value[rank] > rank_value[best]:
                best, second = rank, best
            elif second < 0 or rank_value[rank] > rank_value[second]:
                second = rank
        best_slot = top_slot[best] if best >= 0 else -1
        version_out[i] = rank_version[best] if best >= 0 else -1
        version_score_out[i] = rank_value[best] - VERSION if version_out[i] >= 0 else 0.0

        # 3. Join the best story, or start one; from now on it is compared exactly. When the
        #    article is the same event as two stories, strongly, they are one: the older id
        #    (smaller) absorbs the other.
        if best_slot < 0:
            best_slot = spare[used]
            used += 1
            slot_story[best_slot] = next_id
            next_id += 1
            slot_sum[best_slot, :] = 0
            slot_live[best_slot] = 0
            slot_head[best_slot] = slot_tail[best_slot] = -1
            slot_tmin[best_slot], slot_tmax[best_slot] = np.inf, -np.inf
            new_out[i] = True
        else:
            new_out[i] = False
        if (
            second >= 0
            and rank_value[second] >= params[THRESHOLD_MERGE]
            and rank_value[best] >= params[THRESHOLD_MERGE]
        ):
            keep, gone = best_slot, top_slot[second]
            if slot_story[gone] < slot_story[keep]:
                keep, gone = gone, keep
            c_keep, n_changed = _track(
                keep,
                i,
                n_batch,
                n_changed,
                changed,
                slot_changed,
                slot_col,
                col_off,
                col_norm2,
                norm2,
                dots,
                raw,
            )
            c_gone, n_changed = _track(
                gone,
                i,
                n_batch,
                n_changed,
                changed,
                slot_changed,
                slot_col,
                col_off,
                col_norm2,
                norm2,
                dots,
                raw,
            )
            norm2[c_keep] += norm2[c_gone] + 2.0 * _dot(slot_sum[keep], slot_sum[gone])
            for other in range(i, n_batch):
                dots[c_keep, other] += dots[c_gone, other]
            scale[c_gone] = np.nan  # never passes the gate again
            _absorb(
                keep,
                gone,
                t,
                row_slot,
                next_row,
                slot_sum,
                slot_live,
                slot_head,
                slot_tail,
                slot_tmin,
                slot_tmax,
            )
            merged_out[n_merged, 0], merged_out[n_merged, 1] = slot_story[gone], slot_story[keep]
            merged_out[n_merged, 2], merged_out[n_merged, 3] = gone, i
            n_merged += 1
            best_slot = keep
        slot = best_slot
        c, n_changed = _track(
            slot,
            i if not new_out[i] else n_batch,
            n_batch,
            n_changed,
            changed,
            slot_changed,
            slot_col,
            col_off,
            col_norm2,
            norm2,
            dots,
            raw,
        )
        norm2[c] += 2.0 * dots[c, i] + gram[i, i]
        scale[c] = 1.0 / max(np.sqrt(norm2[c]), 1e-12)
        for other in range(i + 1, n_batch):
            dots[c, other] += gram[i, other]
        for d in range(multi.shape[1]):
            slot_sum[slot, d] += multi[row, d]
        slot_live[slot] += 1
        _append(row, slot, t, next_row, slot_head, slot_tail, slot_tmin, slot_tmax)
        row_slot[row] = slot
        alive[row] = True
        story_out[i], slot_out[i] = slot_story[slot], slot
    return next_id, used, n_merged


@njit(cache=True, nogil=True)
def _track(
    slot,
    i,
    n_batch,
    n_changed,
    changed,
    slot_changed,
    slot_col,
    col_off,
    col_norm2,
    norm2,
    dots,
    raw,
):  # pragma: no cover - compiled
    """The row of `slot` among the stories changed in this batch (made one, from its column of
    `raw` from article i on, if it was unchanged so far; i = n_batch: a new story, no column);
    return it and the new count of changed stories."""
    c = slot_changed[slot]
    if c >= 0:
        return c, n_changed
    c = n_changed
    changed[c] = slot
    slot_changed[slot] = c
    norm2[c] = 0.0
    dots[c, :] = 0.0
    col = slot_col[slot]
    if col >= 0 and i < n_batch:
        col_off[col] = True
        norm2[c] = col_norm2[col]
        for other in range(i, n_batch):
            dots[c, other] = raw[other, col]
    return c, n_changed + 1


@njit(cache=True, nogil=True)
def _absorb(
    keep,
    gone,
    t,
    row_slot,
    next_row,
    slot_sum,
    slot_live,
    slot_head,
    slot_tail,
    slot_tmin,
    slot_tmax,
):  # pragma: no cover - compiled
    """Move every row of slot `gone` into slot `keep` (member lists merged, rows ascending);
    `gone` is left empty."""
    for d in range(slot_sum.shape[1]):
        slot_sum[keep, d] += slot_sum[gone, d]
    slot_sum[gone, :] = 0
    slot_live[keep] += slot_live[gone]
    slot_live[gone] = 0
    a, b = slot_head[keep], slot_head[gone]
    head = tail = -1
    while a >= 0 or b >= 0:
        if b < 0 or (a >= 0 and a < b):
            row, a = a, next_row[a]
        else:
            row, b = b, next_row[b]
        row_slot[row] = keep
        if tail >= 0:
            next_row[tail] = row
        else:
            head = row
        tail = row
    if tail >= 0:
        next_row[tail] = -1
    slot_head[keep], slot_tail[keep] = head, tail
    slot_head[gone] = slot_tail[gone] = -1
    slot_tmin[keep] = min(slot_tmin[keep], slot_tmin[gone])
    slot_tmax[keep] = max(slot_tmax[keep], slot_tmax[gone])
    slot_tmin[gone], slot_tmax[gone] = np.inf, -np.inf


@njit(cache=True, nogil=True)
def expire(cutoff, size, t, alive, row_slot, multi, slot_sum, slot_live, out):  # pragma: no cover
    """Take rows older than `cutoff` out of their stories' sums and counts; write them to
    `out` and return how many."""
    count = 0
    for row in range(size):
        if alive[row] and t[row] < cutoff:
            alive[row] = False
            slot = row_slot[row]
            for d in range(multi.shape[1]):
                slot_sum[slot, d] -= multi[row, d]
            slot_live[slot] -= 1
            out[count] = row
            count += 1
    return count


@njit(cache=True, nogil=True)
def relink(
    size, t, alive, row_slot, next_row, slot_head, slot_tail, slot_tmin, slot_tmax
):  # pragma: no cover - compiled
    """Rebuild every story's member list (rows ascending) and time span from the live rows."""
    slot_head[:] = -1
    slot_tail[:] = -1
    slot_tmin[:] = np.inf
    slot_tmax[:] = -np.inf
    for row in range(size):
        if not alive[row]:
            continue
        _append(row, row_slot[row], t, next_row, slot_head, slot_tail, slot_tmin, slot_tmax)


@njit(cache=True, nogil=True)
def _append(
    row, slot, t, next_row, slot_head, slot_tail, slot_tmin, slot_tmax
):  # pragma: no cover - compiled
    """Put `row` last in its story's member list, and widen the story's time span to it."""
    next_row[row] = -1
    if slot_tail[slot] >= 0:
        next_row[slot_tail[slot]] = row
    else:
        slot_head[slot] = row
    slot_tail[slot] = row
    slot_tmin[slot] = min(slot_tmin[slot], t[row])
    slot_tmax[slot] = max(slot_tmax[slot], t[row])


@njit(cache=True, nogil=True)
def members(slots, slot_head, slot_live, next_row):  # pragma: no cover - compiled
    """The live rows of each slot, ascending, concatenated; and where each slot's start."""
    starts = np.zeros(len(slots) + 1, dtype=np.int64)
    for i in range(len(slots)):
        starts[i + 1] = starts[i] + max(slot_live[slots[i]], 0)
    rows = np.empty(starts[-1], dtype=np.int64)
    for i in range(len(slots)):
        position = starts[i]
        member = slot_head[slots[i]]
        while member >= 0:
            rows[position] = member
            position += 1
            member = next_row[member]
    return rows, starts


@njit(cache=True, nogil=True)
def gather_ranges(starts, counts, pool):  # pragma: no cover - compiled
    """pool[starts[i] : starts[i] + counts[i]] for every i, concatenated."""
    out = np.empty(counts.sum(), dtype=pool.dtype)
    position = 0
    for i in range(len(starts)):
        out[position : position + counts[i]] = pool[starts[i] : starts[i] + counts[i]]
        position += counts[i]
    return out


@njit(cache=True, nogil=True)
def sort_within(values, payload, counts):  # pragma: no cover - compiled
    """Sort each consecutive group of `values` (group sizes: `counts`) in place, carrying
    `payload` along."""
    start = 0
    for count in counts:
        if count > 1:
            group = values[start : start + count]
            order = np.argsort(group)
            values[start : start + count] = group[order]
            payload[start : start + count] = payload[start : start + count][order]
        start += count


@njit(cache=True, nogil=True)
def add_to_slots(rows, slots, multi, slot_sum, slot_live):  # pragma: no cover - compiled
    """Each row's vector into its slot's sum, and one more live row there, in row order."""
    for i in range(len(rows)):
        slot = slots[i]
        for d in range(multi.shape[1]):
            slot_sum[slot, d] += multi[rows[i], d]
        slot_live[slot] += 1
