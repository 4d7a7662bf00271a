"""Every SQL statement the published site runs, in one place.

`CANNED` become Datasette canned queries (each with a form, a title, a description and a JSON
API). The home, story and search pages run the same canned SQL, so what a page shows is exactly
what `/<db>/<query>.json` returns. The remaining constants feed parts of pages that have no
table-shaped equivalent (the story header, the pickup order, the charts).

"Recent" means relative to the newest story in the database, or now if that is earlier: on a
live database that is now; on an archived copy the pages still show its last days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aggregator.provenance import COPY, NONE_LIKE, NONE_PREFIX

REASON = len(NONE_PREFIX) + 1  # where the reason starts in a `none:REASON` (SQL's substr)

ISO = "'%Y-%m-%dT%H:%M:%SZ'"
NOW = f"strftime({ISO}, 'now')"
# The end of the "recent" window: the newest story, never later than now.
UNTIL = f"(SELECT min(max(last_seen_at), {NOW}) FROM clusters)"


def _int_param(name: str, default: int) -> str:
    """A whole-number canned-query parameter: blank or missing means the default, anything
    that is not a whole number NULL, so that the query returns no rows (with `_limit`) instead
    of reading "abc" as 0; the query form says which box is wrong (templates/query.html)."""
    value = f"trim(coalesce(:{name}, ''))"
    return (
        f"(CASE WHEN {value} = '' THEN {default} "
        f"WHEN {value} GLOB '[0-9]*' AND NOT {value} GLOB '*[^0-9]*' "
        f"THEN CAST({value} AS INTEGER) END)"
    )


def form_problems(
    values: dict[str, Any], defaults: dict[str, str]
) -> tuple[list[tuple[str, str]], list[str]]:
    """What a canned query's form should say of its boxes (templates/query.html): those that
    need a whole number (the ones with a default, `_int_param`) and hold something else, as
    typed, which the SQL reads as NULL; and the blank ones with no default, which it needs."""
    not_whole, blank = [], []
    for name, value in values.items():
        typed = str(value or "").strip(" ")  # SQL's trim(): spaces only
        if name in defaults and typed and not (typed.isascii() and typed.isdigit()):
            not_whole.append((name, typed))
        elif name not in defaults and not typed.strip():
            blank.append(name)
    return not_whole, blank


def _limit(amount: str) -> str:
    """A LIMIT of a parameter that may be NULL (not a whole number): no rows, not an error."""
    return f"coalesce({amount}, 0)"


# What each canned-query parameter means, for the query forms (templates/query.html); a name
# means the same in every query that has it.
PARAMETER_HINTS = {
    "languages": "at least this many languages",
    "min_languages": "at least this many languages",
    "hours": "hours back from the newest story",
    "days": "days back from the newest story",
    "limit": "at most this many rows",
    "language": "an ISO 639-1 code such as fr, ru or ja (any case)",
    "id": "a story's number (clusters.id, in its page's address /-/story/ID)",
    "q": "words that must all appear, in English or in the original language",
    "day": "a UTC day, YYYY-MM-DD",
}
PARAMETER_EXAMPLES = {"language": "fr", "id": "1", "q": "earthquake", "day": "2026-11-24"}

_DEFAULT = re.compile(r"WHEN trim\(coalesce\(:(\w+), ''\)\) = '' THEN (\d+) ")


def parameter_defaults(sql: str) -> dict[str, str]:
    """The defaults a query's SQL applies to blank parameters (_int_param), read from the SQL
    itself so that the form shows exactly what the query uses."""
    return {name: default for name, default in _DEFAULT.findall(sql)}


def _language_param(name: str) -> str:
    """A language-code parameter: stored codes are lower case, so RU and ru mean the same."""
    return f"lower(trim(:{name}))"


def _since(amount: str, unit: str) -> str:
    return f"strftime({ISO}, {UNTIL}, '-' || {amount} || ' {unit}')"


def _delay(column: str) -> str:
    """A delay in seconds as display.format_delay writes it: "25 min", "2 h 10 min", "14 h"."""
    minutes = f"(({column} + 30) / 60)"
    return (
        f"CASE WHEN {minutes} < 60 THEN {minutes} || ' min' "
        f"WHEN {minutes} < 600 THEN ({minutes} / 60) || ' h' || "
        f"CASE WHEN {minutes} % 60 > 0 THEN ' ' || ({minutes} % 60) || ' min' ELSE '' END "
        f"WHEN {minutes} < 4320 THEN CAST(round({minutes} / 60.0) AS INTEGER) || ' h' "
        f"ELSE CAST(round({minutes} / 1440.0) AS INTEGER) || ' d' END"
    )


# The language of a story's original headline: the article it was taken from (clusters keep
# only the text), not the story's first language, which may differ (issue 13 §2).
HEADLINE_LANGUAGE = """(SELECT h.language FROM articles h
        WHERE h.cluster_id = c.id AND h.title = c.headline ORDER BY h.id LIMIT 1)"""


@dataclass(frozen=True)
class Query:
    name: str
    title: str
    description: str
    sql: str
    # Shown on the query's page when it returns no rows: what to change to get some.
    empty: str = ""


STORIES = Query(
    "stories",
    "Stories covered in at least N languages in the last H hours",
    "The biggest stories first: by number of languages, then by latest coverage. Defaults: "
    "languages=2, hours=24, limit=100. Hours count back from the newest story (now, on a live "
    "database). The home page shows this query with languages=1.",
    f"""
SELECT c.id AS story, c.headline_en, c.headline, c.language_count, c.languages,
       c.countries, c.article_count, c.first_seen_at, c.last_seen_at, c.first_language,
       f.name AS first_outlet, f.name_en AS first_outlet_en,
       {HEADLINE_LANGUAGE} AS headline_language
FROM clusters c
LEFT JOIN feeds f ON f.id = c.first_feed_id
WHERE c.language_count >= {_int_param("languages", 2)}
  AND c.last_seen_at >= {_since(_int_param("hours", 24), "hours")}
ORDER BY c.language_count DESC, c.last_seen_at DESC
LIMIT {_limit(_int_param("limit", 100))}
""",
    empty=(
        "No story was covered in that many languages in that window: lower `languages` or raise "
        "`hours`."
    ),
)

# The home page's ranking (issue 13 §7). A story weighs its languages plus half its outlets
# (breadth across languages counts most; more outlets in one language count a little), halved
# for every hours/3 hours (24 h by default) between its latest article and the reference time:
# the newest story, never later than now (on a live database that is now; on a stale one, such
# as the demo's fixed dates, the newest article's time, which the home page says). Stories whose
# latest article is older than `hours` before it are out. The decay is exponential, so moving
# the reference changes no order within the window, only which stories are in it.
TOP_HOURS = 72
TOP_LIMIT = 30


def _top_stories_sql(where: str = "") -> str:
    hours = f"max(1, {_int_param('hours', TOP_HOURS)})"
    limit = _limit(f"max(1, {_int_param('limit', TOP_LIMIT)})")
    # Counting a story's outlets reads its articles, too slow for every story of 72 hours on a
    # large database (100 ms for 3,000 stories). A story has at least 1 outlet and at most one
    # per article, so its score lies between (languages + 0.5) x decay and (languages + 0.5 x
    # articles) x decay: outlets are counted only for the stories whose upper bound reaches
    # the `limit`-th best lower bound, the only ones that can make the list (and never for a
    # one-article story, whose single outlet is known). The list is exactly the full ranking.
    return f"""
WITH ref AS (SELECT {UNTIL} AS at, {hours} AS hours, {limit} AS size),
recent AS MATERIALIZED (
    SELECT c.id, c.language_count, c.article_count, c.last_seen_at,
           max(0.0, (julianday(ref.at) - julianday(c.last_seen_at)) * 24) AS age_hours
    FROM clusters c, ref
    WHERE c.last_seen_at >= strftime({ISO}, ref.at, '-' || ref.hours || ' hours'){where}
),
decayed AS MATERIALIZED (
    SELECT r.*, pow(0.5, r.age_hours / (ref.hours / 3.0)) AS decay FROM recent r, ref
),
cutoff AS (
    SELECT coalesce((SELECT (d.language_count + 0.5) * d.decay AS low FROM decayed d
                     ORDER BY low DESC LIMIT 1 OFFSET (SELECT size - 1 FROM ref)), 0) AS low
),
scored AS MATERIALIZED (
    SELECT d.*,
           CASE WHEN d.article_count <= 1 THEN d.article_count
                ELSE (SELECT count(DISTINCT a.feed_id) FROM articles a WHERE a.cluster_id = d.id)
           END AS outlet_count
    FROM decayed d, cutoff
    WHERE (d.language_count + 0.5 * d.article_count) * d.decay >= cutoff.low
),
ranked AS MATERIALIZED (
    SELECT s.*, (s.language_count + 0.5 * s.outlet_count) * s.decay AS score
    FROM scored s
    ORDER BY score DESC, s.language_count DESC, s.last_seen_at DESC
    LIMIT (SELECT size FROM ref)
)
SELECT c.id AS story, c.headline_en, c.headline, c.language_count, r.outlet_count,
       c.article_count, c.languages, c.countries, c.first_seen_at, c.last_seen_at,
       c.first_language, f.name AS first_outlet, {HEADLINE_LANGUAGE} AS headline_language,
       round(r.score, 3) AS score, round(r.age_hours, 1) AS age_hours, ref.at AS ranked_at
FROM ranked r
JOIN clusters c ON c.id = r.id
CROSS JOIN ref
LEFT JOIN feeds f ON f.id = c.first_feed_id
ORDER BY r.score DESC, c.language_count DESC, c.last_seen_at DESC
"""


_TOP_DESCRIPTION = (
    "Stories whose latest article is at most `hours` (default 72) before the newest story (now, "
    "on a live database), ranked by `score`: languages + 0.5 × outlets that covered the story, "
    "halved for every `hours` ÷ 3 hours (24 h by default) of `age_hours` since its latest "
    "article. "
    "`ranked_at` is the time the window ends at. At most `limit` (30)."
)

TOP_STORIES = Query(
    "top_stories",
    "Top stories: most languages and outlets, fading over 72 hours",
    _TOP_DESCRIPTION + " The home page shows this query.",
    _top_stories_sql(),
    empty="No story in that window: raise `hours`, or run `aggregator run` to collect articles.",
)

TOP_STORIES_EN = Query(
    "top_stories_en",
    "Top stories with an English headline (the Atom feed)",
    _TOP_DESCRIPTION + " Only stories with an English headline: the Atom feed at "
    "/-/top-stories.atom lists these.",
    _top_stories_sql("\n      AND c.headline_en IS NOT NULL"),
    empty="No story with an English headline in that window: raise `hours`.",
)

# One UTC day of the archive (/-/day/2026-11-21): the stories with an article published that
# day (else fetched that day), biggest first. The OR keeps both times on their indexes; the
# outlets are counted for the `limit` stories shown only, and every row carries the day's
# totals (window functions, computed before the LIMIT).
DAY_LIMIT = 100

DAY_STORIES = Query(
    "day_stories",
    "Stories of one day",
    "The stories with at least one article on the UTC day given as `day` (YYYY-MM-DD; "
    "publication time, "
    "else fetch time), biggest first: by languages, then articles; at most `limit` (100). "
    "`day_articles` counts the story's articles of that day; `stories_that_day` and "
    "`articles_that_day` are the day's totals. The day pages (/-/day/DAY) show this query.",
    f"""
WITH bounds AS (
    SELECT date(:day) || 'T00:00:00Z' AS since, date(:day, '+1 day') || 'T00:00:00Z' AS until
),
day_articles AS (
    SELECT a.cluster_id, count(*) AS articles
    FROM articles a, bounds
    WHERE ((a.published_at >= bounds.since AND a.published_at < bounds.until)
        OR (a.published_at IS NULL AND a.fetched_at >= bounds.since
            AND a.fetched_at < bounds.until))
      AND a.cluster_id IS NOT NULL
    GROUP BY a.cluster_id
),
ranked AS MATERIALIZED (
    SELECT c.id, d.articles, count(*) OVER () AS stories_that_day,
           sum(d.articles) OVER () AS articles_that_day
    FROM day_articles d JOIN clusters c ON c.id = d.cluster_id
    ORDER BY c.language_count DESC, c.article_count DESC, c.last_seen_at DESC, c.id
    LIMIT {_limit(_int_param("limit", DAY_LIMIT))}
)
SELECT c.id AS story, c.headline_en, c.headline, c.language_count,
       (SELECT count(DISTINCT a.feed_id) FROM articles a WHERE a.cluster_id = c.id)
           AS outlet_count,
       c.article_count, r.articles AS day_articles, c.languages, c.countries,
       c.first_seen_at, c.last_seen_at, c.first_language, f.name AS first_outlet,
       {HEADLINE_LANGUAGE} AS headline_language, r.stories_that_day, r.articles_that_day
FROM ranked r
JOIN clusters c ON c.id = r.id
LEFT JOIN feeds f ON f.id = c.first_feed_id
ORDER BY c.language_count DESC, c.article_count DESC, c.last_seen_at DESC, c.id
""",
    empty="No story on that day: `day` is a UTC date such as 2026-11-21.",
)

STORY_ARTICLES = Query(
    "story_articles",
    "Every article of one story",
    "The articles of story `id` (clusters.id) in the order they appeared, with outlet, country, "
    "language, original and English text and how the English text was made. An article that is "
    "a version of another one (a translation, a rewrite, a wire copy: article_versions) names "
    "its original in `version_of`, with `version_kind` and `version_score`.",
    """
SELECT a.id AS article, coalesce(a.published_at, a.fetched_at) AS seen_at, a.published_at,
       a.language, f.country, f.name AS outlet, f.name_en AS outlet_en, a.title, a.title_en,
       a.summary, a.summary_en,
       a.url, a.translation_backend, a.translation_model, a.feed_id,
       v.version_of_id AS version_of, v.kind AS version_kind, v.score AS version_score
FROM articles a
JOIN feeds f ON f.id = a.feed_id
LEFT JOIN article_versions v ON v.article_id = a.id
WHERE a.cluster_id = CAST(:id AS INTEGER)
ORDER BY seen_at, a.id
""",
    empty="No articles: `id` is not the number of a story (see the clusters table).",
)

# A language "could have covered" a story when its feeds published anything from the story's
# first article until this long after its last (a story that just broke is still news a day on).
STORY_WINDOW_AFTER = "+24 hours"

STORY_BLINDSPOTS = Query(
    "story_blindspots",
    "Languages that did not cover one story",
    "The languages of active feeds that published articles while story `id` (clusters.id) was "
    "news, from its first article to 24 hours after its last, but have no article in it: the "
    "story's blindspots, with how much each language published in that window.",
    f"""
WITH story AS (
    SELECT id, first_seen_at AS since,
           strftime({ISO}, last_seen_at, '{STORY_WINDOW_AFTER}') AS until
    FROM clusters WHERE id = CAST(:id AS INTEGER)
)
SELECT a.language, count(*) AS articles, count(DISTINCT a.feed_id) AS outlets,
       story.since AS window_from, story.until AS window_to
FROM story
JOIN articles a
  -- the OR keeps both sides on their indexes (articles without a date count when fetched)
  ON (a.published_at >= story.since AND a.published_at <= story.until)
  OR (a.published_at IS NULL AND a.fetched_at >= story.since AND a.fetched_at <= story.until)
JOIN feeds f ON f.id = a.feed_id AND f.active = 1
WHERE coalesce(a.language, '') != ''
  AND NOT EXISTS (SELECT 1 FROM cluster_languages cl
                  WHERE cl.cluster_id = story.id AND cl.language = a.language)
GROUP BY a.language
ORDER BY articles DESC, a.language
""",
    empty=(
        "No blindspot: every language whose active feeds published while this story was news "
        "covered it, or `id` is not the number of a story (see the clusters table)."
    ),
)

SEARCH = Query(
    "search",
    "Search articles in English and in their original language",
    "Every word of `q` must appear. English titles and summaries are matched with stemming "
    "(earthquake finds earthquakes); original titles and summaries by substring in any script "
    "(землетрясение, 地震). Newest first, at most 200.",
    f"""
SELECT a.id AS article, a.cluster_id AS story,
       coalesce(c.headline_en, c.headline) AS story_headline,
       CASE WHEN c.headline_en IS NOT NULL THEN 'en' ELSE {HEADLINE_LANGUAGE}
       END AS story_headline_language,
       coalesce(a.published_at, a.fetched_at) AS seen_at, a.language, f.country,
       f.name AS outlet, f.name_en AS outlet_en, a.title, a.title_en, a.summary_en, a.url
FROM articles a
JOIN feeds f ON f.id = a.feed_id
LEFT JOIN clusters c ON c.id = a.cluster_id
WHERE a.id IN (
    SELECT rowid FROM articles_fts WHERE articles_fts MATCH fts_query(:q)
    UNION
    SELECT t.rowid FROM articles_fts_original t JOIN articles o ON o.id = t.rowid
    WHERE articles_fts_original MATCH fts_trigram_query(:q)
      AND (NOT fts_has_short(:q)
           OR fts_contains_all(o.title || ' ' || coalesce(o.summary, ''), :q))
    UNION
    SELECT id FROM articles
    WHERE fts_needs_scan(:q) AND fts_contains_all(title || ' ' || coalesce(summary, ''), :q)
)
ORDER BY seen_at DESC
LIMIT 200
""",
    empty=("Nothing found: every word must appear. Try fewer words, or another language's word."),
)

FIRST_MOVERS = Query(
    "first_movers",
    "Stories that language X carried first",
    "Stories in two or more languages whose first article was in `language` (an ISO 639-1 code "
    "such as fr), newest first, with the languages that followed and how long they took.",
    f"""
SELECT c.id AS story, c.headline_en, f.name AS first_outlet, f.name_en AS first_outlet_en,
       c.first_seen_at,
       c.language_count, c.languages,
       (SELECT group_concat(later.language || ' +' || later.delay, ', ')
        FROM (SELECT cl.language, {_delay("cl.delay_s")} AS delay
              FROM cluster_languages cl
              WHERE cl.cluster_id = c.id AND cl.language != c.first_language
              ORDER BY cl.first_seen_at) AS later) AS followed_by
FROM clusters c
LEFT JOIN feeds f ON f.id = c.first_feed_id
WHERE c.first_language = {_language_param("language")} AND c.language_count >= 2
ORDER BY c.first_seen_at DESC
LIMIT 200
""",
    empty=(
        "No story in two or more languages was carried first in this language. `language` is an "
        "ISO 639-1 code such as fr, ru or ja (any case); the languages in the database are listed "
        "by the translation coverage query."
    ),
)

BLINDSPOTS = Query(
    "blindspots",
    "Language blindspots: big stories that language X has not covered",
    "Stories covered in at least `min_languages` languages (default 3) in the last `days` days "
    "(default 3) with no article at all in `language`.",
    f"""
SELECT c.id AS story, c.headline_en, c.language_count, c.languages, c.countries,
       c.article_count, c.first_seen_at, c.last_seen_at
FROM clusters c
WHERE c.language_count >= {_int_param("min_languages", 3)}
  AND c.last_seen_at >= {_since(_int_param("days", 3), "days")}
  -- no blindspot of no language, nor of a code no article has (xx, french): not every story
  AND EXISTS (SELECT 1 FROM articles WHERE language = {_language_param("language")})
  AND NOT EXISTS (
      SELECT 1 FROM cluster_languages cl
      WHERE cl.cluster_id = c.id AND cl.language = {_language_param("language")}
  )
ORDER BY c.language_count DESC, c.article_count DESC, c.last_seen_at DESC
LIMIT 200
""",
    empty=(
        "No blindspot: every story covered in at least `min_languages` languages in the last "
        "`days` days has an article in this language, or `language` is empty or a code no "
        "article has (see the articles table's language facet). Lower "
        "`min_languages` or raise `days`; `language` is an ISO 639-1 code such as ru (any case)."
    ),
)

FEED_HEALTH = Query(
    "feed_health",
    "Feed health",
    "Every active feed, failing ones first: state (active, backoff, dead), the last status, "
    "consecutive errors, failed fetches in the last 7 days, the last success and when the feed "
    "is polled next (later than usual while in backoff).",
    f"""
SELECT f.id AS feed, f.name, f.name_en, f.language, f.country, f.state, f.last_status,
       f.last_http_status, f.error_count,
       (SELECT count(*) FROM fetches x
        WHERE x.feed_id = f.id AND x.error IS NOT NULL
          AND x.fetched_at >= strftime({ISO}, 'now', '-7 days')) AS failures_7d,
       f.last_success_at, f.last_fetched_at, f.next_poll_at, f.url
FROM feeds f
WHERE f.active = 1
ORDER BY CASE f.state WHEN 'dead' THEN 0 WHEN 'backoff' THEN 1 ELSE 2 END,
         f.error_count DESC, f.name
""",
    empty=("No active feeds: add feeds to feeds.yaml and run `aggregator poll`."),
)

TRANSLATION_COVERAGE = Query(
    "translation_coverage",
    "Translation coverage by language",
    "Per article language: how many articles there are, how their English text was made "
    "(English originals, machine translation, none), how many still wait for the translate "
    "stage, the share without an English title, and why translations are missing "
    "(e.g. no-model-for-ja: install a model with `aggregator models install`).",
    f"""
SELECT coalesce(a.language, '(undetermined)') AS language, count(*) AS articles,
       sum(a.translation_backend = '{COPY}') AS english_originals,
       sum(a.translation_backend != '{COPY}' AND a.translation_backend NOT LIKE '{NONE_LIKE}')
           AS machine_translated,
       sum(a.translation_backend LIKE '{NONE_LIKE}') AS not_translated,
       sum(a.translated_at IS NULL) AS pending,
       round(100.0 * sum(a.title_en IS NULL) / count(*), 1) AS untranslated_pct,
       group_concat(DISTINCT CASE WHEN a.translation_backend LIKE '{NONE_LIKE}'
                                  THEN substr(a.translation_backend, {REASON}) END) AS why_missing,
       group_concat(DISTINCT a.translation_model) AS models
FROM articles a
GROUP BY a.language
ORDER BY untranslated_pct DESC, articles DESC
""",
    empty=("No articles yet: run `aggregator run` (or `aggregator demo`)."),
)

CANNED: tuple[Query, ...] = (
    TOP_STORIES,
    TOP_STORIES_EN,
    DAY_STORIES,
    STORIES,
    FIRST_MOVERS,
    BLINDSPOTS,
    SEARCH,
    STORY_ARTICLES,
    STORY_BLINDSPOTS,
    FEED_HEALTH,
    TRANSLATION_COVERAGE,
)

# --- Parts of pages -------------------------------------------------------------------------

STORY = f"""
SELECT c.*, f.name AS first_outlet, {HEADLINE_LANGUAGE} AS headline_language
FROM clusters c LEFT JOIN feeds f ON f.id = c.first_feed_id
WHERE c.id = :id
"""

# The story an id stands for now: itself while its row exists, else the end of its chain of
# merges (A into B, later B into C). The depth cap ends a cycle, which has no surviving story.
SURVIVOR = """
WITH RECURSIVE chain(id, depth) AS (
    SELECT :id, 0
    UNION ALL
    SELECT m.merged_into, chain.depth + 1
    FROM cluster_merges m JOIN chain ON m.cluster_id = chain.id
    WHERE chain.depth < 64
)
SELECT chain.id FROM chain JOIN clusters c ON c.id = chain.id ORDER BY chain.depth LIMIT 1
"""

# When each language picked the story up, and through which outlet.
PICKUP = """
SELECT cl.language, cl.first_seen_at, cl.delay_s, cl.article_count, f.name AS outlet,
       f.country
FROM cluster_languages cl LEFT JOIN feeds f ON f.id = cl.first_feed_id
WHERE cl.cluster_id = :id
ORDER BY cl.first_seen_at, cl.language
"""

UNTIL_NOW = f"SELECT {UNTIL} AS until"

# Articles per language and UTC day, for the home page's coverage chart. Articles without a
# publication time count on the day they were fetched (the OR keeps both sides indexed).
COVERAGE_BY_DAY = """
SELECT substr(coalesce(published_at, fetched_at), 1, 10) AS day,
       coalesce(language, '??') AS language, count(*) AS articles
FROM articles
WHERE (published_at >= :since AND published_at <= :until)
   OR (published_at IS NULL AND fetched_at >= :since AND fetched_at <= :until)
GROUP BY day, language
"""

MODELS = """
SELECT translation_backend AS backend, translation_model AS model, count(*) AS articles
FROM articles
WHERE translation_model IS NOT NULL
GROUP BY translation_backend, translation_model
ORDER BY articles DESC
"""

EMBEDDING_MODELS = "SELECT DISTINCT space, model FROM embeddings ORDER BY space"

# When the newest article appeared (publication time, else fetch time; a time in the future is
# not "newest"), for the home page's "newest article 9 days ago". Three index probes instead of
# reading every undated article: dated articles from the publication-time index; undated ones
# that are in a story through the story's latest time (clusters.last_seen_at is the same
# coalesce of its articles); undated ones not yet clustered from the index of unclustered
# articles (the `+` keeps SQLite off the publication-time index, which would visit every
# undated article).
NEWEST_ARTICLE = f"""
SELECT max(t) AS newest FROM (
    SELECT max(published_at) AS t FROM articles WHERE published_at <= {NOW}
    UNION ALL
    SELECT max(last_seen_at) FROM clusters WHERE last_seen_at <= {NOW}
    UNION ALL
    SELECT max(fetched_at) FROM articles
    WHERE cluster_id IS NULL AND +published_at IS NULL AND fetched_at <= {NOW}
)
"""

# The active feeds, how many are failing (in backoff or dead, or with errors since their last
# success) and when any was last polled: the home page links feed health when some fail.
FEEDS_STATE = """
SELECT count(*) AS feeds,
       coalesce(sum(state != 'active' OR error_count > 0), 0) AS failing,
       max(last_fetched_at) AS last_polled
FROM feeds WHERE active = 1
"""

# The nearest UTC days before :since and from :until on that have an article (publication
# time, else fetch time; nothing after now), for the day pages' previous and next links.
PREVIOUS_DAY = """
SELECT substr(max(t), 1, 10) AS day FROM (
    SELECT max(published_at) AS t FROM articles WHERE published_at < :since
    UNION ALL
    SELECT max(fetched_at) FROM articles WHERE published_at IS NULL AND fetched_at < :since
)
"""

NEXT_DAY = f"""
SELECT substr(min(t), 1, 10) AS day FROM (
    SELECT min(published_at) AS t FROM articles
    WHERE published_at >= :until AND published_at <= {NOW}
    UNION ALL
    SELECT min(fetched_at) FROM articles
    WHERE published_at IS NULL AND fetched_at >= :until AND fetched_at <= {NOW}
)
"""

# Which outlets covered each of the stories in the JSON array :ids, in each language, in order
# of their first article: the Atom feed's "languages and outlets that covered it".
STORY_OUTLETS = """
SELECT a.cluster_id AS story, a.language, f.name AS outlet, f.name_en AS outlet_en, f.country,
       min(coalesce(a.published_at, a.fetched_at)) AS first_at
FROM articles a JOIN feeds f ON f.id = a.feed_id
WHERE a.cluster_id IN (SELECT value FROM json_each(:ids))
GROUP BY a.cluster_id, a.language, a.feed_id
ORDER BY a.cluster_id, first_at, f.name
"""
