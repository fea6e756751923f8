"""consentgate: cookie consent enforced in the HTTP response itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Consent", "ConsentEvent", "ConsentGate", "Policy", "PolicyError", "__version__"]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from consentgate.audit.events import ConsentEvent
    from consentgate.consent.state import Consent
    from consentgate.http.middleware import ConsentGate
    from consentgate.policy.load import PolicyError
    from consentgate.policy.model import Policy

_LAZY = {
    "Consent": "consentgate.consent.state",
    "ConsentEvent": "consentgate.audit.events",
    "ConsentGate": "consentgate.http.middleware",
    "Policy": "consentgate.policy.model",
    "PolicyError": "consentgate.policy.load",
}


def __getattr__(name: str) -> Any:
    # Lazy, so `import consentgate` for the CLI or the policy alone stays cheap.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'consentgate' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
