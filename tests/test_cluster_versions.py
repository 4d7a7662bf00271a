"""Which version links are marked (aggregator/cluster/versions.py): a translation carries every
figure of its original, an independent report of the same event need not, however many
keywords the two share (the demo's outlets were marked as translations of one another)."""

from __future__ import annotations

import sqlite3

from aggregator.cluster import versions

# The demo's English and German reports of one rate decision (aggregator/demo/feeds): the same
# event and the same key figures, written separately: the kernel linked them as versions.
ENGLISH = (
    "Bank of Japan lifts key rate to 1%, its highest level since 1995\n"
    "The Bank of Japan raised its short-term policy rate to 1.0% from 0.75% on Friday, pushing "
    "borrowing costs in Japan to their highest level since 1995. The policy board voted 7-2 for "
    "the move, pointing to broad wage gains and core inflation of 2.6% in October. The yen "
    "firmed to 148.20 per dollar from 150.10, while the Nikkei 225 closed down 1.8%."
)
GERMAN_REPORT = (
    "Bank of Japan erhöht Leitzins auf 1,0 Prozent\n"
    "Die japanische Notenbank hat ihren Leitzins von 0,75 auf 1,0 Prozent angehoben, den "
    "höchsten Stand seit 1995. Sieben der neun Mitglieder des geldpolitischen Rats stimmten für "
    "den Schritt, den die Bank mit steigenden Löhnen und einer Kerninflation von 2,6 Prozent im "
    "Oktober begründete. Der Yen legte zum Dollar auf 148,20 zu, der Nikkei 225 schloss 1,8 "
    "Prozent im Minus."
)
# A translation of the English report (written for this test).
GERMAN_TRANSLATION = (
    "Bank of Japan hebt Leitzins auf 1 % an, den höchsten Stand seit 1995\n"
    "Die Bank of Japan hat ihren kurzfristigen Leitzins am Freitag von 0,75 % auf 1,0 % "
    "angehoben und die Kreditkosten in Japan auf den höchsten Stand seit 1995 getrieben. Der "
    "geldpolitische Rat stimmte mit 7 zu 2 Stimmen dafür und verwies auf breite Lohnzuwächse "
    "und eine Kerninflation von 2,6 % im Oktober. Der Yen stieg von 150,10 auf 148,20 je "
    "Dollar, der Nikkei 225 schloss 1,8 % im Minus."
)
FRENCH_COPY = "Séisme : 2 400 sans-abri\nLe bilan s'élève à 27 morts et 312 blessés."
FRENCH_REWRITE = "Séisme en Calabre\nAu moins 25 morts ; 2 400 personnes sans abri."


def database(texts: dict[int, str]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE articles (id INTEGER PRIMARY KEY, title TEXT, summary TEXT)")
    for article_id, text in texts.items():
        title, _, summary = text.partition("\n")
        conn.execute("INSERT INTO articles VALUES (?, ?, ?)", (article_id, title, summary))
    return conn


def test_numbers_are_read_however_they_are_written():
    assert versions.numbers("2,400 homeless; 0.75% to 1.0%") == versions.numbers(
        "2 400 sans-abri ; de 0,75 % à 1,0 %"
    )
    assert versions.numbers("2.400 Obdachlose, 148,20 Yen") == {"2400", "148.20"}
    assert versions.agreement("no figures", "keine Zahlen") == 1.0


def test_an_independent_report_is_not_marked_a_translation():
    conn = database({1: ENGLISH, 2: GERMAN_REPORT})
    assert versions.marked(conn, [(2, 1, "translation", 0.475)]) == []


def test_a_translation_is_marked():
    conn = database({1: ENGLISH, 3: GERMAN_TRANSLATION})
    link = (3, 1, "translation", 0.6)
    assert versions.marked(conn, [link]) == [link]


def test_copies_in_one_language_are_marked_as_linked():
    """Within one language the keyword bar is already high (threshold_copy); on the SemEval
    pairs the number test only lost real copies there."""
    conn = database({4: FRENCH_COPY, 5: FRENCH_REWRITE})
    link = (5, 4, "copy", 0.7)
    assert versions.marked(conn, [link]) == [link]


def test_only_translations_are_tested():
    conn = database({1: ENGLISH, 2: GERMAN_REPORT, 3: GERMAN_TRANSLATION})
    links = [(2, 1, "translation", 0.5), (3, 1, "translation", 0.6), (5, 4, "copy", 0.7)]
    assert versions.marked(conn, links) == links[1:]
