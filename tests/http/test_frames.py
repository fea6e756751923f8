"""A page of the site opened in a frame of a page of the same origin (a widget, a modal, a
preview): the page around it has the banner, so the frame gets none of its own (no banner,
centre or reopen control), while its trackers stay held and its placeholders work. A frame on
another site's page, or from a browser without Fetch Metadata, keeps its banner."""

from __future__ import annotations

import pytest

from tests.http.test_fetched_fragments import BANNER, STATE, gate, get

FRAME = (("sec-fetch-dest", "iframe"), ("sec-fetch-mode", "navigate"), ("sec-fetch-site", "same-origin"))
CENTRE = b"data-consentgate-centre"
REOPEN = b"data-cg-reopen"


@pytest.mark.parametrize("destination", ["iframe", "embed", "object"])
async def test_a_same_origin_frame_has_no_banner_but_holds_its_trackers(destination: str) -> None:
    middleware = gate()
    framed = await get(
        middleware, "/page", ("sec-fetch-dest", destination), ("sec-fetch-site", "same-origin")
    )
    body = framed.body
    assert BANNER not in body and CENTRE not in body and REOPEN not in body
    # The head snippet is there: the state, the runtime and the style placeholders need.
    assert body.count(STATE) == 1 and b"/_consentgate/static/" in body
    assert b' src="https://www.youtube.com' not in body
    assert b"data-consentgate-placeholder" in body
    # The same page opened in the window has the banner; caches tell the two apart.
    page = await get(middleware, "/page", ("sec-fetch-dest", "document"), ("sec-fetch-site", "none"))
    assert page.body.count(BANNER) == 1 and CENTRE in page.body
    assert framed.header("etag") != page.header("etag")
    assert "private" in (framed.header("cache-control") or "")


@pytest.mark.parametrize(
    "headers",
    [
        (("sec-fetch-dest", "iframe"), ("sec-fetch-site", "cross-site")),  # on another site's page
        (("sec-fetch-dest", "iframe"), ("sec-fetch-site", "same-site")),  # a sibling subdomain's page
        # a <frameset>'s frame: the frameset page has no body to show the banner in
        (("sec-fetch-dest", "frame"), ("sec-fetch-site", "same-origin")),
        (("sec-fetch-dest", "iframe"),),  # no Sec-Fetch-Site: nothing says whose page it is
        # a link followed inside a frame (maybe one on another site's page): same-origin names
        # the frame's own page as the initiator, not the page holding the frame
        (("sec-fetch-dest", "iframe"), ("sec-fetch-site", "same-origin"), ("sec-fetch-user", "?1")),
        (),  # no Fetch Metadata at all (Safari before 16.4)
    ],
    ids=["cross-site", "same-site", "frameset", "no-site", "link-inside-a-frame", "no-fetch-metadata"],
)
async def test_a_frame_that_may_not_sit_in_a_page_with_the_banner_keeps_it(
    headers: tuple[tuple[str, str], ...],
) -> None:
    page = await get(gate(), "/page", *headers)
    assert page.body.count(BANNER) == 1 and CENTRE in page.body


async def test_the_frame_tells_consent_mode_no_choice_is_coming() -> None:
    """Consent Mode's default waits for an update while a banner is up; a frame has none."""
    middleware = gate({"consent_mode": {"mode": "advanced"}})
    framed = await get(middleware, "/page", *FRAME)
    page = await get(middleware, "/page", ("sec-fetch-dest", "document"))
    assert b"wait_for_update" in page.body
    assert b"wait_for_update" not in framed.body
