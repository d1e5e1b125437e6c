"""Every phrase the bot says, by key: gettext messages (``N_``) translated by the notices' catalogues."""

from __future__ import annotations

from collections.abc import Mapping

from messages.words import N_

PHRASES: Mapping[str, str] = {
    "start.bound": N_(
        "Your Telegram account is now connected, %(name)s. From now on the notices of %(commission)s come here."
    ),
    "start.already": N_("This Telegram account is already connected: your notices come here."),
    "start.taken": N_(
        "This personal link has already been used by another Telegram account, so it cannot connect this one. "
        "The secretariat has been informed; if the link is yours, please write to %(email)s."
    ),
    "start.other_delegate": N_(
        "This Telegram account already receives the notices of another delegate: each delegate connects their "
        "own account. Please write to the secretariat: %(email)s."
    ),
    "start.unknown": N_(
        "This link is not valid: it may have been replaced by a newer one. Please open the link in your latest "
        "invitation, or write to the secretariat: %(email)s."
    ),
    "stranger": N_(
        "This is the notification bot of %(commission)s. It serves the delegates of its sessions. If you are a "
        "delegate, open the personal link in your invitation e-mail to connect this account."
    ),
    "unknown_command": N_("This command is not known. Send /help to see what this bot does."),
    # To the secretariat's accounts (telegram_admins), in the commission's working language.
    "secretariat.refused.taken": N_(
        "The personal Telegram link of %(delegate)s was opened by another Telegram account (id %(user)s) and "
        "refused: their invitation may have been forwarded. Their own account stays connected."
    ),
    "secretariat.refused.other_delegate": N_(
        "Telegram account %(user)s, which already receives the notices of another delegate, opened the personal "
        "link of %(delegate)s: it was refused. Each delegate must connect their own account."
    ),
    "help": N_(
        "Here you receive the invitations, agendas, reminders and join links of %(commission)s, and answer them.\n"
        "/sessions — your upcoming sessions\n"
        "/rsvp — answer an invitation\n"
        "/agenda — the agenda\n"
        "/join — the join link\n"
        "/checkin — check in at the venue\n"
        "/calendar — your calendar\n"
        "/language, /timezone — the language and time zone of your messages"
    ),
    "help.head": N_("/delegation — your delegation: who comes, and substitutes"),
    "help.secretariat": N_(
        "For the secretariat: /status — answers by state; /remind — nudge those who have not answered; "
        "/broadcast — a message to everyone invited; /close — close a session; "
        "/checkincode — the check-in code for the hall"
    ),
    "stale": N_("This button is no longer valid. Send /sessions to see your sessions as they are now."),
    "forbidden.secretariat": N_("This command is for the secretariat only."),
    "forbidden.head": N_("This command is for heads of delegation."),
    # A session's card (/sessions, /rsvp, after connecting).
    "card": N_("%(title)s\n%(when)s\nYour answer: %(answer)s"),
    "card.no_answer": N_("not given yet"),
    "answer.in_person": N_("I will attend in person"),
    "answer.remote": N_("I will take part remotely"),
    "answer.not_attending": N_("I cannot attend"),
    "answer.substitute": N_("I am sending a substitute"),
    "answer.attending": N_("I will attend (in person or remotely: not said)"),
    "answer.tentative": N_("I might attend"),
    # Where an answer on record came from (the answer page: "Given 5 October 2022, 14:00, in Telegram.").
    "source.telegram": N_("in Telegram"),
    "source.web": N_("on this page"),
    "source.calendar": N_("from your calendar"),
    "source.secretariat": N_("by the secretariat"),
    "button.agenda": N_("Agenda"),
    "button.join": N_("Join link"),
    "button.calendar": N_("Calendar"),
    "answered.recorded": N_("Recorded: %(answer)s."),
    "answered.unchanged": N_("Your answer is already recorded: %(answer)s."),
    "answered.closed": N_("Answers to this invitation closed on %(when)s. To change yours, write to %(email)s."),
    "answered.not_allowed": N_("This answer is not possible for this session's format."),
    "answered.not_invited": N_("You are not invited to this session."),
    "answered.not_scheduled": N_("This session no longer takes place as planned: see the latest notice."),
    "answered.substitute_next": N_(
        "Please tell your head of delegation who replaces you: they name the substitute with /delegation. "
        "You can also write to the secretariat: %(email)s."
    ),
    "sessions.none": N_("You have no upcoming sessions."),
    "session.unknown": N_("None of your sessions is called %(session)s. Send /sessions to see them."),
    "join.not_remote": N_("%(title)s is held in person only: there is no link to join."),
    "join.later": N_("The join link will be given here from %(when)s until the end of the session."),
    "join.ended": N_("%(title)s has ended."),
    "calendar": N_(
        "Your personal calendar follows every change of your sessions.\n"
        "Google Calendar (Other calendars → From URL): %(https)s\n"
        "Apple Calendar, Outlook: %(webcal)s"
    ),
    "calendar.none": N_("Your calendar link is not available. Please write to the secretariat: %(email)s."),
    # Check-in at the venue.
    "checkin.usage": N_("Scan the QR code shown in the hall, or send the code under it: /checkin 12345678"),
    "checkin.checked_in": N_("You are checked in: %(title)s. Welcome!"),
    "checkin.already": N_("You were already checked in: %(title)s."),
    "checkin.expired": N_("This code is no longer valid. Please scan the code shown in the hall now."),
    "checkin.not_open": N_("Check-in for %(title)s is open from %(opens)s until %(closes)s."),
    "checkin.not_invited": N_(
        "This code is for a session you are not invited to (%(title)s). Please ask at the secretariat's desk."
    ),
    "checkin.too_many": N_(
        "Too many codes that are not valid: please wait a few minutes, then scan the code shown in the hall."
    ),
    "checkin.unknown": N_(
        "This is not a valid check-in code. Please scan the code shown in the hall, or send it: /checkin 12345678"
    ),
    # Language and time zone.
    "language.choose": N_("Choose the language of your messages:"),
    "language.set": N_("From now on your messages are in this language: %(language)s."),
    "timezone.current": N_(
        "Times are shown for your time zone: %(zone)s. Choose another below, or send one as Region/City, "
        "for example: /timezone Asia/Almaty"
    ),
    "timezone.set": N_("From now on times are shown for your time zone: %(zone)s."),
    "timezone.unknown": N_("%(zone)s is not a time zone. Send it as Region/City, for example: /timezone Asia/Bishkek"),
    # Heads of delegation.
    "delegation.heading": N_("%(title)s: delegation of %(state)s"),
    "delegation.member": N_("%(name)s: %(answer)s"),
    "delegation.replaced": N_("%(name)s: replaced by %(substitute)s"),
    "delegation.substitute": N_("%(name)s (replaces %(member)s): %(answer)s"),
    "button.confirm": N_("Confirm the composition"),
    "button.substitute": N_("Name a substitute"),
    "button.next": N_("Next ›"),
    "button.previous": N_("‹ Previous"),
    "delegation.confirmed": N_("Thank you: the composition is confirmed, and the secretariat has been told."),
    "delegation.choose_member": N_("Whom should a substitute replace?"),
    "delegation.choose_substitute": N_("Who replaces %(name)s? Members of your delegation not invited yet:"),
    "delegation.no_candidates": N_(
        "Everyone in your delegation's list is already invited. Only the secretariat can add someone else: %(email)s."
    ),
    "delegation.outsider": N_(
        "Only the secretariat can add someone who is not in your delegation's list: please write to %(email)s. "
        "The secretariat has been told of your request."
    ),
    "named.named": N_("%(substitute)s replaces %(name)s at %(title)s and is sent the invitation."),
    "named.unchanged": N_("%(substitute)s already replaces %(name)s."),
    "named.not_head": N_("This command is for heads of delegation."),
    "named.not_member": N_("%(name)s cannot be replaced (already replaced, or not invited)."),
    "named.not_candidate": N_("%(substitute)s cannot replace %(name)s: already invited, or not in the list."),
    "named.closed": N_("Answers to %(title)s are closed: please write to the secretariat, %(email)s."),
    "count.in_person": N_("in person: %(n)s"),
    "count.remote": N_("remotely: %(n)s"),
    "count.not_attending": N_("not attending: %(n)s"),
    "count.substitute": N_("substitutes: %(n)s"),
    "count.attending": N_("attending, how not said: %(n)s"),
    "count.tentative": N_("perhaps: %(n)s"),
    "count.none": N_("no answer: %(n)s"),
    "count.nobody": N_("nobody invited"),
    # The secretariat's commands, in the working language.
    "secretariat.no_session": N_("There is no session %(session)s, or no upcoming one."),
    "attendance.heading": N_("%(title)s: attendance"),
    "attendance.state": N_(
        "%(state)s (represented): in person %(in_person)s, remote %(remote)s, briefly %(briefly)s, absent %(absent)s"
    ),
    "attendance.state_absent": N_(
        "%(state)s (not represented): in person %(in_person)s, remote %(remote)s, briefly %(briefly)s, "
        "absent %(absent)s"
    ),
    "attendance.quorum.met": N_(
        "Quorum (%(rule)s): met, %(represented)s of %(states)s states represented (%(required)s needed); first met "
        "at %(when)s."
    ),
    "attendance.quorum.not_met": N_(
        "Quorum (%(rule)s): not met, %(represented)s of %(states)s states represented, %(required)s needed."
    ),
    "attendance.quorum.none": N_("No quorum rule is set for this session."),
    "attendance.mark_usage": N_(
        "Write /mark DELEGATE in-person, /mark DELEGATE remote or /mark DELEGATE absent, then why (for the "
        "record), e.g. /mark kgz-asanov remote joined by phone. It applies to the session in progress, or to the "
        "session whose id comes first: /mark icmec-xx kgz-asanov absent left before the vote."
    ),
    "attendance.mark_refused": N_("%(delegate)s is not a delegate invited to %(title)s: nothing was recorded."),
    "attendance.marked": N_("Recorded for %(title)s: %(delegate)s, %(presence)s."),
    "attendance.as.in-person": N_("present in person"),
    "attendance.as.remote": N_("present remotely"),
    "attendance.as.absent": N_("absent"),
    "attendance.guests": N_("Guests on the call, not counted for any state: %(count)s (%(names)s)."),
    "secretariat.quorum.met": N_(
        "Quorum reached at %(title)s: %(represented)s of %(states)s states are represented (%(required)s needed)."
    ),
    "secretariat.quorum.lost": N_(
        "Quorum lost at %(title)s: %(represented)s of %(states)s states are represented, %(required)s needed."
    ),
    "status.heading": N_("%(title)s: answers"),
    "status.state": N_("%(state)s: %(counts)s"),
    "status.agency": N_("%(agency)s: %(counts)s"),
    "status.silent": N_("No answer yet (%(count)s): %(names)s"),
    "status.sources": N_("Answered by: %(sources)s"),
    "secretariat.reply_refused": N_(
        "A calendar reply to %(title)s answers for %(address)s, who is not invited (a forwarded invitation?): "
        "it was not recorded as anyone's answer."
    ),
    "status.by.telegram": N_("Telegram: %(n)s"),
    "status.by.web": N_("answer page: %(n)s"),
    "status.by.calendar": N_("calendar: %(n)s"),
    "status.by.secretariat": N_("secretariat: %(n)s"),
    "remind.done": N_(
        "%(title)s: nudged %(count)s who have not answered; left out, nudged less than a day ago: %(recent)s."
    ),
    "remind.none": N_("%(title)s: everyone invited has answered; nobody to nudge."),
    "checkincode": N_(
        "Check-in code for %(title)s: %(code)s (changes at %(until)s). Delegates scan the QR code, or send "
        "/checkin %(code)s to the bot."
    ),
    "broadcast.usage": N_(
        "Write the message after the command, optionally after the session's id: /broadcast icmec-xx The start is "
        "moved to 15:00."
    ),
    "broadcast.preview": N_(
        "To everyone invited to %(title)s (%(count)s), by their usual channels:\n\n%(text)s\n\nSend it?"
    ),
    "button.send": N_("Send to %(count)s"),
    "button.cancel": N_("Cancel"),
    "broadcast.sent": N_("Sent to %(count)s invited: it goes out through the outbox."),
    "broadcast.already": N_("This message was already sent (to %(count)s)."),
    "broadcast.dropped": N_("Cancelled: the message was not sent."),
    "decision.usage": N_(
        "Write /decision ITEM TEXT: the agenda item's number (1 to %(items)s) and what was decided, e.g. "
        "/decision 4 Approve the draft agreement. It is for the session in progress, or for the session whose id "
        "comes first (/decision icmec-xx 4 …), and goes into its summary."
    ),
    "decision.no_item": N_("%(title)s has no item %(number)s on its agenda: its items are 1 to %(items)s."),
    "decision.recorded": N_("Recorded for the summary of %(title)s, item %(number)s (%(item)s)."),
    "button.publish": N_("Publish"),
    "button.edit": N_("Edit"),
    "review.published": N_(
        "The summary of %(title)s is published: it goes to %(count)s delegates, and to the summary's chats."
    ),
    "review.already": N_("The summary of %(title)s is already published (version %(version)s)."),
    "review.changed": N_(
        "The summary changed since this draft (a correction, a decision, a late check-in): nothing was published. "
        "Here is the current draft."
    ),
    "review.edit": N_(
        "To correct the summary of %(title)s before publishing it:\n"
        "• attendance: /mark %(session)s DELEGATE in-person|remote|absent why\n"
        "• a decision: /decision %(session)s ITEM TEXT\n"
        "• several at once, where the service runs: plenary summary %(session)s CONFIG --edit FILE\n"
        "Each correction sends the secretariat a new draft; /attendance %(session)s shows the whole table."
    ),
    "review.automatic": N_(
        "The summary of %(title)s is not reviewed first: it goes out by itself when it is due (summary: review "
        "in the session's YAML asks for a draft instead)."
    ),
    "close.done": N_("%(title)s is closed (%(when)s): join links and check-in are closed."),
    "close.already": N_("%(title)s was already closed (%(when)s)."),
    "checkincode.no_venue": N_("%(title)s is held by video only: there is no check-in at a venue."),
    "secretariat.substitute": N_(
        "%(head)s (head of delegation, %(state)s) named %(substitute)s to replace %(name)s at %(title)s."
    ),
    "secretariat.confirmed": N_("%(head)s (%(state)s) confirmed the delegation for %(title)s: %(counts)s."),
    "secretariat.outsider": N_(
        "%(head)s (head of delegation, %(state)s) asks to bring someone not in the delegation's list to "
        "%(title)s: “%(text)s”."
    ),
    # The command menu (setMyCommands): a few words each, Telegram shows them beside the commands.
    "command.start": N_("Connect this Telegram account"),
    "command.help": N_("What this bot does"),
    "command.sessions": N_("My upcoming sessions"),
    "command.rsvp": N_("Answer an invitation"),
    "command.agenda": N_("The agenda"),
    "command.join": N_("The join link"),
    "command.checkin": N_("Check in at the venue"),
    "command.calendar": N_("My calendar"),
    "command.delegation": N_("My delegation (heads of delegation)"),
    "command.language": N_("Language of my messages"),
    "command.timezone": N_("My time zone"),
    "command.status": N_("Answers by state and agency"),
    "command.attendance": N_("Attendance by state, and the quorum"),
    "command.mark": N_("Correct a delegate's attendance"),
    "command.remind": N_("Nudge those who have not answered"),
    "command.checkincode": N_("The check-in code for the hall"),
    "command.broadcast": N_("A message to everyone invited"),
    "command.close": N_("Close a session"),
    "command.decision": N_("Record a decision for the summary"),
    "command.summary": N_("The draft summary to review"),
}
