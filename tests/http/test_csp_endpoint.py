"""``POST {prefix}/csp-report``: 204 for reports, 4xx for everything else, never 5xx, and a
refused request writes nothing to the audit log."""

from __future__ import annotations

import json
from typing import Any

import pytest

from consentgate.audit.events import ConsentEvent, MemorySink
from consentgate.consent.state import Consent
from consentgate.http.csp import CspBuilder, parse_policy
from consentgate.http.csp_endpoint import CspReportEndpoint
from consentgate.http.middleware import ConsentGate
from consentgate.http.request import Request
from consentgate.policy.load import load_dict
from consentgate.policy.model import Policy
from tests.http.http_harness import Recorder, receiver, scope

KEY = "k" * 32
POLICY = load_dict(
    {
        "include_catalog": False,
        "services": {
            "gtm": {"name": "Tag Manager", "category": "analytics", "hosts": ["tags.example"]},
            "meta": {"name": "Meta Pixel", "category": "marketing", "hosts": ["pixel.example"]},
        },
    }
)


def report(
    blocked: str = "https://pixel.example/tr?id=1", page: str = "/shop?q=1", directive: str = "img-src"
) -> bytes:
    return json.dumps(
        {
            "csp-report": {
                "document-uri": f"http://testserver{page}",
                "blocked-uri": blocked,
                "effective-directive": directive,
                "disposition": "enforce",
            }
        }
    ).encode()


async def app(scope: Any, receive: Any, send: Any) -> None:  # never reached
    raise AssertionError("the app must not see report requests")


class Setup:
    def __init__(self, sink: Any = None, policy: Policy = POLICY, **options: Any) -> None:
        self.sink = sink if sink is not None else MemorySink()
        self.gate = ConsentGate(app, secret_keys=[KEY], policy=policy, audit=self.sink)
        self.builder = CspBuilder(policy, mode="enforce", prefix="/_consentgate", secret_keys=[KEY])
        self.now = 1000.0
        self.endpoint = CspReportEndpoint(
            policy, self.builder, self.gate.audit, clock=lambda: self.now, **options
        )

    def token(self, *categories: str) -> str:
        return self.builder.summary.sign(Consent.none().with_choice(set(categories), source="banner"))

    async def post(
        self,
        *bodies: bytes,
        content_type: str = "application/csp-report",
        method: str = "POST",
        query: bytes = b"",
        headers: tuple[tuple[str, str], ...] = (),
        client: str = "203.0.113.7",
    ) -> Recorder:
        request_scope = scope(
            "/_consentgate/csp-report",
            method=method,
            headers=(("content-type", content_type), *headers),
            query=query,
        )
        request_scope["client"] = (client, 5000)
        recorder = Recorder(method)
        await self.endpoint(Request(self.gate, request_scope), receiver(*bodies), recorder)
        return recorder

    @property
    def events(self) -> list[ConsentEvent]:
        events: list[ConsentEvent] = self.sink.events
        return events


async def test_a_report_with_a_signed_summary_records_a_leak_and_answers_204() -> None:
    setup = Setup()
    response = await setup.post(report(), query=b"s=" + setup.token("analytics").encode())
    assert response.status == 204 and response.body == b""
    (event,) = setup.events
    assert event.action == "csp_violation" and event.path == "/shop"
    assert event.categories["analytics"] and not event.categories["marketing"]
    assert event.detail["verdict"] == "leak" and event.detail["service_name"] == "Meta Pixel"
    assert event.detail["consent"] == "signed" and event.detail["blocked_host"] == "pixel.example"


async def test_reporting_api_batches_are_accepted() -> None:
    setup = Setup()

    def item(page: str, blocked: str, directive: str) -> dict[str, object]:
        body = {
            "documentURL": f"http://testserver{page}",
            "blockedURL": blocked,
            "effectiveDirective": directive,
        }
        return {"type": "csp-violation", "body": {**body, "disposition": "report"}}

    batch = [
        item("/a", "https://pixel.example/1", "script-src-elem"),
        item("/b", "https://cdn.example/x.png", "img-src"),
    ]
    response = await setup.post(json.dumps(batch).encode(), content_type="application/reports+json")
    assert response.status == 204
    assert [(e.path, e.detail["verdict"]) for e in setup.events] == [
        ("/a", "suspected_leak"),
        ("/b", "unclassified"),
    ]


async def test_without_a_summary_the_consent_cookie_gives_the_state() -> None:
    setup = Setup()
    consent = Consent.none().with_choice({"marketing"}, source="banner", fingerprint=POLICY.fingerprint())
    cookie = f"{setup.gate.cookie.name(False)}={setup.gate.cookie.dumps(consent)}"
    await setup.post(report(), headers=(("cookie", cookie),))
    (event,) = setup.events
    assert event.detail["consent"] == "cookie" and event.detail["verdict"] == "not_listed"


async def test_a_forged_summary_counts_as_unknown() -> None:
    setup = Setup()
    forged = CspBuilder(POLICY, mode="enforce", prefix="/_consentgate", secret_keys=["x" * 32]).summary.sign(
        Consent.none().with_choice({"marketing"}, source="banner")
    )
    await setup.post(report(), query=b"s=" + forged.encode())
    (event,) = setup.events
    assert event.detail["consent"] == "unknown" and event.categories == {}


async def test_a_granted_catalog_service_reported_with_a_signed_summary_is_listed_from_then_on() -> None:
    setup = Setup(policy=load_dict({}))  # every catalog service; none met on a page yet
    marketing = Consent.none().with_choice({"marketing"}, source="banner")
    nobody = Consent.none()

    def policy_for(consent: Consent) -> str:
        return setup.builder.page(
            consent, lambda s, c: consent.allows_service(s, c) if s else consent.allows(c)
        ).policy_text()

    assert "facebook.net" not in policy_for(marketing)
    blocked = report(blocked="https://connect.facebook.net/en_US/fbevents.js", directive="script-src-elem")
    await setup.post(blocked, query=b"s=" + setup.token("marketing").encode())
    assert setup.events[0].detail["verdict"] == "not_listed"
    listed = parse_policy(policy_for(marketing))["script-src"]
    assert "connect.facebook.net:*" in listed and not any("fbcdn.net" in s for s in listed)
    assert "facebook.net" not in policy_for(nobody)


async def test_an_unsigned_report_teaches_nothing() -> None:
    setup = Setup(policy=load_dict({}))
    marketing = Consent.none().with_choice(
        {"marketing"}, source="banner", fingerprint=setup.gate.policy.fingerprint()
    )
    cookie = f"{setup.gate.cookie.name(False)}={setup.gate.cookie.dumps(marketing)}"
    await setup.post(report(blocked="https://connect.facebook.net/x.js"), headers=(("cookie", cookie),))
    assert setup.events[0].detail["verdict"] == "not_listed"
    assert setup.builder.inventory.services() == ()


async def test_reports_about_inline_code_or_local_schemes_are_accepted_but_not_recorded() -> None:
    setup = Setup()
    assert (await setup.post(report(blocked="inline", directive="script-src-elem"))).status == 204
    assert (await setup.post(report(blocked="data:image/png;base64,AA"))).status == 204
    assert setup.events == []


async def test_the_same_report_is_recorded_once_per_window() -> None:
    setup = Setup(dedupe_seconds=60.0)
    token = b"s=" + setup.token("analytics").encode()
    for _ in range(5):
        assert (await setup.post(report(), query=token)).status == 204
    assert len(setup.events) == 1
    setup.now += 61
    await setup.post(report(), query=token)
    await setup.post(report(page="/other"), query=token)
    assert len(setup.events) == 3


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/csp-report", 400),
        (b'{"csp-report": []}', "application/csp-report", 400),
        (b"[]", "application/csp-report", 400),
        (report(), "text/plain", 415),
        (report(), "application/x-www-form-urlencoded", 415),
        (b"", "", 415),
    ],
)
async def test_malformed_or_mistyped_reports_are_refused_and_write_nothing(
    body: bytes, content_type: str, status: int
) -> None:
    setup = Setup()
    response = await setup.post(body, content_type=content_type)
    assert response.status == status
    assert response.header("cache-control") == "no-store"
    assert setup.events == []


async def test_an_oversized_body_is_413_by_its_declared_length_or_while_reading() -> None:
    setup = Setup()
    big = b"x" * (16 * 1024 + 1)
    declared = await setup.post(big, headers=(("content-length", str(len(big))),))
    chunked = await setup.post(b"x" * 8192, b"x" * 8192, b"x" * 10)
    assert declared.status == 413 and chunked.status == 413
    assert setup.events == []


async def test_a_flood_from_one_client_gets_429_with_retry_after_and_writes_nothing_more() -> None:
    setup = Setup(per_client=(5, 1.0), dedupe_seconds=0.0)
    statuses = [(await setup.post(report(page=f"/p{i}"))).status for i in range(20)]
    assert statuses[:5] == [204] * 5 and set(statuses[5:]) == {429}
    limited = await setup.post(report(page="/late"))
    assert limited.status == 429 and limited.header("retry-after") == "1"
    assert len(setup.events) == 5
    other_client = await setup.post(report(page="/other"), client="198.51.100.1")
    assert other_client.status == 204  # one client's flood does not silence the others
    setup.now += 2
    assert (await setup.post(report(page="/again"))).status == 204


async def test_a_flood_from_many_clients_is_capped_by_the_process_budget() -> None:
    setup = Setup(per_process=(10, 1.0), dedupe_seconds=0.0)
    statuses = [(await setup.post(report(page=f"/p{i}"), client=f"198.51.100.{i}")).status for i in range(30)]
    assert statuses.count(204) == 10 and statuses.count(429) == 20
    assert len(setup.events) == 10


async def test_a_full_audit_queue_answers_429_never_5xx() -> None:
    class Full:
        def enqueue(self, event: ConsentEvent) -> bool:
            return False

    setup = Setup(sink=Full())
    response = await setup.post(report())
    assert response.status == 429


async def test_a_fault_while_recording_is_logged_and_never_a_5xx(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def enqueue(self, event: ConsentEvent) -> bool:
            raise RuntimeError("disk on fire")

    setup = Setup(sink=Broken())
    response = await setup.post(report())
    assert response.status == 204
    assert setup.endpoint.counters["csp_reports_failed"] == 1
    assert any("could not be processed" in r.message for r in caplog.records)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_only_post_is_accepted(method: str) -> None:
    setup = Setup()
    response = await setup.post(b"", method=method)
    assert response.status == 405 and response.header("allow") == "POST"


async def test_a_client_that_goes_away_gets_no_answer_and_nothing_is_written() -> None:
    setup = Setup()
    request_scope = scope(
        "/_consentgate/csp-report", method="POST", headers=(("content-type", "application/csp-report"),)
    )
    recorder = Recorder("POST")

    async def gone() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    await setup.endpoint(Request(setup.gate, request_scope), gone, recorder)
    assert recorder.messages == [] and setup.events == []


def test_a_tiny_body_limit_is_refused_at_start_up() -> None:
    builder = CspBuilder(POLICY, mode="enforce", prefix="/_consentgate", secret_keys=[KEY])
    gate = ConsentGate(app, secret_keys=[KEY], policy=POLICY, audit=MemorySink())
    with pytest.raises(ValueError, match="max_body"):
        CspReportEndpoint(POLICY, builder, gate.audit, max_body=10)


async def test_a_choice_made_on_the_page_after_it_was_served_is_not_recorded() -> None:
    setup = Setup()
    served_under = setup.token()  # nothing granted when the page was served
    now = Consent.none().with_choice({"marketing"}, source="banner", fingerprint=POLICY.fingerprint())
    cookie = f"{setup.gate.cookie.name(False)}={setup.gate.cookie.dumps(now)}"
    response = await setup.post(report(), query=b"s=" + served_under.encode(), headers=(("cookie", cookie),))
    assert response.status == 204 and setup.events == []
    assert setup.endpoint.counters["csp_reports_ignored"] == 1


async def test_refused_when_served_and_refused_now_is_recorded_as_a_leak() -> None:
    setup = Setup()
    now = Consent.none().with_choice({"analytics"}, source="banner", fingerprint=POLICY.fingerprint())
    cookie = f"{setup.gate.cookie.name(False)}={setup.gate.cookie.dumps(now)}"
    await setup.post(report(), query=b"s=" + setup.token().encode(), headers=(("cookie", cookie),))
    (event,) = setup.events
    assert event.detail["verdict"] == "leak" and event.detail["consent"] == "signed"
    assert not event.categories["analytics"]  # the state the page was served under
