"""The commission's world as the secretariat describes it: frozen models, one per YAML section."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache, cached_property
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, SecretStr, StrictBool, model_validator

from domain.values import (
    AgencyRef,
    Duration,
    Email,
    Language,
    LocalDateTime,
    Slug,
    StateCode,
    TelegramUsername,
    Text,
    Url,
    ZoneName,
    to_utc,
)

Path = tuple[str | int, ...]


class Model(BaseModel):
    """Base of every configuration model: frozen, and unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    def texts(self, path: Path = ()) -> Iterator[tuple[Path, dict[str, str]]]:
        """Every text (language → string) of this model and of the models inside it, with its path."""
        for name in _text_holders(type(self)):
            yield from _texts_in(getattr(self, name), (*path, name))


def _texts_in(value: object, path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    if isinstance(value, Model):
        yield from value.texts(path)
    elif isinstance(value, dict):
        yield path, value
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _texts_in(item, (*path, i))


@cache
def _text_holders(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of a model that may be or hold a text: mappings, models, and lists of them."""
    return tuple(name for name, info in model.model_fields.items() if _may_hold_text(info.annotation))


def _may_hold_text(annotation: Any) -> bool:
    if get_origin(annotation) is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return True
    return any(_may_hold_text(arg) for arg in get_args(annotation))


class Role(StrEnum):
    """A delegate's role in their delegation."""

    HEAD = "head"
    DEPUTY = "deputy"
    MEMBER = "member"
    EXPERT = "expert"
    OBSERVER = "observer"


class SessionKind(StrEnum):
    """What kind of meeting a session is."""

    PLENARY = "plenary"
    WORKING_GROUP = "working_group"
    COUNCIL = "council"
    OTHER = "other"


class SessionFormat(StrEnum):
    """Where delegates take part: in the room, on video, or either."""

    IN_PERSON = "in_person"
    HYBRID = "hybrid"
    VIDEO = "video"


class SessionStatus(StrEnum):
    """Whether a session is going ahead."""

    SCHEDULED = "scheduled"
    POSTPONED = "postponed"
    CANCELLED = "cancelled"


class Contact(Model):
    """A person or office to contact."""

    name: Text | None = None
    position: Text | None = None
    email: Email | None = None
    phone: str | None = None
    telegram: TelegramUsername | None = None


class Secretariat(Model):
    """The secretariat: its public contact and who may steer Plenary from Telegram."""

    name: Text | None = None
    email: Email
    phone: str | None = None
    telegram_admins: list[PositiveInt] = Field(default_factory=list)
    contacts: list[Contact] = Field(default_factory=list)


class NotificationPolicy(Model):
    """When notices go out, relative to a session (commission-wide defaults)."""

    invitation: Duration | None = timedelta(days=21)
    agenda: Duration | None = timedelta(days=7)
    reminders: tuple[Duration, ...] = (timedelta(days=1), timedelta(hours=1))
    start: Duration | None = timedelta(minutes=10)
    summary: Duration | None = timedelta(hours=2)
    deadline_reminders: tuple[Duration, ...] = (timedelta(days=1),)
    summary_to: tuple[Role, ...] = tuple(Role)
    """Who receives the summary: by default every invited delegate."""


class NotificationOverrides(Model):
    """A session's own notification offsets; each key given replaces the commission's default."""

    invitation: Duration | None = None
    agenda: Duration | None = None
    reminders: tuple[Duration, ...] | None = None
    start: Duration | None = None
    summary: Duration | None = None
    deadline_reminders: tuple[Duration, ...] | None = None
    summary_to: tuple[Role, ...] | None = None

    def apply(self, policy: NotificationPolicy) -> NotificationPolicy:
        """Return the policy with the keys this override sets replaced (null turns a list off: ``[]``)."""
        changes = {name: getattr(self, name) for name in self.model_fields_set}
        for name in ("reminders", "deadline_reminders", "summary_to"):
            if name in changes and changes[name] is None:
                changes[name] = ()
        if not changes:
            return policy
        return policy.model_copy(update=changes)


class TelegramPolicy(Model):
    """How the bot treats delegates (commission-wide; sessions may move the windows)."""

    bind_by_username: StrictBool = False
    """Bind a delegate whose Telegram username is in the YAML on a plain /start (no personal link)."""
    calendar_by_email: StrictBool = True
    """Send calendar invitations and cancellations by e-mail to every delegate with an address, also when their
    notices come through Telegram, so that their calendar stays right."""
    join_opens: Duration = timedelta(minutes=30)
    """How long before the start /join gives the join link (until the end)."""
    checkin_opens: Duration = timedelta(hours=1)
    """How long before the start check-in at the venue opens (until the end)."""


class Quorum(Model):
    """How many member states must be represented for the session to be quorate.

    Written ``all`` (every invited state), ``majority`` (more than half), a number of states (``4``) or a share of
    them (``2/3``, ``75%``); a state is represented while one of its delegates is present (in person or on the call).
    """

    rule: Literal["all", "majority", "count", "share"]
    count: PositiveInt | None = None
    share: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _written(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("write the quorum as all, majority, a number of states (4) or a share (2/3, 75%)")
        if isinstance(value, int):
            return {"rule": "count", "count": value}
        if not isinstance(value, str):
            return value
        text = value.strip().lower()
        if text in ("all", "majority"):
            return {"rule": text}
        try:
            if text.endswith("%"):
                share = float(text[:-1]) / 100
            elif "/" in text:
                top, _, bottom = text.partition("/")
                share = int(top) / int(bottom)
            else:
                return {"rule": "count", "count": int(text)}
        except (ValueError, ZeroDivisionError):
            raise ValueError(
                f"{value!r} is not a quorum: write all, majority, a number of states (4) or a share (2/3, 75%)"
            ) from None
        if not 0 < share <= 1:
            raise ValueError(f"a quorum's share must be above 0 and at most 1, not {value!r}")
        return {"rule": "share", "share": share}

    def required(self, states: int) -> int:
        """How many of ``states`` invited states must be represented."""
        if self.rule == "all":
            return states
        if self.rule == "majority":
            return states // 2 + 1
        if self.rule == "count":
            return min(self.count or 0, states)
        return max(1, math.ceil((self.share or 0) * states - 1e-9))

    def describe(self) -> str:
        """The rule as written, for tables and logs."""
        if self.rule in ("all", "majority"):
            return self.rule
        if self.rule == "count":
            return str(self.count)
        return f"{round((self.share or 0) * 100)}%"


class SummaryChat(Model):
    """A Telegram chat a summary is posted to, in a language of its own."""

    id: int
    language: Language


class SummaryPolicy(Model):
    """Where a session's summary goes besides the invited delegates."""

    chats: list[int | SummaryChat] | None = None
    """Telegram chats it is posted to (a group's or channel's id, ``-100…``, with the bot in it), each in the
    commission's working language or in its own (``{id: -100…, language: en}``); by default the secretariat's
    accounts (``secretariat.telegram_admins``). ``[]``: none."""
    press: StrictBool = False
    """Whether its public variant (no names, no links) is e-mailed to the press contact (``press.email``)."""
    review: StrictBool = False
    """Whether a summary goes first, as a draft, to the secretariat's accounts (``telegram_admins``), and out only
    once one of them presses Publish (a session's ``summary: review`` or ``summary: publish`` decides for it)."""


class Commission(Model):
    """The commission itself."""

    id: Slug
    name: Text
    short_name: Text | None = None
    languages: list[Language] = Field(min_length=1)
    timezone: ZoneName
    secretariat: Secretariat
    press: Contact | None = None
    website: Url | None = None
    public_calendar: StrictBool = False
    notifications: NotificationPolicy = NotificationPolicy()
    telegram: TelegramPolicy = TelegramPolicy()
    quorum: Quorum | None = None
    """The sessions' quorum, where a session does not set its own."""
    summaries: SummaryPolicy = SummaryPolicy()

    @model_validator(mode="after")
    def _press_has_an_address(self) -> Commission:
        if self.summaries.press and (self.press is None or self.press.email is None):
            raise ValueError("summaries.press sends the press the public summary: give press.email")
        return self

    @property
    def summary_chats(self) -> list[int]:
        """The Telegram chats a summary is posted to."""
        if self.summaries.chats is None:
            return list(self.secretariat.telegram_admins)
        return [chat.id if isinstance(chat, SummaryChat) else chat for chat in self.summaries.chats]

    def chat_language(self, chat_id: int) -> str:
        """The language a summary is posted in to a chat: its own, else the working language."""
        for chat in self.summaries.chats or ():
            if isinstance(chat, SummaryChat) and chat.id == chat_id:
                return chat.language
        return self.language

    @property
    def language(self) -> str:
        """The commission's first (working) language."""
        return self.languages[0]


class State(Model):
    """A member state."""

    code: StateCode
    name: Text
    timezone: ZoneName
    language: Language


class Agency(Model):
    """An agency (ministry, committee, service) of a member state."""

    id: Slug
    name: Text
    short_name: Text | None = None


class DelegateSpec(Model):
    """A delegate as written in the YAML, before the delegation's defaults are applied."""

    id: Slug
    name: Text
    position: Text | None = None
    role: Role = Role.MEMBER
    agency: Slug | None = None
    email: Email | None = None
    telegram: TelegramUsername | None = None
    phone: str | None = None
    language: Language | None = None
    timezone: ZoneName | None = None


class Delegate(DelegateSpec):
    """A delegate with their state, language and time zone resolved."""

    state: StateCode
    language: Language
    timezone: ZoneName

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels this delegate can be reached through, preferred first: Telegram (once an account is bound),
        then e-mail."""
        return _CHANNELS[(self.telegram is not None, self.email is not None)]


_CHANNELS: dict[tuple[bool, bool], tuple[str, ...]] = {
    (True, True): ("telegram", "email"),
    (True, False): ("telegram",),
    # Anyone with an address can bind Telegram from the link in their invitation: from then on it comes first.
    (False, True): ("telegram", "email"),
    (False, False): (),
}


class Delegation(Model):
    """A member state's delegation: its agencies and its delegates."""

    state: StateCode
    agencies: list[Agency] = Field(default_factory=list)
    delegates: list[DelegateSpec] = Field(default_factory=list)


class Venue(Model):
    """Where an in-person or hybrid session takes place."""

    name: Text
    room: Text | None = None
    address: Text | None = None
    city: Text | None = None
    map_url: Url | None = None


class Video(Model):
    """How to join a session remotely, and on which platform.

    ``static``: one link for everyone (``url``), no attendance from it. ``bigbluebutton``: ``url`` is the server's
    API base (``https://HOST/bigbluebutton/``), ``secret`` its shared secret, ``checksum`` the hash its API
    checksums use. ``jitsi``: ``url`` is the room (``https://HOST/[TENANT/]ROOM``), ``app_id`` and ``secret`` sign
    each delegate's token (``algorithm``, ``audience``: by default the app id), ``events_token`` is the bearer
    token the ``event_sync`` module sends. ``zoom``: ``account_id``, ``client_id`` and ``client_secret`` of a
    server-to-server OAuth app, ``webhook_secret`` its webhooks' secret token. Secrets are written as ``${ENV}``.
    """

    provider: Literal["static", "jitsi", "bigbluebutton", "zoom"] = "static"
    url: Url | None = None
    meeting_id: str | None = None
    passcode: SecretStr | None = None
    dial_in: str | None = None
    notes: Text | None = None
    secret: SecretStr | None = None
    checksum: Literal["sha1", "sha256", "sha384", "sha512"] = "sha256"
    app_id: str | None = None
    audience: str | None = None
    algorithm: Literal["HS256", "HS512"] = "HS256"
    events_token: SecretStr | None = None
    account_id: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    minimum: Duration | None = None
    """Minutes on the call below which a remote presence counts as "joined briefly"."""
    minimum_share: Annotated[float, Field(gt=0, le=1)] | None = None
    """The same as a share of the session's length (``0.25``)."""

    @model_validator(mode="after")
    def _complete(self) -> Video:
        needed = {
            "static": ("url",),
            "bigbluebutton": ("url", "secret"),
            "jitsi": ("url", "app_id", "secret", "events_token"),
            "zoom": ("account_id", "client_id", "client_secret", "webhook_secret"),
        }[self.provider]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.provider} video block needs {', '.join(f'`{m}`' for m in missing)}")
        return self

    @property
    def personal(self) -> bool:
        """Whether each delegate gets a link of their own (every provider but ``static``)."""
        return self.provider != "static"

    def empty_secrets(self) -> list[str]:
        """The secrets given but empty (``${VAR:-}`` with VAR unset): nothing is signed or checked with them."""
        fields = ("secret", "events_token", "client_secret", "webhook_secret")
        return [f for f in fields if (value := getattr(self, f)) is not None and not value.get_secret_value()]


class Chair(Model):
    """Who chairs a session: a delegate, or a person named here."""

    delegate: Slug | None = None
    name: Text | None = None
    position: Text | None = None

    @model_validator(mode="after")
    def _someone(self) -> Chair:
        if self.delegate is None and self.name is None:
            raise ValueError("name the chair with `delegate: ID` or `name: ...`")
        return self


class Presenter(Model):
    """A presenter who is not a delegate."""

    name: Text
    position: Text | None = None


class Document(Model):
    """A document of an agenda item."""

    title: Text
    url: Url | None = None


class AgendaItem(Model):
    """One item of a session's agenda."""

    title: Text
    presenters: list[Slug | Presenter] = Field(default_factory=list)
    documents: list[Document] = Field(default_factory=list)
    duration: Duration | None = None


class Assignment(Model):
    """A task a session gave: what, to whom (a member state, an agency or a delegate, as written), by when."""

    text: Text
    to: Text | None = None
    due: LocalDateTime | None = None


class Outcome(Model):
    """What a session decided on one agenda item (``item``: its number, from 1), written into the session's
    YAML afterwards as ``outcomes:``."""

    item: PositiveInt
    decisions: list[Text] = Field(default_factory=list)
    assignments: list[Assignment] = Field(default_factory=list)


class Deadline(Model):
    """A date that matters as much as the meeting: accreditation, submission of comments."""

    id: Slug
    title: Text
    at: LocalDateTime
    timezone: ZoneName | None = None
    audience: Literal["invited", "heads"] = "invited"
    remind: tuple[Duration, ...] | None = None
    public: StrictBool = False


class Invited(Model):
    """Who is invited: whole states (optionally only some roles), agencies, named delegates."""

    states: Literal["all"] | list[StateCode] = Field(default_factory=list)
    roles: list[Role] | None = Field(default=None, min_length=1)
    agencies: list[AgencyRef] = Field(default_factory=list)
    delegates: list[Slug] = Field(default_factory=list)
    exclude: list[Slug] = Field(default_factory=list)

    @model_validator(mode="after")
    def _someone(self) -> Invited:
        if not self.states and not self.agencies and not self.delegates:
            raise ValueError("invites nobody: give `states`, `agencies` or `delegates`")
        return self


class SessionSpec(Model):
    """A session as written in the YAML."""

    id: Slug
    number: PositiveInt | None = None
    title: Text
    kind: SessionKind = SessionKind.PLENARY
    format: SessionFormat
    status: SessionStatus = SessionStatus.SCHEDULED
    start: LocalDateTime
    end: LocalDateTime
    timezone: ZoneName | None = None
    description: Text | None = None
    venue: Venue | None = None
    video: Video | None = None
    chair: Chair | None = None
    invited: Invited
    agenda: list[AgendaItem] = Field(default_factory=list)
    deadlines: list[Deadline] = Field(default_factory=list)
    related: list[Slug] = Field(default_factory=list)
    notifications: NotificationOverrides | None = None
    public: StrictBool = False
    answers_until: LocalDateTime | None = None
    """Until when (in the session's zone) delegates may change their answer; by default the start."""
    join_opens: Duration | None = None
    """How long before the start /join gives the link; by default the commission's ``telegram.join_opens``."""
    quorum: Quorum | None = None
    """The session's quorum; by default the commission's."""
    outcomes: list[Outcome] = Field(default_factory=list)
    """The decisions and assignments on its agenda items, for the summary."""
    summary: Literal["publish", "review"] | None = None
    """``review``: its summary goes first to the secretariat's accounts as a draft with Publish and Edit buttons;
    ``publish``: out at once; by default as the commission's ``summaries.review`` says."""

    @model_validator(mode="after")
    def _outcomes_name_items(self) -> SessionSpec:
        for outcome in self.outcomes:
            if outcome.item > len(self.agenda):
                raise ValueError(
                    f"outcomes: item {outcome.item} is not on the agenda, which has {len(self.agenda)} items"
                )
        return self


class Session(SessionSpec):
    """A session with its zone and notification policy resolved."""

    timezone: ZoneName
    policy: NotificationPolicy

    @cached_property
    def starts_at(self) -> datetime:
        """The UTC instant the session starts."""
        return to_utc(self.start, self.timezone)

    @cached_property
    def ends_at(self) -> datetime:
        """The UTC instant the session ends."""
        return to_utc(self.end, self.timezone)

    @cached_property
    def answers_close_at(self) -> datetime:
        """The UTC instant after which answers can no longer be changed."""
        return to_utc(self.answers_until, self.timezone) if self.answers_until is not None else self.starts_at

    def join_opens_at(self, policy: TelegramPolicy) -> datetime:
        """The UTC instant from which /join gives the link (it does until the end)."""
        return self.starts_at - (self.join_opens if self.join_opens is not None else policy.join_opens)

    def deadline_at(self, deadline: Deadline) -> datetime:
        """The UTC instant of one of this session's deadlines."""
        return to_utc(deadline.at, deadline.timezone or self.timezone)

    @property
    def reviewed(self) -> bool:
        """True when its summary waits for the secretariat's Publish (resolved with the commission's default)."""
        return self.summary == "review"

    @property
    def is_remote(self) -> bool:
        """True when delegates can join by video."""
        return self.format is not SessionFormat.IN_PERSON

    @property
    def shared_join_url(self) -> str | None:
        """The one link everyone joins by (a ``static`` video block); None when each delegate has their own."""
        if self.video is None or not self.is_remote or self.video.personal:
            return None
        return self.video.url
