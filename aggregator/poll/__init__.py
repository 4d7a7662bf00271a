"""The polling stage: fetch feeds politely, parse them, store new articles (see stage.py)."""
