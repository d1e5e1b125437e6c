"""The gettext catalogues: one ``.po`` file per language, read with Babel when a language is first used.

The catalogues live where Babel, Poedit, Weblate and Crowdin look for them:
``messages/locale/<language>/LC_MESSAGES/messages.po``, extracted into ``messages/locale/messages.pot`` by
``pybabel extract -F babel.cfg`` from the templates and this package's Python. A language is served when
its ``.po`` file is there: adding a language is adding that file. Each is read from the ``.po`` itself
(no compiled ``.mo`` to keep in step with it): Babel parses it and builds the gettext tables in memory,
once per process and language (``python -m benchmarks.render`` prints how long that takes). Entries marked
fuzzy are left out, as ``msgfmt`` leaves them out, so a half-reviewed translation falls back to English.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

DOMAIN = "messages"
"""The gettext domain: ``<language>/LC_MESSAGES/messages.po``."""


@dataclass(frozen=True, slots=True)
class Catalogue:
    """One language's translations and the Babel locale its dates and numbers are formatted in."""

    language: str
    translations: Translations
    locale: Locale


def _root() -> Traversable:
    return resources.files("messages").joinpath("locale")


def _po(language: str) -> Traversable:
    return _root().joinpath(language, "LC_MESSAGES", f"{DOMAIN}.po")


@cache
def languages() -> tuple[str, ...]:
    """The languages that have a catalogue, sorted."""
    return tuple(sorted(child.name for child in _root().iterdir() if child.is_dir() and _po(child.name).is_file()))


def read(language: str) -> Catalog:
    """The catalogue of a language as Babel reads it (for the checks and the tools as well)."""
    with _po(language).open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN, abort_invalid=True)


@cache
def catalogue(language: str) -> Catalogue:
    """A language's catalogue, made into gettext tables once per process; KeyError for a language without one."""
    if language not in languages():
        raise KeyError(language)
    catalog = read(language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    translations = Translations(compiled, domain=DOMAIN)
    # The header's Language names the locale dates are written in ("en_GB" for British English).
    return Catalogue(language, translations, catalog.locale or Locale.parse(language))


def nearest(language: str, *fallbacks: str) -> str | None:
    """The first language with a catalogue among ``language`` (``ru_KZ``, ``ru-RU``), its base (``ru``) and
    the fallbacks, in that order; None when none has one."""
    served = languages()
    base = language.replace("-", "_").split("_", 1)[0]
    return next((candidate for candidate in (language, base, *fallbacks) if candidate in served), None)
