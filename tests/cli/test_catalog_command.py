"""`consentgate catalog`: which built-in service a host belongs to, and the ids
`services.<id>.catalog` takes (docs/configuration.md points here)."""

from __future__ import annotations

import json

import pytest

from consentgate.cli import main
from consentgate.policy.load import load_text


def test_a_host_or_url_names_its_service(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "www.googletagmanager.com"]) == 0
    assert capsys.readouterr().out.startswith(
        "www.googletagmanager.com belongs to google-tag-manager (analytics)"
    )
    assert main(["catalog", "https://px.ads.linkedin.com/collect/?pid=1"]) == 0
    assert "px.ads.linkedin.com belongs to linkedin-insight (marketing)" in capsys.readouterr().out


def test_words_find_services_by_id_or_name_and_the_id_works_in_a_policy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["catalog", "hotjar", "--json"]) == 0
    found = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "hotjar" in {entry["id"] for entry in found}
    policy = load_text('[services.heatmaps]\ncatalog = "hotjar"\n')
    assert policy.service("heatmaps").category == "analytics"


def test_nothing_found_exits_1_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "no-such-vendor-anywhere"]) == 1
    assert "nothing matches" in capsys.readouterr().err


def test_a_query_that_is_not_a_url_is_read_as_words(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "["]) in (0, 1)  # no traceback, whatever matches
    assert "Traceback" not in capsys.readouterr().err
