"""The whole deployment, and the rules that check it and say who is invited where."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from difflib import get_close_matches
from functools import cached_property
from typing import Any, Literal

from domain.languages import missing_texts, unserved
from domain.model import (
    Agency,
    Commission,
    Delegate,
    Delegation,
    Model,
    NotificationPolicy,
    Role,
    Session,
    SessionFormat,
    SessionSpec,
    State,
)
from domain.overlaps import overlaps
from domain.values import ANY_LANGUAGE, local_time_problem, needs_smtputf8, shown

_SMTPUTF8 = (
    "the part before the @ is not ASCII: a notice to this address can only be sent through an SMTP server "
    "that offers SMTPUTF8"
)

Path = tuple[str | int, ...]
"""Where in the merged configuration a problem lies: section, index, keys and indices."""


def format_path(path: Path) -> str:
    """Render a path as ``sessions[2].invited.agencies[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = str(part)
            out += ("." if out else "") + (key if len(key) <= 40 else key[:32] + "…" + key[-4:])
    return out


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong (an error) or suspicious (a warning) in the configuration."""

    path: Path
    message: str
    severity: Literal["error", "warning"] = "error"
    first: Path | None = None
    """For a duplicate: where the first one is."""


REVIEW_NEEDS_ADMINS = "a summary to review goes to the secretariat's accounts: give secretariat.telegram_admins"


@dataclass
class Draft:
    """The pieces of a configuration that passed validation on their own, with their positions."""

    commission: Commission | None = None
    states: list[tuple[int, State]] = field(default_factory=list)
    delegations: list[tuple[int, Delegation]] = field(default_factory=list)
    sessions: list[tuple[int, SessionSpec]] = field(default_factory=list)
    broken_ids: set[str] = field(default_factory=set)
    """Ids of items that failed validation: references to them are not reported again."""
    incomplete: bool = False
    """Part of the configuration could not be read at all: unknown references are not reported."""


@dataclass(frozen=True)
class Deployment:
    """A checked configuration: the commission, its states, delegates and sessions, resolved."""

    commission: Commission
    states: dict[str, State]
    agencies: dict[tuple[str, str], Agency]
    delegates: dict[str, Delegate]
    sessions: dict[str, Session]
    invitations: dict[str, tuple[str, ...]]
    """Session id → ids of the delegates invited, in a stable order."""

    @cached_property
    def _invited(self) -> dict[str, frozenset[str]]:
        return {session_id: frozenset(ids) for session_id, ids in self.invitations.items()}

    def is_invited(self, session_id: str, delegate_id: str | None) -> bool:
        """Whether the delegate is invited to the session (in constant time: ``invitations`` keeps an order)."""
        invited = self._invited.get(session_id)
        return invited is not None and delegate_id in invited

    def delegate_label(self, delegate_id: str) -> str:
        """A short label for a delegate: ``id (STATE, role)``; a recipient who is not one (a chat) as its id."""
        d = self.delegates.get(delegate_id)
        if d is None:
            return delegate_id
        return f"{d.id} ({d.state}, {d.role.value})"


def _suggest(name: str, known: Iterable[str]) -> str:
    close = get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


_FORMAT_NAMES = {
    SessionFormat.IN_PERSON: "an in-person",
    SessionFormat.HYBRID: "a hybrid",
    SessionFormat.VIDEO: "a video",
}


def build_deployment(
    draft: Draft, catalogues: Collection[str] | None = None
) -> tuple[Deployment | None, list[Problem]]:
    """Check references, ids and times across the draft; return the deployment when nothing is wrong.

    ``catalogues`` are the languages the messages can be written in; given, every language the configuration
    names must be one of them (or a variant of one).
    """
    problems: list[Problem] = []
    commission = draft.commission
    if commission is None and not draft.incomplete:
        problems.append(Problem(("commission",), "no `commission:` section was found in any file"))

    states: dict[str, State] = {}
    state_paths: dict[str, Path] = {}
    for index, state in draft.states:
        if state.code in states:
            first = state_paths[state.code]
            problems.append(Problem(("states", index, "code"), f"duplicate state code {state.code!r}", first=first))
            continue
        states[state.code] = state
        state_paths[state.code] = ("states", index, "code")
    known_states = set(states) | draft.broken_ids
    if draft.incomplete:
        known_states.update(d.state for _, d in draft.delegations)

    agencies: dict[tuple[str, str], Agency] = {}
    delegates: dict[str, Delegate] = {}
    delegate_paths: dict[str, Path] = {}
    seen_delegations: set[str] = set()
    for index, delegation in draft.delegations:
        code = delegation.state
        state_ = states.get(code)
        if code in seen_delegations:
            problems.append(
                Problem(("delegations", index, "state"), f"a second delegation for {code}: give one per state")
            )
        seen_delegations.add(code)
        if state_ is None:
            if code not in known_states:
                problems.append(
                    Problem(("delegations", index, "state"), f"unknown state {code!r}{_suggest(code, states)}")
                )
            # Its delegates and agencies exist, even if their state is wrong: no follow-on errors for them.
            draft.broken_ids.update(d.id for d in delegation.delegates)
            draft.broken_ids.update(f"{code}/{a.id}" for a in delegation.agencies)
            continue
        local_agencies: set[str] = set()
        for a_index, agency in enumerate(delegation.agencies):
            if agency.id in local_agencies:
                problems.append(
                    Problem(
                        ("delegations", index, "agencies", a_index, "id"),
                        f"duplicate agency id {agency.id!r} in the {code} delegation",
                    )
                )
            local_agencies.add(agency.id)
            agencies[(code, agency.id)] = agency
        for d_index, spec in enumerate(delegation.delegates):
            path: Path = ("delegations", index, "delegates", d_index)
            if spec.id in delegates:
                first = (*delegate_paths[spec.id], "id")
                problems.append(Problem((*path, "id"), f"duplicate delegate id {spec.id!r}", first=first))
                continue
            if spec.agency is not None and spec.agency not in local_agencies:
                problems.append(
                    Problem(
                        (*path, "agency"),
                        f"unknown agency {spec.agency!r} of the {code} delegation"
                        + _suggest(spec.agency, local_agencies),
                    )
                )
            if spec.email is not None and needs_smtputf8(spec.email):
                problems.append(Problem((*path, "email"), _SMTPUTF8, "warning"))
            if spec.email is None and spec.telegram is None:
                problems.append(
                    Problem(
                        path,
                        f"delegate {spec.id!r} has neither `email` nor `telegram`: no notice can reach them",
                        "warning",
                    )
                )
            values: dict[str, Any] = spec.__dict__ | {
                "state": code,
                "language": spec.language or state_.language,
                "timezone": spec.timezone or state_.timezone,
            }
            delegates[spec.id] = Delegate.model_construct(_fields_set=spec.model_fields_set, **values)
            delegate_paths[spec.id] = path

    if commission is not None and commission.summaries.review and not commission.secretariat.telegram_admins:
        problems.append(Problem(("commission", "summaries", "review"), REVIEW_NEEDS_ADMINS))
    sessions: dict[str, Session] = {}
    session_paths: dict[str, Path] = {}
    specs = sorted(draft.sessions, key=lambda item: item[0])
    for index, session_spec in specs:
        if session_spec.id in session_paths:
            first = (*session_paths[session_spec.id], "id")
            problems.append(
                Problem(("sessions", index, "id"), f"duplicate session id {session_spec.id!r}", first=first)
            )
            continue
        session_paths[session_spec.id] = ("sessions", index)
        # Without a valid commission, sessions are still checked, in UTC when they name no zone.
        default_zone = commission.timezone if commission else "UTC"
        defaults = commission.notifications if commission else NotificationPolicy()
        overrides = session_spec.notifications
        resolved: dict[str, Any] = session_spec.__dict__ | {
            "timezone": session_spec.timezone or default_zone,
            "policy": overrides.apply(defaults) if overrides else defaults,
            "summary": session_spec.summary or ("review" if commission and commission.summaries.review else "publish"),
        }
        if session_spec.summary == "review" and commission and not commission.secretariat.telegram_admins:
            problems.append(Problem(("sessions", index, "summary"), REVIEW_NEEDS_ADMINS))
        sessions[session_spec.id] = Session.model_construct(
            _fields_set=session_spec.model_fields_set | {"timezone", "policy", "summary"}, **resolved
        )
    known = _Known(
        states=set(states),
        agencies={f"{s}/{a}" for s, a in agencies},
        delegates=set(delegates),
        sessions=set(session_paths),
        broken=draft.broken_ids,
        incomplete=draft.incomplete,
    )

    invitations: dict[str, tuple[str, ...]] = {}
    index_ = _InvitationIndex(delegates)
    for session in sessions.values():
        path = session_paths[session.id]
        problems.extend(_check_session(session, path, known))
        invitations[session.id] = index_.invitees(session)
        if not invitations[session.id] and not draft.broken_ids and not draft.incomplete:
            problems.append(Problem((*path, "invited"), "invites nobody: no delegate matches", "warning"))

    if commission is not None:
        problems.extend(_foreign_texts(draft, commission))
        if catalogues is not None:
            named: list[tuple[Path, str]] = [(("states", i, "language"), state.language) for i, state in draft.states]
            named += [
                ((*delegate_paths[d.id], "language"), d.language)
                for d in delegates.values()
                if "language" in d.model_fields_set
            ]
            problems.extend(Problem(where, message) for where, message in unserved(commission, named, catalogues))
        gaps = missing_texts(commission, sessions, invitations, delegates, session_paths)
        problems.extend(Problem(where, message, "warning") for where, message in gaps)
    clashes = overlaps(sessions, invitations, session_paths)
    problems.extend(Problem(where, message, "warning") for where, message in clashes)
    if commission is None or any(p.severity == "error" for p in problems):
        return None, problems
    ordered = dict(sorted(sessions.items(), key=lambda kv: (kv[1].starts_at, kv[0])))
    return (
        Deployment(
            commission=commission,
            states=states,
            agencies=agencies,
            delegates=delegates,
            sessions=ordered,
            invitations=invitations,
        ),
        problems,
    )


def _foreign_texts(draft: Draft, commission: Commission) -> Iterator[Problem]:
    """Warn of each text in a language that is not the commission's (nor a variant of one): nobody reads it."""
    languages = commission.languages
    listed = ", ".join(languages)
    bases = {code.split("_")[0] for code in languages}
    models: list[tuple[Path, Model]] = [(("commission",), commission)]
    for section in ("states", "delegations", "sessions"):
        models.extend(((section, index), model) for index, model in getattr(draft, section))
    for prefix, model in models:
        for path, text in model.texts(prefix):
            for code in text:
                if code != ANY_LANGUAGE and code not in languages and code.split("_")[0] not in bases:
                    message = f"a text in {code!r}, which is not one of the commission's languages ({listed})"
                    yield Problem((*path, code), message, "warning")


@dataclass
class _Known:
    """What references may point at; ``broken`` ids exist but failed validation."""

    states: set[str]
    agencies: set[str]
    delegates: set[str]
    sessions: set[str]
    broken: set[str]
    incomplete: bool
    comparisons: int = 500_000
    """How many names suggestions may still compare: thousands of bad references to thousands of names
    would otherwise take minutes, for suggestions nobody reads that far."""

    def missing(self, ref: str, names: set[str], what: str) -> str | None:
        """Say why a reference is unknown, with a suggestion; None when it is known (or cannot be judged)."""
        if ref in names or ref in self.broken or self.incomplete:
            return None
        hint = ""
        if len(names) <= self.comparisons and len(ref) <= 80:
            self.comparisons -= len(names)
            hint = _suggest(ref, names)
        return f"unknown {what} {shown(ref)}{hint}"


def _check_session(session: Session, path: Path, known: _Known) -> list[Problem]:
    problems: list[Problem] = []

    def ref(where: Path, value: str, names: set[str], what: str, hint: str = "") -> None:
        message = known.missing(value, names, what)
        if message:
            problems.append(Problem(where, message + hint))

    for key, local in (("start", session.start), ("end", session.end)):
        trouble = local_time_problem(local, session.timezone)
        if trouble:
            problems.append(Problem((*path, key), trouble))
    if session.ends_at <= session.starts_at:
        problems.append(
            Problem(
                (*path, "end"),
                f"must end after it starts (start {session.start:%Y-%m-%d %H:%M}, end {session.end:%Y-%m-%d %H:%M})",
            )
        )
    if session.format is not SessionFormat.VIDEO and session.venue is None:
        problems.append(Problem(path, f"{_FORMAT_NAMES[session.format]} session needs a `venue`"))
    if session.format is not SessionFormat.IN_PERSON and session.video is None:
        problems.append(
            Problem(path, f"{_FORMAT_NAMES[session.format]} session needs a `video` block with the join link")
        )
    for name in session.video.empty_secrets() if session.video is not None and session.video.personal else []:
        problems.append(
            Problem(
                (*path, "video", name),
                f"is empty (an environment variable not set?): the {session.video.provider if session.video else ''} "
                "join links will not open until it is given",
                "warning",
            )
        )
    invited = session.invited
    if invited.states != "all":
        for i, code in enumerate(invited.states):
            ref((*path, "invited", "states", i), code, known.states, "state")
    for i, agency in enumerate(invited.agencies):
        ref((*path, "invited", "agencies", i), agency, known.agencies, "agency")
    for key in ("delegates", "exclude"):
        for i, delegate in enumerate(getattr(invited, key)):
            ref((*path, "invited", key, i), delegate, known.delegates, "delegate")
    if session.chair and session.chair.delegate:
        ref((*path, "chair", "delegate"), session.chair.delegate, known.delegates, "delegate")
    for a, item in enumerate(session.agenda):
        for p, presenter in enumerate(item.presenters):
            if isinstance(presenter, str):
                hint = " (a presenter who is not a delegate is written {name: ...})"
                ref((*path, "agenda", a, "presenters", p), presenter, known.delegates, "delegate", hint)
    for i, related in enumerate(session.related):
        if related == session.id:
            problems.append(Problem((*path, "related", i), "a session cannot be related to itself"))
        else:
            ref((*path, "related", i), related, known.sessions, "session")
    seen: set[str] = set()
    for i, deadline in enumerate(session.deadlines):
        if deadline.id in seen:
            problems.append(Problem((*path, "deadlines", i, "id"), f"duplicate deadline id {deadline.id!r}"))
        seen.add(deadline.id)
        trouble = local_time_problem(deadline.at, deadline.timezone or session.timezone)
        if trouble:
            problems.append(Problem((*path, "deadlines", i, "at"), trouble))
        elif session.deadline_at(deadline) > session.ends_at:
            problems.append(
                Problem((*path, "deadlines", i, "at"), "the deadline falls after the session ends", "warning")
            )
    return problems


class _InvitationIndex:
    """Delegates grouped by state, agency and role, to resolve invitation lists quickly."""

    def __init__(self, delegates: dict[str, Delegate]) -> None:
        self.order = {d: i for i, d in enumerate(delegates)}
        self.all = list(delegates.values())
        self.by_state: dict[str, list[Delegate]] = defaultdict(list)
        self.by_agency: dict[str, list[str]] = defaultdict(list)
        self.by_role: dict[Role, list[Delegate]] = defaultdict(list)
        for d in self.all:
            self.by_state[d.state].append(d)
            self.by_role[d.role].append(d)
            if d.agency:
                self.by_agency[f"{d.state}/{d.agency}"].append(d.id)
        self.known = set(delegates)

    def invitees(self, session: Session) -> tuple[str, ...]:
        """Return the ids of the delegates a session invites, in definition order."""
        invited = session.invited
        chosen: set[str] = set()
        roles = set(invited.roles) if invited.roles else None
        if invited.states == "all":
            pool = self.all if roles is None else [d for r in roles for d in self.by_role.get(r, ())]
        else:
            pool = [d for s in invited.states for d in self.by_state.get(s, ())]
        chosen.update(d.id for d in pool if roles is None or d.role in roles)
        for ref in invited.agencies:
            chosen.update(self.by_agency.get(ref, ()))
        chosen.update(d for d in invited.delegates if d in self.known)
        chosen.difference_update(invited.exclude)
        return tuple(sorted(chosen, key=self.order.__getitem__))
