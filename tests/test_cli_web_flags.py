"""The web flags that bound the metrics listener: --web.max-connections and --web.max-cache-age."""

from __future__ import annotations

import argparse

import pytest
from test_cli import fake_pf, parse

from pf_exporter import cli, docs
from pf_exporter.web import DEFAULT_MAX_CONNECTIONS


@pytest.mark.parametrize(("text", "seconds"), [
    ("0", 0.0), ("0s", 0.0), ("5s", 5.0), ("500ms", 0.5), ("1m30s", 90.0), ("2h", 7200.0), ("1d", 86400.0),
    ("1w", 604800.0), ("1y", 365 * 86400.0), ("1h0m5s250ms", 3605.25),
])
def test_prometheus_durations(text: str, seconds: float) -> None:
    assert cli.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "-5s", "1.5s", "5sec", "30s1m", "1s1s", "s", "5 s", "ms"])
def test_bad_durations_are_refused_with_the_syntax(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not a duration; use .* 5s, 1m30s or 500ms"):
        cli.parse_duration(text)


def test_defaults() -> None:
    args = parse()
    assert args.max_cache_age == 0.0
    assert args.max_connections == DEFAULT_MAX_CONNECTIONS == 64


def test_bad_flag_values_end_with_one_clear_line(capsys) -> None:
    for argv, message in ((["--web.max-cache-age", "5"], "argument --web.max-cache-age: '5' is not a duration"),
                          (["--web.max-connections", "0"], "argument --web.max-connections: 0 must be at least 1"),
                          (["--web.max-connections", "x"], "argument --web.max-connections: 'x' is not a whole")):
        with pytest.raises(SystemExit) as e:
            parse(*argv)
        assert e.value.code == 2
        assert message in capsys.readouterr().err


def test_build_service_passes_the_flags_on() -> None:
    service = cli.build_service(parse("--web.listen-address", "127.0.0.1:0", "--web.max-cache-age", "1m30s",
                                      "--web.max-connections", "7"), pf=fake_pf())
    try:
        assert service.exporter.max_cache_age == 90.0
        assert service.server.guard.max_connections == 7
    finally:
        service.close()


def test_without_the_flags_no_cache_and_the_default_cap() -> None:
    service = cli.build_service(parse("--web.listen-address", "127.0.0.1:0"), pf=fake_pf())
    try:
        assert service.exporter.max_cache_age == 0.0
        assert service.server.guard.max_connections == DEFAULT_MAX_CONNECTIONS
    finally:
        service.close()


def test_flags_table_lists_the_new_flags() -> None:
    table = docs.flags_markdown()
    assert "| `--web.max-connections N` | `64` |" in table
    assert "| `--web.max-cache-age DURATION` | `0s` |" in table
