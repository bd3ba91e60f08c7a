"""What keeps the server up under hostile or careless clients, below the routes:

- `BodyLimit`: an ASGI middleware that refuses a request body over the limit while it is read (from its
  Content-Length at once, else as the bytes arrive), so a 300 MB upload is never spooled to disk; and a
  body that stalls for BODY_TIMEOUT_S between chunks gets 408;
- `JobQueue`: at most `size` refinements waiting or running, one running at a time; a request past that is
  answered 503 at once, and a waiting job whose client went away, or whose server is stopping, is dropped;
- `HeaderTimeoutH11`: uvicorn's h11 connection, closed when its request line and headers are not complete
  within HEADER_TIMEOUT_S of the connection opening (uvicorn's own keep-alive timeout covers the time
  between requests).
"""

from __future__ import annotations

import asyncio
import json

BODY_TIMEOUT_S = 30.0
HEADER_TIMEOUT_S = 10.0
MULTIPART_SLACK = 64 * 1024  # the form's other fields and boundaries, beside the image itself


async def _send_error(send, status: int, message: str, headers: list | None = None) -> None:
    body = json.dumps({"detail": message}).encode()  # as FastAPI words its own refusals
    extra = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": extra + (headers or [])})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware: request bodies of at most `limit` bytes, read without stalling."""

    def __init__(self, app, limit: int, timeout_s: float = BODY_TIMEOUT_S):
        self.app, self.limit, self.timeout_s = app, limit, timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = f"request too large: the limit is {self.limit / 1024 / 1024:g} MB"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await _send_error(send, 413, too_large, [(b"connection", b"close")])
        seen, started, refused = 0, False, None

        async def limited_receive():
            # Past the limit, or stalled, the app is told the client left (it stops reading), and its own
            # answer is replaced by ours.
            nonlocal seen, refused
            if refused is not None:
                return {"type": "http.disconnect"}
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                refused = (408, f"the request body stalled for {self.timeout_s:g} s")
                return {"type": "http.disconnect"}
            seen += len(message.get("body", b""))
            if seen > self.limit:
                refused = (413, too_large)
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal started
            if refused is not None:
                if not started:
                    started = True
                    await _send_error(send, *refused, [(b"connection", b"close")])
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if refused is None:
                raise
        if refused is not None and not started:
            await _send_error(send, *refused, [(b"connection", b"close")])


class JobQueue:
    """At most `size` jobs admitted (waiting or running), one running at a time."""

    def __init__(self, size: int):
        self.size, self.admitted, self.closing = size, 0, False
        self._running = asyncio.Lock()

    def admit(self) -> bool:
        """Take a place in the queue, or return False when it is full (or the server is stopping)."""
        if self.closing or self.admitted >= self.size:
            return False
        self.admitted += 1
        return True

    def leave(self) -> None:
        self.admitted -= 1

    async def run(self, work, gone) -> object:
        """Wait for the running slot, then run `work` (a blocking callable) in a thread; return its result,
        or None where `gone()` (awaitable: the client left) or the server's stopping ends the wait first."""
        from starlette.concurrency import run_in_threadpool

        while True:
            try:
                await asyncio.wait_for(self._running.acquire(), 0.25)
                break
            except TimeoutError:
                if self.closing or await gone():
                    return None
        try:
            if self.closing or await gone():
                return None
            return await run_in_threadpool(work)
        except asyncio.CancelledError:  # the server stopped while it ran: its result goes nowhere
            return None
        finally:
            self._running.release()


def header_timeout_protocol(timeout_s: float = HEADER_TIMEOUT_S):
    """Return uvicorn's h11 protocol class that closes a connection whose first request's headers are not in
    within timeout_s (None where uvicorn's h11 protocol is not there)."""
    try:
        from uvicorn.protocols.http.h11_impl import H11Protocol
    except ImportError:
        return None

    class HeaderTimeoutH11(H11Protocol):
        def connection_made(self, transport):
            super().connection_made(transport)
            self._header_timer = self.loop.call_later(timeout_s, self._headers_late)

        def handle_events(self):
            super().handle_events()
            if self.cycle is not None and self._header_timer is not None:  # the first request's headers are in
                self._header_timer.cancel()
                self._header_timer = None

        def connection_lost(self, exc):
            if self._header_timer is not None:
                self._header_timer.cancel()
            super().connection_lost(exc)

        def _headers_late(self):
            self._header_timer = None
            if self.cycle is None and not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutH11
