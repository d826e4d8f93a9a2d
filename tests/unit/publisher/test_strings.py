"""The page's words: one English catalogue, translations that match it, and how one is picked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from babel import Locale

from publisher.strings import ENGLISH, available_translations, placeholders, strings_for

PUBLISHER = Path(__file__).resolve().parents[3] / "publisher"


@pytest.mark.parametrize("name", available_translations())
def test_a_translation_has_every_english_key_and_the_same_placeholders(name: str) -> None:
    data = json.loads((PUBLISHER / "translations" / f"{name}.json").read_text(encoding="utf-8"))
    assert set(data) == set(ENGLISH)
    for key, text in data.items():
        assert placeholders(text) == placeholders(ENGLISH[key]), key


def test_every_english_string_is_used_by_the_page_and_every_key_used_exists() -> None:
    sources = (PUBLISHER / "page.py").read_text() + (PUBLISHER / "templates" / "page.html.j2").read_text()
    used = set(re.findall(r"""\bt(?:\.markup)?\(\s*["']([a-z_]+)["']""", sources))
    assert used == set(ENGLISH)


@pytest.mark.parametrize(("locale", "language", "sample"), [
    ("en", "en", "Work log"),
    ("en_GB", "en", "Work log"),
    ("de", "de", "Arbeitsprotokoll"),
    ("de_AT", "de", "Arbeitsprotokoll"),  # the regional locale falls back to its language's file
    ("fr_FR", "en", "Work log"),  # no translation: English words
])
def test_strings_come_from_the_most_specific_translation_or_english(locale: str, language: str, sample: str) -> None:
    t = strings_for(Locale.parse(locale))
    assert (t.language, t("heading_log")) == (language, sample)


def test_markup_escapes_the_text_and_plain_values_but_not_markup_values() -> None:
    from markupsafe import Markup

    t = strings_for(Locale.parse("en"))
    assert t.markup("ticket", ticket="<b>") == "Ticket &lt;b&gt;"
    assert t.markup("resets_on", date=Markup("<time>1 May</time>")) == "Resets on <time>1 May</time>"
