"""Who reads which language: languages without a message catalogue, and texts their readers will not find.

A delegate reads their own ``language`` (the YAML's, else their state's); the notices come from the
message catalogue of that language, and the commission's own texts (session titles, agenda items, venues)
from the text in that language, else in the commission's working language, else any. Both checks speak of
what delegates will see: a language nobody can be written to in is an error, a text a reader gets in
another language is a warning, one per session (or one for the commission) at the first such text, naming
them all. The
commission's ``languages`` are the ones its texts are written in: only a text missing one of those is
warned of (a delegate who reads Kazakh in a commission that writes Russian and English gets the Kazakh
notices with the Russian titles, as intended).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping

from domain.model import Commission, Delegate, Model, Session
from domain.values import ANY_LANGUAGE

Path = tuple[str | int, ...]
_Problem = tuple[Path, str]

_NAMED_UP_TO = 4
"""How many texts a warning names before it says how many more."""


def served(language: str, catalogues: Collection[str]) -> bool:
    """True when the messages can be written in this language (or in its base: ``ru`` for ``ru_KZ``)."""
    return language in catalogues or language.split("_", 1)[0] in catalogues


def unserved(
    commission: Commission,
    languages: Iterable[tuple[Path, str]],
    catalogues: Collection[str],
) -> Iterator[_Problem]:
    """An error for each language given (commission's, states', delegates') that has no message catalogue."""
    listed = ", ".join(sorted(catalogues))
    paths = [(("commission", "languages", i), code) for i, code in enumerate(commission.languages)]
    for path, code in [*paths, *languages]:
        if not served(code, catalogues):
            yield (
                path,
                (
                    f"there is no message catalogue for {code!r}, so no notice can be written in it (catalogues: "
                    f"{listed}); add messages/locale/{code}/LC_MESSAGES/messages.po (docs/translations.md) or "
                    "choose one of those"
                ),
            )


def _readers(delegates: Iterable[Delegate], written: Collection[str]) -> dict[str, int]:
    """How many delegates read each of the languages the commission writes its texts in."""
    counts: dict[str, int] = defaultdict(int)
    for delegate in delegates:
        if served(delegate.language, written):
            counts[delegate.language] += 1
    return counts


def _lacks(text: Mapping[str, str], language: str) -> bool:
    return ANY_LANGUAGE not in text and language not in text and language.split("_", 1)[0] not in text


def _fallback(text: Mapping[str, str], commission: Commission) -> str:
    return commission.language if commission.language in text else next(iter(text))


def missing_texts(
    commission: Commission,
    sessions: Mapping[str, Session],
    invitations: Mapping[str, tuple[str, ...]],
    delegates: Mapping[str, Delegate],
    paths: Mapping[str, Path],
) -> Iterator[_Problem]:
    """A warning per session (and for the commission) whose texts lack a language some of its readers read."""
    written = commission.languages
    everyone = _readers(delegates.values(), written)
    found, first = _gaps(commission, everyone, commission)
    if first is not None:
        yield ("commission", *first), _message("the commission's texts", found, everyone)
    for session_id, session in sessions.items():
        readers = _readers((delegates[d] for d in invitations.get(session_id, ()) if d in delegates), written)
        found, first = _gaps(session, readers, commission)
        if first is not None:
            yield (*paths[session_id], *first), _message(f"session {session_id!r}", found, readers)


def _gaps(
    model: Model, readers: Mapping[str, int], commission: Commission
) -> tuple[dict[str, list[tuple[str, str]]], Path | None]:
    """Language → (text's path, the language it falls back to) for each text lacking it; the first such text."""
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    first: Path | None = None
    for path, text in model.texts():
        if ANY_LANGUAGE in text:
            continue
        for language in readers:
            if _lacks(text, language):
                found[language].append((_dotted(path), _fallback(text, commission)))
                first = path if first is None else first
    return found, first


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _message(whose: str, found: Mapping[str, list[tuple[str, str]]], readers: Mapping[str, int]) -> str:
    parts = []
    for language, texts in sorted(found.items()):
        names = [name for name, _ in texts]
        shown = ", ".join(names[:_NAMED_UP_TO]) + (
            f" and {len(names) - _NAMED_UP_TO} more" if len(names) > _NAMED_UP_TO else ""
        )
        fallbacks = ", ".join(sorted({repr(f) for _, f in texts}))
        count = readers[language]
        who = "1 reader" if count == 1 else f"{count} readers"
        parts.append(f"no {language!r} text for {who} in {shown} (they get the {fallbacks} text)")
    return f"{whose}: " + "; ".join(parts)
