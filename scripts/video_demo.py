"""The demo's video half: the example's XVIII meeting (held entirely by videoconference, on BigBlueButton) played
against the BigBlueButton test double at 240 times real speed, then its attendance printed as ``plenary
attendance`` prints it.

Plenary runs as it would in production: its HTTP server takes each delegate's ``/join/<token>`` link to the
double's meeting under their own identity, registers its webhook there, and records the double's signed
``user-joined``/``user-left`` callbacks; the reconciliation catches a leave whose webhook was lost. Only the
platform is a double (tests/doubles/bigbluebutton.py), and the meeting's server address is pointed at it.

    python scripts/video_demo.py      # into the database of the settings (PLENARY_DATA_DIR, PLENARY_DATABASE_URL)
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import sys
from datetime import timedelta
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.attendance_cli import table_lines  # noqa: E402
from app.bootstrap import Services, bootstrap  # noqa: E402
from app.clock import SimulatedClock  # noqa: E402
from config.loader import load  # noqa: E402
from config.settings import Settings  # noqa: E402
from integrations.video import providers  # noqa: E402
from messages.pages import WebPages  # noqa: E402
from storage.engine import create_engine  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.repositories import Store  # noqa: E402
from tests.doubles.bigbluebutton import Attendee, BigBlueButtonServer, bigbluebutton_server  # noqa: E402
from web.app import Metrics, create_app  # noqa: E402

SESSION = "icmec-xviii"
SPEED = 240.0
"""Simulated seconds per real second: the three-hour meeting in three quarters of a minute."""
LATE = {"tjk-deputy": 50, "kgz-osmonov": 100}
"""Who joins late, minutes after the start."""
AWAY = ("arm-deputy", "blr-deputy", "kgz-tokoev", "kgz-sydykova")
"""Who never joins."""


async def play() -> int:
    """Play XVIII's meeting and print its attendance; 0 when the table came out."""
    result = load([str(ROOT / "config" / "examples")], os.environ)
    assert result.deployment is not None, [str(p) for p in result.errors]
    url = Settings().resolved_database_url()
    await upgrade(url)
    store = Store(create_engine(url))
    session = result.deployment.sessions[SESSION]
    clock = SimulatedClock(session.starts_at - timedelta(minutes=5), SPEED)
    async with bigbluebutton_server(
        os.environ["ICMEC_BBB_SECRET"], clock=lambda: int(clock.now().timestamp() * 1000)
    ) as bbb:
        assert session.video is not None
        video = session.video.model_copy(update={"url": f"{bbb.base_url}/bigbluebutton/"})
        here = session.model_copy(update={"video": video})
        deployment = dataclasses.replace(result.deployment, sessions={**result.deployment.sessions, SESSION: here})
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        public = f"http://127.0.0.1:{sock.getsockname()[1]}"
        services = bootstrap(
            Settings(public_url=public), clock, store=store, channels={}, video_providers=providers(public, store.video)
        )
        services.configuration.put(deployment)
        services.roster.base = deployment
        app = create_app(services.health, Metrics(), services.feeds, video=(services.video, WebPages()))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        try:
            await _meeting(services, bbb, clock, public, deployment.invitations[SESSION])
            table = await services.attendance.table(SESSION)
            kept = await services.summaries.keep(SESSION)  # as `plenary summary icmec-xviii --keep` keeps it
            summary = await services.summaries.compose(SESSION)
            english = services.summaries.render(summary, "md", "en").decode()
        finally:
            await runner.cleanup()
            for provider in services.video.providers.values():
                await provider.close()
            await store.engine.dispose()
    assert table is not None
    print("\nThe XVIII meeting (videoconference, BigBlueButton double), as `plenary attendance` shows it:\n")
    print("\n".join(table_lines(table, deployment)))
    folder = Path(next(iter(kept.files.values()))).parent
    print(f"\nIts summary (Markdown, HTML, JSON, the PDF annex, the chart) is kept in {folder}; it begins:\n")
    print("\n".join(english.splitlines()[:12]))
    return 0


async def _meeting(
    services: Services, bbb: BigBlueButtonServer, clock: SimulatedClock, public: str, invited: tuple[str, ...]
) -> None:
    """Who joins when, who leaves, a guest, a lost webhook, the end."""
    start = clock.now() + timedelta(minutes=5)

    async def until(minutes: float) -> None:
        await asyncio.sleep(clock.real_seconds_until(start + timedelta(minutes=minutes)))

    async with aiohttp.ClientSession() as client:

        async def join(delegate: str) -> Attendee:
            async with client.get(await services.video.url(delegate, SESSION), allow_redirects=False) as response:
                location = response.headers["Location"]
            return await bbb.open_join_url(location)

        await services.video.keep_up(public)  # the webhook registered with the platform
        await until(0)
        on_call = {d: await join(d) for d in invited if d not in AWAY and d not in LATE}
        await bbb.join_guest(SESSION, "Guest (dial-in)")
        await until(20)
        await bbb.leave(on_call.pop("kaz-deputy"))  # leaves after twenty minutes: "joined briefly"
        await until(40)
        await bbb.leave(on_call["rus-deputy"])  # a dropped connection, and back
        await until(45)
        on_call["rus-deputy"] = await join("rus-deputy")
        for delegate, minutes in LATE.items():
            await until(minutes)
            on_call[delegate] = await join(delegate)
        await until(150)
        bbb.drop("user-left")  # this leave's webhook is lost: the reconciliation sees them gone
        await bbb.leave(on_call.pop("kgz-mamytova"))
        await services.video.keep_up(public)
        await until(179)
        await bbb.end_meeting(SESSION)
        await bbb.settle()
        await until(181)


if __name__ == "__main__":
    sys.exit(asyncio.run(play()))
