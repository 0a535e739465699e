"""The local WebSocket echo server every benchmark probes.

It runs in a process of its own, so only the client's CPU is measured, and stops when
its stdin closes (or on SIGTERM).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

SCRIPT = """
import asyncio, sys
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass  # a client killed mid-probe (benchmarks stop their clients abruptly)

async def main():
    async with serve(echo, "127.0.0.1", 0, compression=None, backlog=2048) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


@contextlib.contextmanager
def echo_server() -> Iterator[int]:
    """Start the server; yield its port on 127.0.0.1; stop it."""
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
