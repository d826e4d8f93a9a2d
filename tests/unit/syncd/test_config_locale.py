"""The client's locale is checked with Babel when the config loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.config import load_config
from syncd.errors import ConfigError

FILES = {
    "syncd.yaml": "accounts:\n  h: {vendor: harvest, account_id: 1, token: x}\ndefaults: {locale: en_GB}\n",
    "clients/acme.yaml": (
        "name: Acme\n"
        "locale: {locale}\n"
        "sources:\n"
        "  - {{account: h, client_id: 5}}\n"
        "retainer:\n"
        "  cycle: {{monthly: 2026-01-15}}\n"
        "  pools: {{support: {{cap_hours: 20}}}}\n"
    ),
}


def write(root: Path, locale: str) -> Path:
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(locale=locale) if name.startswith("clients/") else text)
    return root


@pytest.mark.parametrize("locale", ["en", "de_DE", "pt-BR", "fr_CA", "ja"])
def test_a_locale_babel_knows_is_accepted_as_written(tmp_path: Path, locale: str) -> None:
    assert load_config(write(tmp_path, locale)).clients["acme"].locale == locale


@pytest.mark.parametrize("locale", ["xx", "zz_QQ", "qq-ZZ"])
def test_an_unknown_locale_is_a_config_error_naming_file_line_and_value(tmp_path: Path, locale: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, locale))
    found = [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]
    assert len(found) == 1
    assert found[0].startswith("clients/acme.yaml:2: locale:"), found
    assert f"unknown locale '{locale}'" in found[0]
