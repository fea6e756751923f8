"""Fixtures of the UI tests (builders live in uikit.py)."""

from __future__ import annotations

import pytest
from uikit import make_policy

from consentgate.policy.model import Policy
from consentgate.ui.render import UI


@pytest.fixture
def policy() -> Policy:
    return make_policy()


@pytest.fixture
def ui(policy: Policy) -> UI:
    return UI(policy)
