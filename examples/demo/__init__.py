"""Ridgeline, the consentgate demo: a site and the three "third parties" it embeds.

Run it with ``consentgate demo`` (or ``make demo``); tests load it with
``consentgate.demo.load_demo_package``.
"""

from .admin import create_admin
from .site import ADMIN_PATH, POLICY_PATH, PREFIX, Origins, create_site, load_policy
from .thirdparty import create_ads_app, create_analytics_app, create_video_app

__all__ = [
    "ADMIN_PATH",
    "POLICY_PATH",
    "PREFIX",
    "Origins",
    "create_admin",
    "create_ads_app",
    "create_analytics_app",
    "create_site",
    "create_video_app",
    "load_policy",
]
