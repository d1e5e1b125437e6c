"""The deployment delegates live in: the YAML's, with what was decided in the chat laid over it.

A head of delegation may name a substitute for a member (the substitute is then invited to that session, the
member stays on the list with the answer "sends a substitute"), and a delegate may choose another language or
time zone in the bot. Both are rows in the database; laid over the configuration they make the deployment that
plans, renders and answers, so that every notice, feed and reply follows them without knowing where they came
from. A row that no longer fits the YAML (a delegate removed, moved to another delegation, a language the
commission dropped) is left out, not an error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from domain.deployment import Deployment
from domain.records import Preferences, Substitution


def effective(
    base: Deployment, substitutions: Iterable[Substitution], preferences: Mapping[str, Preferences]
) -> Deployment:
    """The deployment with substitutes invited and delegates' own language and zone in force."""
    invitations = dict(base.invitations)
    for sub in substitutions:
        invited = invitations.get(sub.session_id)
        member, substitute = base.delegates.get(sub.delegate_id), base.delegates.get(sub.substitute_id)
        if invited is None or member is None or substitute is None or member.state != substitute.state:
            continue
        if sub.delegate_id in invited and sub.substitute_id not in invited:
            at = invited.index(sub.delegate_id) + 1
            invitations[sub.session_id] = (*invited[:at], sub.substitute_id, *invited[at:])
    delegates = base.delegates
    chosen = {k: p for k, p in preferences.items() if k in delegates and (p.language or p.timezone)}
    if chosen:
        delegates = dict(delegates)
        for delegate_id, p in chosen.items():
            update: dict[str, str] = {}
            if p.language and p.language in base.commission.languages:
                update["language"] = p.language
            if p.timezone:
                update["timezone"] = p.timezone
            if update:
                delegates[delegate_id] = delegates[delegate_id].model_copy(update=update)
    if invitations == base.invitations and delegates is base.delegates:
        return base
    return dataclasses.replace(base, invitations=invitations, delegates=delegates)


def substitute_of(substitutions: Iterable[Substitution], delegate_id: str) -> Substitution | None:
    """The substitution that put a delegate on a session's list, if any."""
    return next((s for s in substitutions if s.substitute_id == delegate_id), None)
