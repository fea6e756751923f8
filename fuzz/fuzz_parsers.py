"""atheris target: the parsers that read what a visitor or a policy author sends — Cookie and
Set-Cookie headers, cookie dates, the signed consent cookie, the CSRF token, policy TOML.

    .venv/bin/python fuzz/fuzz_parsers.py -max_total_time=300 fuzz/corpus/parsers

A crash is any exception other than the documented ``PolicyError``.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from consentgate.consent.cookie import ConsentCookie
    from consentgate.http.cookies import parse_cookie_date, parse_cookie_headers, parse_set_cookie
    from consentgate.http.csrf import CsrfTokens
    from consentgate.policy.load import PolicyError, load_dict, load_text

KEY = "fuzz-secret-key-0123456789abcdefghij"
POLICY = load_dict({})
COOKIE = ConsentCookie([KEY], POLICY)
CSRF = CsrfTokens([KEY])


def test_one_input(raw: bytes) -> None:
    provider = atheris.FuzzedDataProvider(raw)
    target = provider.ConsumeIntInRange(0, 5)
    if target == 0:
        parse_cookie_headers([(b"cookie", provider.ConsumeBytes(provider.remaining_bytes()))])
    elif target == 1:
        parsed = parse_set_cookie(provider.ConsumeUnicodeNoSurrogates(provider.remaining_bytes()))
        if parsed is not None:
            parsed.is_deletion()
    elif target == 2:
        parse_cookie_date(provider.ConsumeUnicodeNoSurrogates(provider.remaining_bytes()))
    elif target == 3:
        consent, status = COOKIE.loads(provider.ConsumeUnicodeNoSurrogates(provider.remaining_bytes()))
        if status != "ok" and consent.exists:
            raise AssertionError(f"a {status} cookie gave a consent")
    elif target == 4:
        CSRF.verify(provider.ConsumeUnicodeNoSurrogates(provider.remaining_bytes()))
    else:
        try:
            load_text(provider.ConsumeUnicodeNoSurrogates(provider.remaining_bytes()))
        except PolicyError:
            pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
