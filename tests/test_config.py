"""Config loading: good files load, each broken key is named in one clear line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_loads_with_token_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    shutil.copy(EXAMPLE, path)
    cfg = load_config(path, env={"LABELGRAM_TOKEN": "42:abc", "LABELGRAM_ADMIN_IDS": "7, 8"})
    assert cfg.token == "42:abc"
    assert cfg.admin_ids == frozenset({7, 8})
    assert cfg.database_path == tmp_path / "labelgram.db"
    assert cfg.currency.symbol == "¥" and cfg.currency.minor_units == 2
    assert cfg.telegram.api_base_url == "https://api.telegram.org/bot"
    assert cfg.labeling.lease_minutes == 10
    assert cfg.mode == "polling"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[bot]\ntoken = ""\n', "bot.token"),
        ('[bot]\ntoken = "1:a"\nadmin_ids = ["x"]\n', "bot.admin_ids"),
        ('[bot]\ntoken = "1:a"\n[locale]\ndefault_language = "fr"\n', "locale.default_language"),
        (
            '[bot]\ntoken = "1:a"\n[locale]\ndefault_timezone = "Mars/Base"\n',
            "locale.default_timezone",
        ),
        ('[bot]\ntoken = "1:a"\n[currency]\nminor_units = "2"\n', "currency.minor_units"),
        ('[bot]\ntoken = "1:a"\n[labeling]\nlease_minutes = 0\n', "labeling.lease_minutes"),
        ('[bot]\ntoken = "1:a"\n[labeling]\noverlap = true\n', "labeling.overlap"),
        ('[bot]\ntoken = "1:a"\n[telegram]\napi_base_url = "ftp://x"\n', "telegram.api_base_url"),
        ('[bot]\ntoken = "1:a"\nmode = "carrier-pigeon"\n', "bot.mode"),
        ("[bot\n", "not valid TOML"),
        ('[bot]\ntoken = "1:a"\n[logging]\nformat = "xml"\n', "logging.format"),
    ],
)
def test_broken_config_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    message = str(info.value)
    assert key in message
    assert "\n" not in message


def test_missing_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"copy config\.example\.toml"):
        load_config(tmp_path / "nope.toml", env={})


def test_cli_prints_one_line_and_exits_2_on_bad_config(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from bot.cli import main

    assert main(["--config", str(write(tmp_path, '[bot]\ntoken = "nocolon"\n'))]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("labelgram: bot.token")
    assert len(err.splitlines()) == 1


def test_json_log_lines_are_objects_and_masked() -> None:
    import json
    import logging

    from bot.cli import JsonFormatter

    token = "123456:SECRET-token-value"
    formatter = JsonFormatter(token, "%(message)s", ("hook-secret",))
    record = logging.LogRecord(
        "bot.app",
        logging.INFO,
        __file__,
        1,
        "GET https://x/bot%s/getMe hook-secret",
        (token,),
        None,
    )
    line = formatter.format(record)
    entry = json.loads(line)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "bot.app"
    assert entry["message"] == "GET https://x/bot***/getMe ***"
    assert "SECRET" not in line
    assert entry["time"].endswith("+00:00")
