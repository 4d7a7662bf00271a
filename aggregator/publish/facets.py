"""A faster array facet for the JSON code lists in clusters.languages and clusters.countries.

Datasette's own array facet removes repeated items with `SELECT DISTINCT value, inner.*`, which
sorts every column of every row: about 300 ms per facet on the clusters of a 100,000-article
database. Counting distinct primary keys per value gives the same numbers in about a sixth of
the time. Configured as `{"codes": "languages"}` (or `?_facet_codes=languages`); filters are
Datasette's own `languages__arraycontains=fr`.
"""

from __future__ import annotations

from typing import Any

from datasette.database import QueryInterrupted
from datasette.facets import ArrayFacet
from datasette.utils import escape_sqlite, path_with_added_args, path_with_removed_args


class CodesFacet(ArrayFacet):
    type = "codes"

    async def suggest(self) -> list:
        return []  # configured in metadata.yaml, never guessed

    async def facet_results(self) -> tuple[list, list]:
        pks = await self.ds.get_database(self.database).primary_keys(self.table)
        if len(pks) != 1:  # views and compound keys: Datasette's general method
            return await super().facet_results()
        results, timed_out = [], []
        for source_and_config in self.get_configs():
            column = (
                source_and_config["config"].get("column") or (source_and_config["config"]["simple"])
            )
            try:
                results.append(await self._one(column, pks[0], source_and_config["source"]))
            except QueryInterrupted:
                timed_out.append(column)
        return results, timed_out

    async def _one(self, column: str, pk: str, source: str) -> dict[str, Any]:
        size = self.get_facet_size()
        sql = (
            f"WITH inner AS ({self.sql}) "
            f"SELECT j.value AS value, count(DISTINCT inner.{escape_sqlite(pk)}) AS count "
            f"FROM inner, json_each(inner.{escape_sqlite(column)}) j "
            f"GROUP BY j.value ORDER BY count DESC, value LIMIT {size + 1}"
        )
        rows = await self.ds.execute(
            self.database,
            sql,
            self.params,
            truncate=False,
            custom_time_limit=self.ds.setting("facet_time_limit_ms"),
        )
        return {
            "name": column,
            "type": self.type,
            "results": [self._value(column, row) for row in rows.rows[:size]],
            "hideable": source != "metadata",
            "toggle_url": self.ds.urls.path(
                path_with_removed_args(self.request, {f"_facet_{self.type}": column})
            ),
            "truncated": len(rows) > size,
        }

    def _value(self, column: str, row: Any) -> dict[str, Any]:
        value = str(row["value"])
        arg = {f"{column}__arraycontains": value}
        selected = (f"{column}__arraycontains", value) in self.get_querystring_pairs()
        path = (path_with_removed_args if selected else path_with_added_args)(self.request, arg)
        return {
            "value": value,
            "label": value,
            "count": row["count"],
            "toggle_url": self.ds.absolute_url(self.request, path),
            "selected": selected,
        }
