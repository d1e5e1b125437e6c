"""python-telegram-bot's HTTP requests over aiohttp, the project's one HTTP client (docs/architecture.md).

python-telegram-bot speaks to the Bot API through a ``BaseRequest``; with its own, ``HTTPXRequest``, the bot
spent about a sixth more time per answer press (``python -m benchmarks.bot_updates``): httpcore scans its whole
pool on every request and checks each idle connection's socket. This one
posts the parameters form-encoded as python-telegram-bot's own does (multipart when a file goes with them)
through an aiohttp ``ClientSession``, and turns aiohttp's failures into python-telegram-bot's ``TimedOut`` /
``NetworkError`` with the aiohttp exception as the cause, so that a caller can tell a request that never left
from one that may have arrived (``request_left``). No message of it carries the URL: the URL holds the token.
"""

from __future__ import annotations

import re

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_TOKEN_IN_URL = re.compile(r"/bot[^/\s'\"]+")
_FORM = {"Content-Type": "application/x-www-form-urlencoded"}

NOT_SENT: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectorError,  # refused, unreachable, DNS, TLS handshake, proxy: nothing was written
    aiohttp.ConnectionTimeoutError,  # no free connection in the pool in time, or no connection made in time
    aiohttp.InvalidURL,
)
"""aiohttp failures raised before any byte of the request was written: the request never left."""


_WORDS: tuple[tuple[type[BaseException], str], ...] = (
    (aiohttp.ClientConnectorError, "could not connect"),
    (aiohttp.ConnectionTimeoutError, "no free or new connection in time"),
    (aiohttp.SocketTimeoutError, "no answer in time"),
    (TimeoutError, "timed out"),
    (aiohttp.ServerDisconnectedError, "the connection was closed"),
    (aiohttp.ClientPayloadError, "the answer was cut short"),
    (aiohttp.ClientOSError, "the connection failed"),
)


def failure(cause: BaseException) -> str:
    """A failed request's cause in a few words, with the exception's type: for a delivery's reason."""
    words = next((w for kind, w in _WORDS if isinstance(cause, kind)), "the request failed")
    return f"{words}, {type(cause).__name__}"


def request_left(cause: BaseException | None) -> bool:
    """Whether a request that failed with ``cause`` (a ``NetworkError``'s ``__cause__``) may have reached the
    Bot API: False only for the failures that happen before anything is written."""
    return not isinstance(cause, NOT_SENT)


class AiohttpRequest(BaseRequest):
    """A ``BaseRequest`` with its own pool of at most ``connections`` connections to the Bot API."""

    __slots__ = ("_connections", "_session", "_timeouts")

    def __init__(
        self,
        connections: int = 64,
        *,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self._connections = connections
        self._timeouts = (read_timeout, write_timeout, connect_timeout, pool_timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout (python-telegram-bot adds it to a long poll's own)."""
        return self._timeouts[0]

    async def initialize(self) -> None:
        """Open the session (again, after a shutdown)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections, enable_cleanup_closed=True)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
        write_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
        connect_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
        pool_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Make one request; the status and the body of the answer."""
        if self._session is None or self._session.closed:
            raise RuntimeError("this AiohttpRequest is not initialised")
        read, write, connect, pool = (
            default if given is BaseRequest.DEFAULT_NONE else given
            for given, default in zip(
                (read_timeout, write_timeout, connect_timeout, pool_timeout), self._timeouts, strict=True
            )
        )
        files = request_data is not None and request_data.contains_files
        # aiohttp has no write timeout: a file's upload is bounded by a total of the write and the read timeouts.
        total = _sum(write, read) if files else None
        timeout = aiohttp.ClientTimeout(
            total=total, connect=_sum(pool, connect), sock_connect=_seconds(connect), sock_read=_seconds(read)
        )
        body: aiohttp.FormData | bytes | None = None
        headers = None
        if files and request_data is not None:
            body = _multipart(request_data)
        elif request_data is not None and request_data.parameters:
            # What HTTPXRequest sends too: the parameters form-encoded, nested ones as JSON text.
            body, headers = request_data.url_encoded_parameters().encode(), _FORM
        try:
            async with self._session.request(method, url, data=body, headers=headers, timeout=timeout) as answer:
                return answer.status, await answer.read()
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutErrors (asyncio's too, on Python 3.11)
            raise TimedOut(f"Timed out ({type(exc).__name__})") from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {_without_token(str(exc))}") from exc


def _multipart(request_data: RequestData) -> aiohttp.FormData:
    form = aiohttp.FormData(list(request_data.json_parameters.items()))
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form


def _seconds(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _sum(*values: object) -> float | None:
    parts = [_seconds(v) for v in values]
    return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)


def _without_token(text: str) -> str:
    return _TOKEN_IN_URL.sub("/bot<token>", text)[:300]


def bot_requests(handled_at_once: int = 64) -> tuple[AiohttpRequest, AiohttpRequest]:
    """The bot Application's requests: a connection for each update handled at once, and one for getUpdates."""
    return AiohttpRequest(handled_at_once), AiohttpRequest(1)
