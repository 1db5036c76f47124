"""Provider adapters behind one interface; each SDK is imported only when a deployment needs it."""

from __future__ import annotations

from typing import Any

from router.deployments import Deployment
from router.providers.base import CallOptions, HttpStack, Provider

__all__ = ["CallOptions", "HttpStack", "Provider", "make_provider"]


def make_provider(deployment: Deployment, *, transport: Any = None,
                  http: HttpStack = "httpx") -> Provider:
    """The adapter for `deployment.provider`, talking through `transport` when one is given."""
    if deployment.provider == "openai":
        from router.providers.openai import OpenAIProvider

        return OpenAIProvider(deployment, transport=transport, http=http)
    from router.providers.mistral import MistralProvider

    return MistralProvider(deployment, transport=transport, http=http)
