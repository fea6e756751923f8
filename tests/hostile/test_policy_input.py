"""Random policy files: the loader returns a policy or raises ``PolicyError`` naming a key —
never another exception — and whatever it accepts, the middleware starts on or refuses with a
``ValueError`` naming the key. Values that end up in response headers must be refused."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentgate.policy.load import PolicyError, load_dict, load_text
from consentgate.policy.model import Policy
from tests.hostile.kit import gate

HYPOTHESIS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# The loader's own vocabulary, so random documents get past the first unknown key often.
TOP_KEYS = [
    "version", "include_catalog", "unknown_third_party", "unknown_cookies", "first_party_hosts",
    "choice_lifetime", "default_region_mode", "csp", "gpc", "dnt", "languages", "default_language",
    "cookie_wall", "categories", "services", "regions", "cookie", "controller", "theme", "notice",
    "audit", "consent_mode",
]  # fmt: skip
INNER_KEYS = [
    "label", "description", "required", "category", "hosts", "cookies", "name", "pattern", "path",
    "domain", "lifetime", "signatures", "catalog", "provider", "privacy_url", "sale_share", "mode",
    "banner", "retention", "position", "radius", "light", "dark", "bg", "fg", "en", "de",
    "analytics", "marketing", "necessary", "hotjar", "EU", "US-CA", "same_site", "secure",
]  # fmt: skip
SCALARS = (
    st.text(max_size=12)
    | st.sampled_from(
        ["6 months", "block", "report", "opt_in", "opt_out", "#fff", "analytics", "lax", "-1 days"]
    )
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(INNER_KEYS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=16,
)
DOCUMENTS = st.dictionaries(st.sampled_from(TOP_KEYS), VALUES, max_size=6)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_string(text: str) -> str:
    # A JSON string is a TOML basic string, once astral characters stay literal (TOML has no
    # surrogate-pair escapes) and DEL is escaped (TOML forbids it raw).
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def to_toml(document: dict[str, Any]) -> str:
    return "".join(f"{toml_string(key)} = {toml_value(value)}\n" for key, value in document.items())


def check(load: Any) -> Policy | None:
    try:
        policy: Policy = load()
    except PolicyError as error:
        assert str(error) and error.problems
        return None
    return policy


@HYPOTHESIS
@given(text=st.text(max_size=400))
def test_any_text_loads_or_is_a_policy_error(text: str) -> None:
    check(lambda: load_text(text))


@HYPOTHESIS
@given(document=DOCUMENTS)
def test_random_documents_load_or_name_the_key_and_start_the_middleware_or_name_it(
    document: dict[str, Any],
) -> None:
    text = to_toml(document)
    assert tomllib.loads(text) == document  # the writer above is faithful
    policy = check(lambda: load_text(text))
    if policy is None:
        return
    try:
        gate(policy)
    except ValueError as error:
        assert str(error)


@pytest.mark.parametrize("key", ["path", "domain"])
@pytest.mark.parametrize(
    "value", ["/x; Domain=evil.example", "/x\r\nSet-Cookie: a=1", "/x, y=1", "example.com; Secure"]
)
def test_cookie_paths_and_domains_that_would_inject_into_set_cookie_are_refused(key: str, value: str) -> None:
    data = {
        "services": {
            "t": {"category": "analytics", "hosts": ["t.example"], "cookies": [{"name": "_t", key: value}]}
        }
    }
    with pytest.raises(PolicyError) as refused:
        load_dict(data)
    assert refused.value.key.startswith("services.t.cookies")


def test_a_regex_cookie_pattern_that_does_not_compile_is_refused_naming_the_key() -> None:
    data = {
        "services": {"t": {"category": "analytics", "hosts": ["t.example"], "cookies": [{"pattern": "(_t"}]}}
    }
    with pytest.raises(PolicyError) as refused:
        load_dict(data)
    assert refused.value.key == "services.t.cookies[0].pattern" or "pattern" in refused.value.key
