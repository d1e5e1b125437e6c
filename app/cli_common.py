"""What the commands of the command line share: the configuration's paths, read and checked once."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from config.loader import LoadResult, load
from config.settings import Settings
from messages import catalogues

PathsArg = Annotated[
    list[str],
    typer.Argument(help="YAML files or directories (read recursively); together they form one configuration."),
]


def load_or_exit(paths: list[str]) -> LoadResult:
    """Load and check the configuration, printing every problem; exit 1 (changing nothing) on an error."""
    result = load(paths, os.environ, catalogues.languages())
    for problem in result.problems:
        typer.echo(str(problem), err=problem.severity == "warning" and result.deployment is not None)
    if result.deployment is None:
        errors, warnings = len(result.errors), len(result.warnings)
        typer.echo(
            f"{errors} error(s), {warnings} warning(s) in {len(result.files)} file(s): nothing was changed.", err=True
        )
        raise typer.Exit(1)
    return result


async def bot_username(settings: Settings) -> str | None:
    """The bot's @username from Telegram (getMe), when only the token is set; None without a token."""
    if settings.telegram_bot_token is None:
        return None
    from telegram import Bot
    from telegram.error import TelegramError

    from integrations.telegram.request import AiohttpRequest

    token = settings.telegram_bot_token.get_secret_value()
    base_url = settings.telegram_api_url or "https://api.telegram.org/bot"
    bot = Bot(token, base_url=base_url, request=AiohttpRequest(1), get_updates_request=AiohttpRequest(1))
    try:
        async with bot:
            return bot.username
    except TelegramError as exc:  # the token is not repeated: PTB's message could carry it
        raise typer.BadParameter(f"Telegram did not answer getMe ({type(exc).__name__}): check the token") from None
