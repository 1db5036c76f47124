"""A server on 127.0.0.1 that answers 200 at once and then never finishes in time: it keeps a
stream alive with SSE comments, or sends a JSON body one byte at a time (or, with `head=True`,
never finishes the response head: a header byte at a time). Per-read timeouts never fire on any
of them; only a wall-clock deadline stops them. Each answer gives up after `patience`
seconds (a stream then ends without any event), so that a router without deadlines fails the
tests instead of hanging them."""

from __future__ import annotations

import contextlib
import json
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import chat_json

BODY = json.dumps(chat_json("Hello there, this is a complete answer.")).encode()


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            data = self.request.recv(65536)
            if not data:
                return
            head += data
        headers, _, body = head.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in headers.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            body += self.request.recv(65536)
        with contextlib.suppress(OSError):  # the client gave up: what these tests want
            if self.server.head:
                self._trickle_head()
            elif b'"stream":true' in body.replace(b" ", b""):
                self._comments()
            else:
                self._trickle()

    def _trickle_head(self) -> None:
        self.request.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-pad: ")
        until = time.monotonic() + self.server.patience
        while time.monotonic() < until:
            self.request.sendall(b"a")
            time.sleep(0.02)

    def _comments(self) -> None:
        self.request.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                             b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n")
        until = time.monotonic() + self.server.patience
        while time.monotonic() < until:
            self.request.sendall(b"e\r\n: keep-alive\n\n\r\n")
            time.sleep(0.05)
        self.request.sendall(b"0\r\n\r\n")

    def _trickle(self) -> None:
        self.request.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\nconnection: close\r\n\r\n" % len(BODY))
        pace = self.server.patience / len(BODY)
        for byte in BODY:
            self.request.sendall(bytes([byte]))
            time.sleep(pace)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, patience: float, head: bool) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.patience = patience
        self.head = head

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def stalling_server(patience: float = 6.0, *, head: bool = False) -> Iterator[_Server]:
    server = _Server(patience, head)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
