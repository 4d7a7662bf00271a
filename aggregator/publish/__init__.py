"""Publishing: the SQLite file browsed in Datasette, with pages made for readers.

serve.py builds the Datasette instance; plugin.py holds its hooks; pages.py the home, story and
search pages; queries.py every SQL statement; charts.py the SVG pictures; fts.py search helpers;
metadata.py/metadata.yaml what Datasette says about each table and column.
"""
