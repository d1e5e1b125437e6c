"""The video platforms, each implementing ``domain.ports.VideoProvider``: a personal way into a session's meeting,
the platform's webhooks checked over their raw bytes and read as ``VideoEvent`` facts, and who it says is on the
call now.

* ``static``: one link for everyone, nothing read (:mod:`integrations.video.static`).
* ``bigbluebutton``: bbb-web's signed API and bbb-webhooks' callbacks (:mod:`integrations.video.bigbluebutton`).
* ``jitsi``: a JWT per delegate for Prosody's token auth, the ``event_sync`` module's POSTs
  (:mod:`integrations.video.jitsi`).
* ``zoom``: a server-to-server OAuth app's meetings and registrants, Zoom's signed webhooks
  (:mod:`integrations.video.zoom`).

Every provider speaks HTTP through one aiohttp ``ClientSession`` of its own, opened on first use and closed by
``close()``. A platform that cannot be reached, or that answers with an error, raises :class:`VideoUnavailable`,
whose words name no secret and no signed URL.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from domain.ports import VideoProvider, VideoState

TIMEOUT = aiohttp.ClientTimeout(total=15, sock_connect=5)
"""How long a platform's API gets to answer one request."""

_WORDS: tuple[tuple[type[BaseException], str], ...] = (
    (aiohttp.ClientConnectorError, "could not connect"),
    (aiohttp.ConnectionTimeoutError, "no connection in time"),
    (aiohttp.SocketTimeoutError, "no answer in time"),
    (TimeoutError, "timed out"),
    (aiohttp.ServerDisconnectedError, "the connection was closed"),
    (aiohttp.ClientPayloadError, "the answer was cut short"),
    (aiohttp.ContentTypeError, "the answer was not JSON"),
    (aiohttp.ClientOSError, "the connection failed"),
)


class VideoUnavailable(Exception):
    """A video platform could not do what was asked (unreachable, or it answered with an error).

    ``reason`` is in words, for the log and the secretariat: never a secret, a token or a signed URL.
    """

    def __init__(self, provider: str, reason: str) -> None:
        super().__init__(f"{provider} is unavailable: {reason}")
        self.provider = provider
        self.reason = reason


def failure(cause: BaseException) -> str:
    """A failed request's cause in a few words, with the exception's type (never its message: it holds the URL)."""
    words = next((w for kind, w in _WORDS if isinstance(cause, kind)), "the request failed")
    return f"{words} ({type(cause).__name__})"


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the case of its name in ``headers`` (a plain dict or a multidict)."""
    value = headers.get(name)
    if value is not None or not isinstance(headers, dict):  # aiohttp's multidict: its lookup ignores case
        return value
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


class Http:
    """One aiohttp ``ClientSession`` for a provider, opened on first use, closed by :meth:`close`."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The open session (opened again after a close)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT, headers={"User-Agent": "Plenary"})
        return self._session

    async def close(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def providers(
    public_url: str,
    state: VideoState,
    *,
    zoom_oauth_url: str = "https://zoom.us/oauth/token",
    zoom_api_url: str = "https://api.zoom.us/v2",
) -> dict[str, VideoProvider]:
    """One provider of each kind, by the name sessions' ``video.provider`` gives it.

    ``public_url`` is where the platforms reach this service (BigBlueButton's callbacks are signed over the URL
    under it); ``state`` keeps meeting ids and registrants between calls and processes. The Zoom URLs are for
    tests.
    """
    from integrations.video.bigbluebutton import BigBlueButtonProvider
    from integrations.video.jitsi import JitsiProvider
    from integrations.video.static import StaticProvider
    from integrations.video.zoom import ZoomProvider

    made: list[VideoProvider] = [
        StaticProvider(),
        BigBlueButtonProvider(public_url, state),
        JitsiProvider(),
        ZoomProvider(state, oauth_url=zoom_oauth_url, api_url=zoom_api_url),
    ]
    return {provider.name: provider for provider in made}
