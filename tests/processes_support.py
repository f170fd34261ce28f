"""Starting and stopping real app and worker processes in tests (several processes on
one PostgreSQL: tests/test_processes.py, tests/test_nginx.py, tests/sms/)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import httpx

START_SECONDS = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_ready(url: str, process: asyncio.subprocess.Process) -> None:
    """Until the app process at ``url`` answers ``/readyz`` (it exiting first is an error)."""
    deadline = time.monotonic() + START_SECONDS
    async with httpx.AsyncClient() as probe:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"{url} exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await probe.get(f"{url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.3)
    raise TimeoutError(f"{url} did not start")


async def wait_line(process: asyncio.subprocess.Process, text: str) -> None:
    """Until the process prints a line containing ``text`` on its standard output."""
    assert process.stdout is not None
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), START_SECONDS)
        if not line:
            raise RuntimeError(f"the process exited before saying {text!r}")
        if text in line.decode(errors="replace"):
            return


async def drain(stream: asyncio.StreamReader | None) -> None:
    """Keep reading a child's output so a full pipe never blocks it."""
    if stream is not None:
        while await stream.readline():
            pass


async def stop_all(processes: list[asyncio.subprocess.Process], readers: list[asyncio.Task[None]]) -> None:
    """Terminate the processes (killed after 20 s) and stop reading their output."""
    for process in processes:
        if process.returncode is None:
            process.terminate()
    for process in processes:
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
