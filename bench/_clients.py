"""The clients the overhead benchmark compares, each behind one call: ``call(stream) -> text``.

Every factory imports its library itself, so that a worker process loads only the client it
measures. The router's slot is ``router_config`` / ``_router_async`` / ``_router_sync`` below.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["CLIENTS", "MAX_TOKENS", "MESSAGES", "ClientSpec", "Urls", "router_config"]

MESSAGES = [{"role": "user", "content": "Say hello to the benchmark, in a few words."}]
MAX_TOKENS = 16

AsyncCall = Callable[[bool], Awaitable[str]]
SyncCall = Callable[[bool], str]


@dataclass(frozen=True)
class Urls:
    """The fake provider's addresses: ``root`` (Mistral's server_url) and ``v1`` (OpenAI's)."""

    root: str

    @property
    def v1(self) -> str:
        return self.root + "/v1"


@dataclass(frozen=True)
class ClientSpec:
    """One benchmarked client; ``baseline`` names the raw client it is compared with."""

    name: str
    label: str
    is_async: bool
    factory: Callable[[Urls], Any]  # returns an AsyncCall or a SyncCall
    baseline: str | None = None
    module: str | None = None  # a module that must be importable, else the row is skipped


# -- the router (the slot under test) --------------------------------------------------------


def router_config(provider: str, urls: Urls, http: str = "httpx") -> dict[str, Any]:
    """One deployment on the fake provider; edit here if the config shape changes."""
    if provider == "openai":
        deployment = {"model": "gpt-4o-mini", "provider": "openai", "base_url": urls.v1}
    else:
        deployment = {"model": "mistral-nemo", "provider": "mistral", "base_url": urls.root}
    return {"deployments": [{**deployment, "api_key": "k"}], "http_client": http}


def _router_async(provider: str, http: str = "httpx") -> Callable[[Urls], AsyncCall]:
    def factory(urls: Urls) -> AsyncCall:
        from router import Router

        router = Router.from_config(router_config(provider, urls, http))

        async def call(stream: bool) -> str:
            if not stream:
                reply = await router.acomplete(MESSAGES, max_tokens=MAX_TOKENS)
                return str(reply.text)
            return "".join([d async for d in router.astream(MESSAGES, max_tokens=MAX_TOKENS)])

        return call

    return factory


def _router_sync(provider: str, http: str = "httpx") -> Callable[[Urls], SyncCall]:
    def factory(urls: Urls) -> SyncCall:
        from router import Router

        router = Router.from_config(router_config(provider, urls, http))

        def call(stream: bool) -> str:
            if not stream:
                return str(router.complete(MESSAGES, max_tokens=MAX_TOKENS).text)
            return "".join(router.stream(MESSAGES, max_tokens=MAX_TOKENS))

        return call

    return factory


# -- raw SDKs ------------------------------------------------------------------------------


def _openai_async_httpx(urls: Urls) -> AsyncCall:
    """The raw SDK on a plain `httpx` client, the stack the router uses by default."""
    import httpx

    return _openai_async(urls, http_client=httpx.AsyncClient(
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100)))


def _openai_async(urls: Urls, http_client: Any = None) -> AsyncCall:
    import openai

    extra = {"http_client": http_client} if http_client is not None else {}
    client = openai.AsyncOpenAI(base_url=urls.v1, api_key="k", max_retries=0, **extra)
    create = client.chat.completions.create

    async def call(stream: bool) -> str:
        if not stream:
            reply = await create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=MAX_TOKENS)
            return reply.choices[0].message.content or ""
        chunks = await create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            max_tokens=MAX_TOKENS,
            stream=True,
            stream_options={"include_usage": True},
        )
        return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])

    return call


def _openai_sync(urls: Urls) -> SyncCall:
    import openai

    client = openai.OpenAI(base_url=urls.v1, api_key="k", max_retries=0)
    create = client.chat.completions.create

    def call(stream: bool) -> str:
        if not stream:
            reply = create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=MAX_TOKENS)
            return reply.choices[0].message.content or ""
        chunks = create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            max_tokens=MAX_TOKENS,
            stream=True,
            stream_options={"include_usage": True},
        )
        return "".join([c.choices[0].delta.content or "" for c in chunks if c.choices])

    return call


def _mistral_async(urls: Urls) -> AsyncCall:
    from mistralai.client import Mistral

    client = Mistral(api_key="k", server_url=urls.root)

    async def call(stream: bool) -> str:
        if not stream:
            reply = await client.chat.complete_async(
                model="mistral-nemo", messages=MESSAGES, max_tokens=MAX_TOKENS
            )
            return str(reply.choices[0].message.content)
        events = await client.chat.stream_async(
            model="mistral-nemo", messages=MESSAGES, max_tokens=MAX_TOKENS
        )
        return "".join([str(e.data.choices[0].delta.content or "") async for e in events])

    return call


def _mistral_sync(urls: Urls) -> SyncCall:
    from mistralai.client import Mistral

    client = Mistral(api_key="k", server_url=urls.root)

    def call(stream: bool) -> str:
        if not stream:
            reply = client.chat.complete(
                model="mistral-nemo", messages=MESSAGES, max_tokens=MAX_TOKENS
            )
            return str(reply.choices[0].message.content)
        events = client.chat.stream(model="mistral-nemo", messages=MESSAGES, max_tokens=MAX_TOKENS)
        return "".join([str(e.data.choices[0].delta.content or "") for e in events])

    return call


def _litellm_router(urls: Urls) -> AsyncCall:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    names = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini"]
    model_list = [
        {
            "model_name": "bench",
            "litellm_params": {"model": f"openai/{name}", "api_base": urls.v1, "api_key": "k"},
        }
        for name in names
    ]
    router = litellm.Router(model_list=model_list, num_retries=0)

    async def call(stream: bool) -> str:
        if not stream:
            reply = await router.acompletion(
                model="bench", messages=MESSAGES, max_tokens=MAX_TOKENS
            )
            return str(reply.choices[0].message.content)
        chunks = await router.acompletion(
            model="bench",
            messages=MESSAGES,
            max_tokens=MAX_TOKENS,
            stream=True,
            stream_options={"include_usage": True},
        )
        return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])

    return call


# -- floors: bare HTTP clients ---------------------------------------------------------------


def _bare_asyncio(urls: Urls) -> AsyncCall:
    """Keep-alive HTTP/1.1 over asyncio streams, no parsing beyond framing: the floor."""
    import json

    host, port = urls.root.removeprefix("http://").split(":")
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    bodies = {
        s: json.dumps({"model": "m", "messages": MESSAGES, "max_tokens": MAX_TOKENS, "stream": s})
        for s in (False, True)
    }
    heads = {
        s: (
            f"POST /v1/chat/completions HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json"
            f"\r\ncontent-length: {len(body)}\r\n\r\n{body}"
        ).encode()
        for s, body in bodies.items()
    }

    async def call(stream: bool) -> str:
        reader, writer = idle.pop() if idle else await asyncio.open_connection(host, int(port))
        writer.write(heads[stream])
        head = await reader.readuntil(b"\r\n\r\n")
        if b"transfer-encoding: chunked" in head:
            body = await reader.readuntil(b"\r\n0\r\n\r\n")
        else:
            start = head.index(b"content-length: ") + 16
            body = await reader.readexactly(int(head[start : head.index(b"\r\n", start)]))
        idle.append((reader, writer))
        return body.decode()

    return call


def _bare_aiohttp(urls: Urls) -> AsyncCall:
    import aiohttp

    session: list[aiohttp.ClientSession] = []
    url = urls.v1 + "/chat/completions"

    async def call(stream: bool) -> str:
        if not session:
            session.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)))
        payload = {"model": "m", "messages": MESSAGES, "max_tokens": MAX_TOKENS, "stream": stream}
        async with session[0].post(url, json=payload) as response:
            return await response.text()

    return call


CLIENTS: dict[str, ClientSpec] = {
    spec.name: spec
    for spec in [
        ClientSpec("bare-asyncio", "bare asyncio HTTP (floor)", True, _bare_asyncio),
        ClientSpec("bare-aiohttp", "bare aiohttp POST", True, _bare_aiohttp, module="aiohttp"),
        ClientSpec("openai-async", "openai AsyncOpenAI", True, _openai_async),
        ClientSpec("openai-async-httpx", "openai AsyncOpenAI on an httpx client", True,
                   _openai_async_httpx, baseline="openai-async"),
        ClientSpec("openai-sync", "openai OpenAI", False, _openai_sync),
        ClientSpec("mistral-async", "mistralai async", True, _mistral_async),
        ClientSpec("mistral-sync", "mistralai sync", False, _mistral_sync),
        ClientSpec(
            "litellm-router",
            "litellm Router (3 deployments)",
            True,
            _litellm_router,
            baseline="openai-async",
            module="litellm",
        ),
        ClientSpec(
            "router-openai-async",
            "router acomplete (openai)",
            True,
            _router_async("openai"),
            baseline="openai-async",
            module="router",
        ),
        ClientSpec(
            "router-openai-sync",
            "router complete (openai)",
            False,
            _router_sync("openai"),
            baseline="openai-sync",
            module="router",
        ),
        ClientSpec(
            "router-mistral-async",
            "router acomplete (mistral)",
            True,
            _router_async("mistral"),
            baseline="mistral-async",
            module="router",
        ),
        ClientSpec(
            "router-openai-async-httpx2",
            "router acomplete (openai, httpx2)",
            True,
            _router_async("openai", "httpx2"),
            baseline="openai-async",
            module="router",
        ),
        ClientSpec(
            "router-openai-sync-httpx2",
            "router complete (openai, httpx2)",
            False,
            _router_sync("openai", "httpx2"),
            baseline="openai-sync",
            module="router",
        ),
        ClientSpec(
            "router-mistral-async-httpx2",
            "router acomplete (mistral, httpx2)",
            True,
            _router_async("mistral", "httpx2"),
            baseline="mistral-async",
            module="router",
        ),
        ClientSpec(
            "router-mistral-sync",
            "router complete (mistral)",
            False,
            _router_sync("mistral"),
            baseline="mistral-sync",
            module="router",
        ),
    ]
}
