"""Google Consent Mode v2: the per-request ``default`` and the values of each ``update``.

The default is computed on the server from the same decision the rewriter enforces (region,
stored choice, GPC), and injected as the first script of ``<head>``, so Google tags never see a
denied state flip to granted for a returning visitor. Each later choice pushes exactly one
``gtag('consent', 'update', …)`` from the browser runtime, with values computed here and carried
in the page state (``consentMode``).

Modes (``policy.consent_mode.mode``):

- ``basic``: Google tags stay neutralised until their category is granted (the rewriter does
  that, as for any tracker); they get the consent state when they load.
- ``advanced``: Google's tag scripts load with everything denied and send cookieless pings. That
  sends device data to Google before consent, which EDPB Guidelines 2/2023 bring under ePrivacy
  art. 5(3): an explicit risk decision of the site, logged at start-up. An explicit denial or a
  standing opt-out signal still blocks sale/share Google services (Google Ads).

References:
- Google, "Set up consent mode on websites" and the consent mode reference (the seven types,
  ``wait_for_update``, ``ads_data_redaction``, ``url_passthrough``)
- requirements CG-70..CG-75
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from consentgate.consent.state import Consent
from consentgate.policy.model import CONSENT_MODE_TYPES, NECESSARY, Policy

__all__ = ["AD_TYPES", "GOOGLE_TAG_SERVICES", "ConsentMode", "ConsentModeDefault"]

logger = logging.getLogger("consentgate.consent_mode")

_V = TypeVar("_V")

# What GPC and a US opt-out deny, whatever the categories say (CCPA: targeted advertising).
AD_TYPES: tuple[str, ...] = ("ad_storage", "ad_user_data", "ad_personalization")
# Catalog services whose scripts load in advanced mode (with everything denied).
GOOGLE_TAG_SERVICES: tuple[str, ...] = (
    "google-tag-manager",
    "google-analytics",
    "google-analytics-analytics",
    "google-ads",
)


@dataclass(frozen=True)
class ConsentModeDefault:
    """Everything the inline default script says."""

    values: Mapping[str, str]  # all seven types -> "granted" | "denied"
    wait_for_update_ms: int | None  # only while a choice is pending (the banner is shown)
    ads_data_redaction: bool
    url_passthrough: bool

    def script(self, nonce: str | None = None) -> str:
        """The inline ``<script>`` (ASCII) that defines ``dataLayer``/``gtag`` and sets the default.

        >>> d = ConsentModeDefault({"ad_storage": "denied"}, 500, True, False)
        >>> print(d.script().replace(";", ";\\n"))
        <script>window.dataLayer=window.dataLayer||[];
        function gtag(){dataLayer.push(arguments);
        }gtag("consent","default",{"ad_storage":"denied","wait_for_update":500});
        gtag("set","ads_data_redaction",true);
        (function(w,l){var o=l.slice();
        try{Object.defineProperty(w,'dataLayer',{configurable:true,get:function(){return l},set:function(v){if(v&&v!==l&&v.unshift&&v.indexOf(o[0])<0)v.unshift.apply(v,o);
        l=v}})}catch(e){}})(window,dataLayer);
        </script>
        """
        attribute = f' nonce="{html.escape(nonce)}"' if nonce else ""
        return f"<script{attribute}>{self.code}</script>"

    @property
    def code(self) -> str:
        """The script's code (no nonce: the same for every visitor with these values)."""
        default: dict[str, object] = dict(self.values)
        if self.wait_for_update_ms is not None:
            default["wait_for_update"] = self.wait_for_update_ms
        # gtag.js reads Arguments objects from dataLayer, not arrays: push `arguments` itself.
        parts = [
            "window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}",
            f'gtag("consent","default",{json.dumps(default, separators=(",", ":"))});',
        ]
        if self.ads_data_redaction:
            parts.append('gtag("set","ads_data_redaction",true);')
        if self.url_passthrough:
            parts.append('gtag("set","url_passthrough",true);')
        parts.append(_KEEP_FIRST)
        return "".join(parts)


# Google's older GTM instructions have the page write ``dataLayer = [{...}]`` before the container
# snippet, which throws the default above away: a container then sees no consent state and takes
# every type as granted. An accessor keeps this script's entries at the front of whatever array
# the page assigns (a page reassigning the same array, ``dataLayer = dataLayer || []``, changes
# nothing). Browsers without defineProperty on window keep the plain variable.
_KEEP_FIRST = (
    "(function(w,l){var o=l.slice();try{Object.defineProperty(w,'dataLayer',{configurable:true,"
    "get:function(){return l},set:function(v){if(v&&v!==l&&v.unshift&&v.indexOf(o[0])<0)"
    "v.unshift.apply(v,o);l=v}})}catch(e){}})(window,dataLayer);"
)


class ConsentMode:
    """The policy's Consent Mode settings and category mapping, compiled once.

    >>> from consentgate.policy.load import load_dict
    >>> mode = ConsentMode(load_dict({"consent_mode": {"mode": "basic"}}))
    >>> mode.values(Consent.none().with_choice({"analytics"}, source="banner"))["analytics_storage"]
    'granted'
    """

    def __init__(self, policy: Policy) -> None:
        settings = policy.consent_mode
        self.settings = settings
        self.enabled = settings.mode != "off"
        self.advanced = settings.mode == "advanced"
        self._categories_for = {
            kind: tuple(c.id for c in policy.categories if kind in c.consent_mode)
            for kind in CONSENT_MODE_TYPES
        }
        self._sale_share = frozenset(s.id for s in policy.services if s.sale_share)
        # Per consent shape: values and default scripts hold no visitor identifier.
        self._values: dict[Hashable, dict[str, str]] = {}
        self._scripts: dict[Hashable, str] = {}
        self._tags = frozenset(sid for sid in GOOGLE_TAG_SERVICES if policy.has_service(sid))
        if self.advanced:
            logger.warning(
                "consentgate: consent_mode.mode = 'advanced': Google tags load before consent with "
                "everything denied and send cookieless pings. Under ePrivacy art. 5(3) (EDPB "
                "Guidelines 2/2023) that is a risk decision; use 'basic' in opt-in regions unless "
                "your counsel has approved it."
            )
        if self.enabled and settings.url_passthrough:
            logger.warning(
                "consentgate: consent_mode.url_passthrough = true: ad-click identifiers travel in "
                "URLs while ad storage is denied (link decoration; EDPB Guidelines 2/2023)."
            )

    def values(self, consent: Consent, *, objection: bool = False) -> dict[str, str]:
        """Each of the seven types: granted when a category mapped to it is allowed.

        ``objection`` (an opt-out signal or a US opt-out in force) denies the three ad types
        whatever the categories say.
        """
        key = (*consent.shape, objection)
        cached = self._values.get(key)
        if cached is None:
            cached = {}
            for kind, categories in self._categories_for.items():
                granted = any(c == NECESSARY or consent.allows(c) for c in categories)
                if objection and kind in AD_TYPES:
                    granted = False
                cached[kind] = "granted" if granted else "denied"
            _remember(self._values, key, cached)
        return dict(cached)  # a copy: the caller may change it

    def default_script(
        self, consent: Consent, *, objection: bool, choice_pending: bool, nonce: str | None = None
    ) -> str:
        """``default(...).script(nonce)``, or "" when Consent Mode is off; the code is built once
        per consent shape and only the nonce is added per page."""
        if not self.enabled:
            return ""
        key = (*consent.shape, objection, choice_pending)
        code = self._scripts.get(key)
        if code is None:
            default = self.default(consent, objection=objection, choice_pending=choice_pending)
            code = default.code if default is not None else ""
            _remember(self._scripts, key, code)
        attribute = f' nonce="{html.escape(nonce)}"' if nonce else ""
        return f"<script{attribute}>{code}</script>"

    def default(
        self, consent: Consent, *, objection: bool, choice_pending: bool
    ) -> ConsentModeDefault | None:
        """The default for this request, or None when Consent Mode is off."""
        if not self.enabled:
            return None
        values = self.values(consent, objection=objection)
        return ConsentModeDefault(
            values=values,
            wait_for_update_ms=self.settings.wait_for_update_ms if choice_pending else None,
            ads_data_redaction=self.settings.ads_data_redaction and values["ad_storage"] == "denied",
            url_passthrough=self.settings.url_passthrough,
        )

    def tag_loads(self, service_id: str, consent: Consent, *, objection: bool) -> bool:
        """Advanced mode: may this Google tag load although its category is not granted?

        Never against an explicit denial, nor a sale/share service against a standing opt-out.
        """
        if not self.advanced or service_id not in self._tags or service_id in consent.denied_services:
            return False
        return not (objection and service_id in self._sale_share)


def _remember(cache: dict[Hashable, _V], key: Hashable, value: _V) -> None:
    if len(cache) >= 256:
        cache.clear()  # a site has a handful of consent shapes; cheaper than LRU bookkeeping
    cache[key] = value
