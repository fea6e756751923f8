"""docs/configuration.md and the loader's key schema cannot drift apart."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from consentgate.html.rewriter import rewrite
from consentgate.html.rules import Rules
from consentgate.policy import schema
from consentgate.policy.commands import policy_warnings, ui_problem
from consentgate.policy.load import PolicyError, load_dict, load_text
from consentgate.policy.model import Policy

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
LEAVES = [key for key in schema.SCHEMA if key.kind not in {"table", "tables"}]

# A concrete name for each `<…>` segment, and the keys a table needs to load at all.
CONCRETE = {"<id>": "", "<locale>": "de", "<code>": "US-VA"}
CONTEXT: dict[str, str] = {
    "categories.<id>": "",
    "services.<id>": 'category = "analytics"',
    "services.<id>.cookies[]": 'name = "example_cookie"',
    "regions.<code>": 'mode = "opt_in"',
}
CNIL = "services.<id>.cnil_exempt_audience"


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_the_doc_embeds_the_reference_generated_from_the_schema() -> None:
    assert schema.render_reference() in doc_text(), (
        "docs/configuration.md is out of date: python -m consentgate.policy.schema docs/configuration.md"
    )


def test_every_key_in_the_reference_tables_is_a_schema_key_and_vice_versa() -> None:
    text = doc_text()
    block = text[text.index(schema.BEGIN_MARK) : text.index(schema.END_MARK)]
    documented = set(re.findall(r"^\| `([^`]+)` \|", block, flags=re.MULTILINE))
    assert documented == {key.path for key in schema.SCHEMA}


def test_keys_named_in_the_prose_exist() -> None:
    text = doc_text()
    prose = text[: text.index(schema.BEGIN_MARK)]
    tables = {key.path for key in schema.SCHEMA if key.kind == "table" and "." not in key.path}
    named = {
        match
        for match in re.findall(r"`\[*([a-z_]+(?:\.[a-z_<>]+(?:\[\])?)+)\]*`", prose)
        if match.split(".")[0] in tables
    }
    assert named, "the prose should name some keys"
    paths = {key.path for key in schema.SCHEMA}
    assert named - paths == set()


def _document_for(key: schema.Key) -> str:
    """A minimal policy that sets ``key`` to its documented example."""
    parent = key.parent
    if parent == CNIL:
        # The exemption holds only with every condition asserted: the others come along.
        others = "\n".join(f"{k.name} = true" for k in LEAVES if k.parent == CNIL and k.name != key.name)
        service = _concrete("services.<id>")
        return (
            f"[{service}]\n{CONTEXT['services.<id>']}\n"
            f"[{_concrete(CNIL)}]\n{others}\n{key.name} = {key.example}\n"
        )
    if parent.endswith("[]"):
        array = parent[:-2]
        table = _concrete(array.rpartition(".")[0])
        context = CONTEXT[parent] if key.name not in {"name", "pattern"} else ""
        return (
            f"[{table}]\n{CONTEXT['services.<id>']}\n"
            f"[[{_concrete(array)}]]\n{context}\n{key.name} = {key.example}\n"
        )
    if parent in CONTEXT:
        context = CONTEXT[parent] if key.name not in {"category", "catalog", "mode"} else ""
        return f"[{_concrete(parent)}]\n{context}\n{key.name} = {key.example}\n"
    if key.name.startswith("<"):
        return f"[{_concrete(parent)}]\n{_concrete_segment(key.name)} = {key.example}\n"
    if parent:
        return f"[{_concrete(parent)}]\n{key.name} = {key.example}\n"
    return f"{key.name} = {key.example}\n"


def _concrete_segment(segment: str) -> str:
    if segment == "<id>":
        return "analytics"
    return f'"{CONCRETE.get(segment, segment)}"'


def _concrete(path: str) -> str:
    parts = []
    for segment in path.split("."):
        if segment == "<id>":
            parts.append("example-service" if parts and parts[0] == "services" else "analytics")
        else:
            parts.append(_concrete_segment(segment) if segment.startswith("<") else segment)
    return ".".join(parts)


@pytest.mark.parametrize("key", LEAVES, ids=lambda key: key.path)
def test_every_documented_key_is_accepted_with_its_example(key: schema.Key) -> None:
    text = _document_for(key)
    try:
        policy = load_text(text)
    except PolicyError as exc:  # pragma: no cover - the message is the point
        pytest.fail(f"{key.path}: the documented example does not load:\n{text}\n{exc}")
    # ... and the middleware starts with it (theme, texts and languages are checked there).
    assert ui_problem(policy) is None, f"{key.path}: {ui_problem(policy)}"


def _literal_default(key: schema.Key) -> bool:
    try:
        tomllib.loads(f"value = {key.default}")
    except tomllib.TOMLDecodeError:
        return False  # prose such as "(none)"
    return "<" not in key.path and "[]" not in key.path


@pytest.mark.parametrize("key", [k for k in LEAVES if _literal_default(k)], ids=lambda key: key.path)
def test_setting_a_key_to_its_documented_default_changes_nothing(key: schema.Key) -> None:
    value = tomllib.loads(f"value = {key.default}")["value"]
    data: dict[str, object] = {}
    for part in reversed(key.path.split(".")):
        data = {part: value}
        value = data
    assert load_dict(data) == load_dict({})


def test_every_policy_field_can_be_set_from_the_file() -> None:
    default = load_dict({})
    reached: set[str] = set()
    for key in LEAVES:
        policy = load_text(_document_for(key))
        reached |= {
            f.name for f in dataclasses.fields(Policy) if getattr(policy, f.name) != getattr(default, f.name)
        }
    assert reached == {f.name for f in dataclasses.fields(Policy)}


def test_the_complete_example_in_the_doc_loads() -> None:
    example = re.search(r"```toml\n(.*?)```", doc_text(), flags=re.DOTALL)
    assert example is not None
    policy = load_text(example.group(1), source="docs/configuration.md")
    assert ui_problem(policy) is None
    # The example teaches no setup the checker warns about (a tracker its first-party hosts hide).
    assert [w for w in policy_warnings(policy) if "first_party_hosts" in w] == []
    assert policy.has_category("social")
    assert policy.service("youtube").category == "social"


def test_the_documented_font_service_holds_web_fonts_until_consent() -> None:
    snippet = re.search(r"```toml\n(\[services\.google-fonts\].*?)```", doc_text(), flags=re.DOTALL)
    assert snippet is not None
    rules = Rules.compile(load_text(snippet.group(1), source="docs/configuration.md"))
    page = (
        b'<link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>'
        b'<link rel="stylesheet" href="https://fonts.googleapis.com/css2?family=Roboto">'
    )
    held = rewrite(page, rules, lambda service, category: category == "necessary")
    assert held.count(b'data-consentgate-service="google-fonts"') == 2
    assert b' href="https://fonts.g' not in held
    assert rewrite(page, rules, lambda service, category: category == "preferences") == page


def test_unknown_keys_are_exactly_those_missing_from_the_schema() -> None:
    for key in LEAVES:
        if key.name.startswith("<") or key.parent.endswith("[]"):
            continue
        wrong = _document_for(key).replace(f"\n{key.name} = ", f"\n{key.name}_x = ", 1)
        if wrong.startswith(f"{key.name} = "):
            wrong = f"{key.name}_x = " + wrong[len(key.name) + 3 :]
        with pytest.raises(PolicyError, match="unknown key"):
            load_text(wrong)
