"""Ridgeline, the demo site: a Starlette app behind ConsentGate.

The app itself knows nothing about consent, like most real sites: it installs its trackers in
plain markup and sets an analytics cookie from the server. ConsentGate, added as one middleware,
does the rest. Only ``/my-consent`` reads the visitor's state (``scope["consentgate"]``).
"""

from __future__ import annotations

import re
import secrets
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import parse_qsl

from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from consentgate.consent.state import Consent
from consentgate.http.cookies import parse_cookie_headers
from consentgate.http.middleware import ConsentGate
from consentgate.http.types import Sink
from consentgate.policy.model import Policy, Service

from .content import ARTICLES, PRODUCTS, article

DEMO_DIR = Path(__file__).resolve().parent
POLICY_PATH = DEMO_DIR / "consentgate.toml"
PREFIX = "/_consentgate"
ADMIN_PATH = "/admin/consent"
MAX_FORM_BYTES = 16 * 1024

NAV: tuple[tuple[str, str], ...] = (
    ("/", "Field notes"),
    ("/shop", "Shop"),
    ("/gear-finder", "Gear finder"),
    ("/contact", "Contact"),
)
ACTIVITIES: tuple[tuple[str, str], ...] = (
    ("hiking", "Hill walking"),
    ("camping", "Wild camping"),
    ("night", "Night hikes"),
)
SEASONS: tuple[str, ...] = ("Spring", "Summer", "Autumn", "Winter")
# Gear finder picks: activity -> product SKUs.
KITS: Mapping[str, tuple[str, ...]] = {
    "hiking": ("RL-SHELL-2", "RL-PACK-30", "RL-POLE-2", "RL-MAP-7"),
    "camping": ("RL-STOVE-1", "RL-SHELL-2", "RL-LAMP-4"),
    "night": ("RL-LAMP-4", "RL-SHELL-2", "RL-MAP-7"),
}
_DISTANCE = re.compile(r"\{km:([0-9]+(?:\.[0-9]+)?)\}")


@dataclass(frozen=True)
class Origins:
    """Base URLs of the site and its three third parties (no trailing slash)."""

    site: str = "http://127.0.0.1:8000"
    analytics: str = "http://127.0.0.2:8001"
    ads: str = "http://127.0.0.3:8002"
    video: str = "http://127.0.0.4:8003"


def load_policy() -> Policy:
    return Policy.from_file(str(POLICY_PATH))


def at_origins(policy: Policy, origins: Origins) -> Policy:
    """``policy`` with its third parties' privacy links on the ports the demo really uses:
    consentgate.toml names the default ones, and ``consentgate demo --video-port 9003`` (or a
    test on free ports) moves an origin."""
    default = Origins()
    moved = {
        getattr(default, name) + "/": getattr(origins, name) + "/"
        for name in ("analytics", "ads", "video")
        if getattr(default, name) != getattr(origins, name)
    }

    def relinked(service: Service) -> Service:
        for old, new in moved.items():
            if service.privacy_url.startswith(old):
                return replace(service, privacy_url=new + service.privacy_url[len(old) :])
        return service

    if not moved:
        return policy
    return replace(policy, services=tuple(relinked(service) for service in policy.services))


def _distances(text: str) -> Markup:
    # "{km:12.5}" -> a span the preferences script can switch to miles.
    return Markup(
        _DISTANCE.sub(
            lambda m: f'<span class="distance" data-km="{m.group(1)}">{m.group(1)} km</span>',
            str(escape(text)),
        )
    )


def _nice_date(iso: str) -> str:
    day = date.fromisoformat(iso)
    return f"{day.day} {day:%B %Y}"


def _epoch(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%d %b %Y, %H:%M UTC")


def _templates(origins: Origins) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(DEMO_DIR / "templates"))
    env = templates.env
    env.filters.update(distances=_distances, nice_date=_nice_date, epoch=_epoch)
    env.globals.update(origins=origins, nav=NAV, prefix=PREFIX, articles=ARTICLES)
    return templates


class _Pages:
    """The site's endpoints; holds only configuration and the contact inbox."""

    def __init__(self, origins: Origins, policy: Policy) -> None:
        self.templates = _templates(origins)
        self.policy = policy
        self.inbox: deque[dict[str, str]] = deque(maxlen=100)

    def render(self, request: Request, name: str, status_code: int = 200, **context: object) -> Response:
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)

    async def home(self, request: Request) -> Response:
        return self.render(request, "home.html")

    async def article(self, request: Request) -> Response:
        found = article(request.path_params["slug"])
        if found is None:
            return self.render(request, "not_found.html", status_code=404)
        return self.render(request, "article.html", article=found)

    async def shop(self, request: Request) -> Response:
        return self.render(request, "shop.html", products=PRODUCTS)

    async def gear_finder(self, request: Request) -> Response:
        activity = request.query_params.get("activity", "")
        season = request.query_params.get("season", "Autumn")
        labels = dict(ACTIVITIES)
        picks = [p for sku in KITS.get(activity, ()) for p in PRODUCTS if p.sku == sku]
        cookies = parse_cookie_headers(request.headers.raw)
        response = self.render(
            request,
            "gear_finder.html",
            activities=ACTIVITIES,
            seasons=SEASONS,
            activity=activity,
            activity_label=labels.get(activity, ""),
            season=season if season in SEASONS else "Autumn",
            picks=picks,
            sent_analytics_cookie="_ts_sess" in cookies,
        )
        # Server-side measurement, written the naive way: the app sets its analytics cookie on
        # every response. ConsentGate's Set-Cookie firewall drops it without analytics consent.
        visit = cookies.get("_ts_sess") or secrets.token_hex(8)
        response.set_cookie("_ts_sess", visit, max_age=1800, samesite="lax")
        return response

    async def contact(self, request: Request) -> Response:
        token = request.session.get("token")
        if token is None:
            token = request.session["token"] = secrets.token_urlsafe(16)
        sent = request.query_params.get("sent") == "1"
        empty = {"name": "", "email": "", "message": ""}
        return self.render(request, "contact.html", token=token, sent=sent, error="", form=empty)

    async def contact_post(self, request: Request) -> Response:
        body = await request.body()
        fields = dict(parse_qsl(body[:MAX_FORM_BYTES].decode("utf-8", "replace")))
        form = {key: fields.get(key, "").strip() for key in ("name", "email", "message")}
        expected = request.session.get("token")
        if not expected or not secrets.compare_digest(str(expected), fields.get("token", "")):
            # No session cookie (or a forged form): ask again rather than fail with a 500.
            request.session["token"] = token = secrets.token_urlsafe(16)
            error = "Your session expired or the form was not sent from this site. Please send it again."
            return self.render(
                request, "contact.html", status_code=400, token=token, sent=False, error=error, form=form
            )
        if not all(form.values()):
            error = "Please fill in every field."
            return self.render(
                request, "contact.html", status_code=400, token=expected, sent=False, error=error, form=form
            )
        self.inbox.append({**form, "at": str(int(time.time()))})
        return RedirectResponse("/contact?sent=1", status_code=303)

    async def privacy(self, request: Request) -> Response:
        categories = []
        for category in self.policy.categories:
            label, description = category.text("en")
            services = [s for s in self.policy.services_in(category.id) if s.origin == "policy"]
            categories.append(
                {
                    "id": category.id,
                    "label": label,
                    "description": description,
                    "required": category.required,
                    "services": services,
                }
            )
        lifetime_days = self.policy.choice_lifetime_seconds // 86400
        return self.render(
            request,
            "privacy.html",
            policy=self.policy,
            categories=categories,
            lifetime=f"{lifetime_days} days",
        )

    async def my_consent(self, request: Request) -> Response:
        consent = request.scope.get("consentgate")
        if not isinstance(consent, Consent):
            consent = None
        categories = [
            {"label": c.text("en")[0], "granted": consent is not None and consent.allows(c.id)}
            for c in self.policy.categories
        ]
        services = [
            {
                "name": s.name,
                "category": s.category,
                "granted": consent is not None and consent.allows_service(s.id, s.category),
            }
            for s in self.policy.services
            if s.origin == "policy"
        ]
        cookie_names = sorted(parse_cookie_headers(request.headers.raw))
        response = self.render(
            request,
            "my_consent.html",
            consent=consent,
            categories=categories,
            services=services,
            cookie_names=cookie_names,
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    async def not_found(self, request: Request, exc: Exception) -> Response:
        return self.render(request, "not_found.html", status_code=404)


def create_site(
    origins: Origins,
    *,
    secret_keys: list[str],
    audit: str | Sink | None = None,
    audit_key: bytes | None = None,
    policy: Policy | None = None,
    admin: ASGIApp | None = None,
) -> ASGIApp:
    """The Ridgeline site with ConsentGate in front.

    ``admin`` (the consent dashboard) is mounted at ``/admin/consent`` outside the middleware:
    it is not a page for visitors, so it gets no banner.
    """
    policy = at_origins(policy or load_policy(), origins)
    pages = _Pages(origins, policy)
    site_routes = [
        Route("/", pages.home),
        Route("/articles/{slug}", pages.article),
        Route("/shop", pages.shop),
        Route("/gear-finder", pages.gear_finder),
        Route("/contact", pages.contact, methods=["GET"]),
        Route("/contact", pages.contact_post, methods=["POST"]),
        Route("/privacy", pages.privacy),
        Route("/my-consent", pages.my_consent),
        Mount("/static", StaticFiles(directory=str(DEMO_DIR / "static")), name="static"),
    ]
    site = Starlette(
        routes=site_routes,
        middleware=[
            Middleware(
                ConsentGate,
                secret_keys=secret_keys,
                policy=policy,
                audit=audit,
                audit_key=audit_key,
                prefix=PREFIX,
            ),
            # Inside ConsentGate, so its Set-Cookie passes the firewall (declared necessary).
            Middleware(
                SessionMiddleware,
                secret_key=secret_keys[0],
                session_cookie="ridgeline_session",
                max_age=None,
                same_site="lax",
            ),
        ],
        exception_handlers={404: pages.not_found},
    )
    site.state.pages = pages
    if admin is None:
        return site
    return _WithAdmin(site, admin)


class _WithAdmin:
    """The site plus the dashboard at ``/admin/consent``.

    A plain ``Starlette(routes=[Mount(...), Mount(...)])`` would not pass lifespan events on to
    the mounted site, and ConsentGate needs them to start and flush its audit writer.
    """

    def __init__(self, site: Starlette, admin: ASGIApp) -> None:
        self.site = site
        self.router = Router(routes=[Mount(ADMIN_PATH, admin), Mount("/", site)])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.site(scope, receive, send)
        else:
            await self.router(scope, receive, send)
