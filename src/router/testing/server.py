"""Run the fake provider as a process: ``python -m router.testing.server --port 0``.

The first stdout line is the OpenAI base URL (``http://127.0.0.1:PORT/v1``); it serves until
SIGINT or SIGTERM. Script it with :class:`router.testing.RemoteFakeProvider`.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from router.testing.app import start_server
from router.testing.state import ProviderState, Settings

__all__ = ["main"]


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m router.testing.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default): any free port")
    parser.add_argument("--output-tokens", type=int, default=8)
    parser.add_argument("--cached-tokens", type=int, default=0)
    parser.add_argument("--api-key", default=None, help="when set, other keys get 401")
    parser.add_argument("--flavor", choices=["openai", "mistral"], default=None)
    parser.add_argument("--log-limit", type=int, default=10_000, help="requests kept in the log")
    return parser.parse_args(argv)


async def _serve_until_signalled(args: argparse.Namespace) -> None:
    settings = Settings(
        output_tokens=args.output_tokens,
        cached_tokens=args.cached_tokens,
        api_key=args.api_key,
        flavor=args.flavor,
        log_limit=args.log_limit,
    )
    server, connections = await start_server(
        ProviderState(settings), host=args.host, port=args.port
    )
    port = server.sockets[0].getsockname()[1]
    print(f"http://{args.host}:{port}/v1", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()
        server.close()
        for connection in list(connections):
            connection.abort()


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; the first stdout line is the OpenAI base URL."""
    asyncio.run(_serve_until_signalled(_parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
