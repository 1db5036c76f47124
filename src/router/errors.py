"""The one error tree of the router; every SDK or transport error is translated into it.

    RouterError
    ├── ConfigError               a config file, dict or catalog entry is wrong (names the key and the fix)
    │   └── MissingKeyError       a deployment needs an API key that is not set
    ├── InvalidRequestError       bad call arguments: messages, budget, max_tokens, response_format...
    ├── NoRouteError              no model can take this request (capability, context, lifecycle, keys)
    │   └── BudgetExceeded        ...because none fits the budget; says the cheapest possible cost
    ├── LedgerError               the spend ledger is unreachable or inconsistent
    ├── AnswerCheckError          a cascade's answer check raised; carries the paid answer's text,
    │                             the cost so far and the decision
    └── ProviderError             a provider call failed; carries provider, deployment, status, request id
    │                             (and, when the router gives up, the decision with every attempt)
        ├── AuthenticationError   401/403: the key is wrong or lacks access
        ├── BadRequestError       400/404/409/422: the provider refused this request as written
        ├── RateLimitError        429
        ├── ServerError           5xx
        ├── ProviderTimeout       the provider did not answer in time
        ├── ProviderConnectionError  the connection failed or was reset
        ├── ResponseError         the provider answered with something unreadable
        └── StreamError           a stream broke or ended without a finish reason; carries the partial text
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from router.decision import Decision
    from router.types import Usage

__all__ = [
    "AnswerCheckError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceeded",
    "ConfigError",
    "InvalidRequestError",
    "LedgerError",
    "MissingKeyError",
    "NoRouteError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeout",
    "RateLimitError",
    "ResponseError",
    "RouterError",
    "ServerError",
    "StreamError",
]


class RouterError(Exception):
    """Root of every error the router raises."""


class ConfigError(RouterError, ValueError):
    """A config value is invalid; the message names the key path and the fix."""

    def __init__(self, message: str, *, path: str | None = None, source: str | None = None):
        where = ""
        if source:
            where += f"{source}: "
        if path:
            where += f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.source = source


class MissingKeyError(ConfigError):
    """A deployment was asked to call its provider but has no API key."""


class InvalidRequestError(RouterError, ValueError):
    """The arguments of a call are invalid; nothing was sent."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class NoRouteError(RouterError):
    """No deployment can take the request; `decision` says why each was left out."""

    def __init__(self, message: str, *, decision: Decision | None = None):
        super().__init__(message)
        self.decision = decision


class BudgetExceeded(NoRouteError):
    """No candidate fits the budget; nothing was sent.

    `cheapest_cost` is the lowest worst-case cost any capable deployment would have needed,
    `budget` the limit that tripped and `remaining` what was left of it.
    """

    def __init__(
        self,
        message: str,
        *,
        decision: Decision | None = None,
        budget: str | None = None,
        limit: Decimal | None = None,
        remaining: Decimal | None = None,
        cheapest_cost: Decimal | None = None,
    ):
        super().__init__(message, decision=decision)
        self.budget = budget
        self.limit = limit
        self.remaining = remaining
        self.cheapest_cost = cheapest_cost


class LedgerError(RouterError):
    """The spend ledger could not be read or written."""


class ProviderError(RouterError):
    """A provider call failed. The SDK's exception is chained as `__cause__`.

    When the router gives up, `decision` holds the routing decision with every attempt made and
    `cost` what the request spent in all (`decision.spent`; `None` if nothing). `usage` says what
    the failed attempt was billed for, when tokens were received for it (e.g. a whole answer whose
    tool-call arguments are not JSON); `None` otherwise.
    """

    retryable: bool = False
    decision: Decision | None = None
    usage: Usage | None = None
    cost: Decimal | None = None

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        deployment: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        body: Any = None,
    ):
        prefix = f"{deployment or provider}: " if (deployment or provider) else ""
        super().__init__(prefix + message)
        self.provider = provider
        self.deployment = deployment
        self.status_code = status_code
        self.request_id = request_id
        self.retry_after = retry_after
        self.body = body


class AuthenticationError(ProviderError):
    """401/403: the API key is wrong, expired or lacks access to the model."""


class BadRequestError(ProviderError):
    """400/404/409/422: the provider refused the request as written."""


class RateLimitError(ProviderError):
    """429: slow down; `retry_after` holds the provider's hint in seconds when it gave one."""

    retryable = True


class ServerError(ProviderError):
    """5xx from the provider."""

    retryable = True


class ProviderTimeout(ProviderError):
    """The provider did not answer within the timeout."""

    retryable = True


class ProviderConnectionError(ProviderError):
    """The connection could not be made or was reset."""

    retryable = True


class ResponseError(ProviderError):
    """The provider answered, but with something the adapter cannot read (bad JSON, missing fields)."""

    retryable = True


class StreamError(ProviderError):
    """A stream failed after it started, or ended without a finish reason (truncated).

    `partial_text` holds what was received; `usage` what it is billed for, `cost` what the
    request spent in all (that stream included).
    """

    def __init__(
        self,
        message: str,
        *,
        partial_text: str = "",
        usage: Usage | None = None,
        cost: Decimal | None = None,
        truncated: bool = False,
        **kwargs: Any,
    ):
        super().__init__(message, **kwargs)
        self.partial_text = partial_text
        self.usage = usage
        self.cost = cost
        self.truncated = truncated


class AnswerCheckError(RouterError):
    """A cascade's answer check (a validator, usually one of yours) raised instead of returning a
    verdict. The answer it was checking was paid for: `text` holds it, `check` names the check,
    `cost` is what the request spent (that answer included; the ledger books it) and
    `decision` has every attempt. The check's own exception is chained as `__cause__`."""

    def __init__(
        self,
        message: str,
        *,
        check: str = "",
        text: str = "",
        cost: Decimal | None = None,
        decision: Decision | None = None,
    ):
        super().__init__(message)
        self.check = check
        self.text = text
        self.cost = cost
        self.decision = decision
