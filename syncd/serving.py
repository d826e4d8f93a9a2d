"""Serve an ASGI app (the page server, a vendor sandbox) with uvicorn inside the caller's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator, Mapping
from types import TracebackType

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

STARTUP_TIMEOUT = 10.0


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves process-wide state alone and says when it is listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn >= 0.29 wraps serve() in this and installs SIGINT/SIGTERM handlers; the
        # host process (pytest, the daemon, a benchmark) owns its signals, so install none.
        yield

    def install_signal_handlers(self) -> None:
        # The same hook under its pre-0.29 name.
        return None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


def h11_protocol(headers: Mapping[str, str]) -> type[H11Protocol]:
    """uvicorn's h11 protocol, with ``headers`` also on the 400 it writes itself.

    A request h11 cannot parse (a NUL in the target, an oversized or malformed head, bytes
    past a lying Content-Length) never reaches the app, so no middleware can stamp it.
    """
    extra = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]

    class HeaderedH11Protocol(H11Protocol):
        def send_400_response(self, msg: str) -> None:
            event = h11.Response(status_code=400, reason=b"Bad Request", headers=[
                (b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close"), *extra])
            self.transport.write(self.conn.send(event))
            self.transport.write(self.conn.send(h11.Data(data=msg.encode("ascii"))))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
            self.transport.close()

    return HeaderedH11Protocol


class AppServer:
    """``async with AppServer(app) as server:`` serves ``app`` at ``server.url`` until the block ends.

    With ``error_headers``, the answers the HTTP layer gives on its own (400 for a request
    it cannot parse) carry those headers too; the app's own answers are the app's business.
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0, *,
                 error_headers: Mapping[str, str] | None = None) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.error_headers = dict(error_headers or {})
        self.url = ""
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AppServer:
        """Bind the socket (port 0 picks a free one), start serving, and wait until listening."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        host = f"[{self.host}]" if family == socket.AF_INET6 else self.host
        self.url = f"http://{host}:{self.port}"
        config = uvicorn.Config(
            self.app,
            log_config=None,  # never reconfigure the host's logging
            access_log=False,
            # Sandboxes have no startup hooks, and uvicorn turns a failed lifespan startup into
            # sys.exit(), which would escape the task and stop the caller's event loop.
            lifespan="off",
            timeout_graceful_shutdown=5,
            # h11 always (never httptools, should it be installed): the one parser whose own
            # error answers are known and carry error_headers.
            http=h11_protocol(self.error_headers),
        )
        self._server = _EmbeddedServer(config)
        # We bound the socket ourselves, so the port is known before uvicorn starts.
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name=f"app-server:{self.port}")
        ready = asyncio.create_task(self._server.ready.wait())
        done, _ = await asyncio.wait({ready, self._task}, timeout=STARTUP_TIMEOUT,
                                     return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if self._task in done:
                sock.close()
                self._task.result()  # re-raise why serving stopped
                raise RuntimeError(f"server on {self.url} stopped before it was ready")
            await self._stop()
            raise TimeoutError(f"server on {self.url} not ready after {STARTUP_TIMEOUT} s")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop accepting, let in-flight requests finish, and wait for the server task."""
        await self._stop()

    async def _stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
