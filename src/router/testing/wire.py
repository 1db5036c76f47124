"""A minimal, fast HTTP/1.1 server protocol on asyncio: keep-alive, pipelining, chunked replies.

It parses requests, hands each to a handler that returns an :class:`Action`, and carries the
action out, including the broken ones: a body cut short, or a TCP reset instead of an answer.
"""

from __future__ import annotations

import asyncio
import enum
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus

__all__ = ["Action", "End", "HttpProtocol", "Request", "frame", "response_head"]

_MAX_HEAD = 64 * 1024
_TERMINATOR = b"0\r\n\r\n"


@dataclass(slots=True)
class Request:
    """A parsed request; header names are lower-case."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


class End(enum.Enum):
    """What happens to the connection after an action."""

    KEEP = "keep"  # a complete response; the connection stays open
    CLOSE = "close"  # a complete response, then the connection is closed
    CUT = "cut"  # the connection is closed mid-body (a chunked body is left unterminated)
    RESET = "reset"  # nothing is written; the socket is reset


@dataclass(slots=True)
class Action:
    """A response to carry out: ``head`` then ``body`` (bytes) or ``events`` (chunked)."""

    head: bytes = b""
    body: bytes = b""
    events: tuple[bytes, ...] | None = None
    end: End = End.KEEP
    delay: float = 0.0
    pace: float = 0.0  # seconds between chunked events


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def response_head(status: int, headers: list[tuple[str, str]], *, length: int | None) -> bytes:
    """Status line and headers; ``length=None`` means a chunked body."""
    lines = [f"HTTP/1.1 {status} {_phrase(status)}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    lines.append("transfer-encoding: chunked" if length is None else f"content-length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def frame(events: Iterable[bytes], *, complete: bool) -> bytes:
    """``events`` in chunked transfer encoding, with the final empty chunk if ``complete``."""
    data = b"".join(map(_chunk, events))
    return data + _TERMINATOR if complete else data


def _bad_request(message: str) -> bytes:
    body = message.encode()
    return response_head(400, [("connection", "close")], length=len(body)) + body


class HttpProtocol(asyncio.Protocol):
    """One client connection; requests are answered strictly in order."""

    def __init__(self, handler: Callable[[Request], Action], connections: set[HttpProtocol]):
        self._handler = handler
        self._connections = connections
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._task: asyncio.Task[None] | None = None
        self._eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._connections.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._connections.discard(self)
        if self._task is not None:
            self._task.cancel()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._task is None:
            self._serve_buffered()

    def eof_received(self) -> bool:
        # A client may half-close after its last request: answer what is buffered, then close.
        self._eof = True
        if self._task is None:
            self._serve_buffered()
        return True

    def abort(self) -> None:
        """Drop the connection at once (server shutdown)."""
        if self._transport is not None:
            self._transport.abort()

    def _parse(self) -> Request | None:
        buffer = self._buffer
        if not buffer:
            return None
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(buffer) > _MAX_HEAD:
                raise ValueError("request head too large")
            return None
        lines = buffer[:end].decode("latin-1").split("\r\n")
        method, target, version = [*lines[0].split(" ", 2), "", ""][:3]
        if not version.startswith("HTTP/1."):
            raise ValueError("not an HTTP/1.x request")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", ""):
            raise ValueError("chunked request bodies are not supported; send content-length")
        length = int(headers.get("content-length", "0"))
        start = end + 4
        if len(buffer) < start + length:
            return None
        body = bytes(buffer[start : start + length])
        del buffer[: start + length]
        path, _, query = target.partition("?")
        return Request(method, path, query, headers, body)

    def _serve_buffered(self) -> None:
        while self._transport is not None and self._task is None:
            try:
                request = self._parse()
            except ValueError as exc:
                self._transport.write(_bad_request(str(exc)))
                self._transport.close()
                return
            if request is None:
                if self._eof:
                    self._transport.close()
                return
            try:
                action = self._handler(request)
            except Exception as exc:  # a bug in the fake must fail the test, not hang it
                body = f"fake provider error: {exc!r}".encode()
                head = response_head(500, [("connection", "close")], length=len(body))
                action = Action(head=head, body=body, end=End.CLOSE)
            if request.headers.get("connection", "").lower() == "close" and action.end is End.KEEP:
                action.end = End.CLOSE
            if action.delay or action.pace:
                self._task = asyncio.get_running_loop().create_task(self._carry_out_later(action))
                return
            self._carry_out(action)

    def _carry_out(self, action: Action) -> None:
        transport = self._transport
        if transport is None:
            return
        if action.end is End.RESET:
            self._reset(transport)
        elif action.events is None:
            transport.write(action.head + action.body)
        else:
            transport.write(action.head + frame(action.events, complete=action.end is not End.CUT))
        if action.end in (End.CLOSE, End.CUT):
            transport.close()

    async def _carry_out_later(self, action: Action) -> None:
        try:
            await asyncio.sleep(action.delay)
            transport = self._transport
            if action.pace and action.events is not None and transport is not None:
                transport.write(action.head)
                for event in action.events:
                    if self._transport is None:
                        return
                    transport.write(_chunk(event))
                    await asyncio.sleep(action.pace)
                action.head, action.events = b"", ()
            self._carry_out(action)
        finally:
            self._task = None
        self._serve_buffered()

    @staticmethod
    def _reset(transport: asyncio.Transport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:  # linger 0: close() sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
