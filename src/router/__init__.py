"""router: send each LLM request to the cheapest model that can do it well, within a hard budget.

    from router import Router
    router = Router.from_config("router.yaml")
    reply = router.complete([{"role": "user", "content": "Hi"}], budget="0.002")
"""

import logging as _logging

from router.breaker import (
    BreakerState,
    BreakerStore,
    CircuitBreaker,
    MemoryBreakerStore,
    RedisBreakerStore,
)
from router.budgets import Budget
from router.calls import CallState
from router.catalog import Catalog, ModelSpec, Price, builtin_catalog, load_catalog
from router.client import Router
from router.decision import Attempt, Candidate, Decision, RoutingSettings, decide
from router.deployments import Deployment, LifecycleState, Secret
from router.errors import (
    AnswerCheckError,
    AuthenticationError,
    BadRequestError,
    BudgetExceeded,
    ConfigError,
    InvalidRequestError,
    LedgerError,
    MissingKeyError,
    NoRouteError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    RateLimitError,
    ResponseError,
    RouterError,
    ServerError,
    StreamError,
)
from router.ledger import Ledger, open_ledger
from router.ledger.report import SpendReport
from router.lifecycle import ModelLifecycleWarning
from router.resilience import Resilience, RetryPolicy, Timeouts
from router.strategies import (
    Best,
    Cheapest,
    Filter,
    Ranking,
    RouteContext,
    Strategy,
    min_score,
    register_strategy,
    vendors,
)
from router.streaming import AsyncReplyStream, ReplyStream
from router.types import (
    Completion,
    FinishReason,
    ImagePart,
    Message,
    Reply,
    Request,
    ResponseFormat,
    StreamChunk,
    TextPart,
    Tool,
    ToolCall,
    Usage,
)

_logging.getLogger("router").addHandler(_logging.NullHandler())

__version__ = "0.1.0"

__all__ = [
    "AnswerCheckError",
    "AsyncReplyStream",
    "Attempt",
    "AuthenticationError",
    "BadRequestError",
    "Best",
    "BreakerState",
    "BreakerStore",
    "Budget",
    "BudgetExceeded",
    "CallState",
    "Candidate",
    "Catalog",
    "Cheapest",
    "CircuitBreaker",
    "Completion",
    "ConfigError",
    "Decision",
    "Deployment",
    "Filter",
    "FinishReason",
    "ImagePart",
    "InvalidRequestError",
    "Ledger",
    "LedgerError",
    "LifecycleState",
    "MemoryBreakerStore",
    "Message",
    "MissingKeyError",
    "ModelLifecycleWarning",
    "ModelSpec",
    "NoRouteError",
    "Price",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeout",
    "Ranking",
    "RateLimitError",
    "RedisBreakerStore",
    "Reply",
    "ReplyStream",
    "Request",
    "Resilience",
    "ResponseError",
    "ResponseFormat",
    "RetryPolicy",
    "RouteContext",
    "Router",
    "RouterError",
    "RoutingSettings",
    "Secret",
    "ServerError",
    "SpendReport",
    "Strategy",
    "StreamChunk",
    "StreamError",
    "TextPart",
    "Timeouts",
    "Tool",
    "ToolCall",
    "Usage",
    "__version__",
    "builtin_catalog",
    "decide",
    "load_catalog",
    "min_score",
    "open_ledger",
    "register_strategy",
    "vendors",
]
