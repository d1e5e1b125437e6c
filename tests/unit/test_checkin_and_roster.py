"""The pure rules under the bot: check-in codes that change every few minutes, and the deployment the chat's
substitutes and delegates' own choices make of the YAML's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain import checkin
from domain.deployment import Deployment
from domain.records import Preferences, Substitution
from domain.roster import effective

SECRET = b"a server secret of thirty-two b."
NOW = datetime(2022, 10, 19, 10, 40, tzinfo=UTC)


def test_a_code_is_eight_digits_the_same_in_every_process_and_changes_with_its_period() -> None:
    shown = checkin.current(SECRET, "icmec-xx", NOW)
    assert len(shown.code) == 8
    assert shown.code.isdigit()
    assert checkin.current(SECRET, "icmec-xx", NOW).code == shown.code  # nothing stored: derived again
    assert NOW < shown.until <= NOW + checkin.PERIOD
    assert checkin.current(SECRET, "icmec-xx", shown.until).code != shown.code
    assert checkin.current(SECRET, "icmec-wg-2022-10", NOW).code != shown.code
    assert checkin.current(b"another secret of thirty-two b..", "icmec-xx", NOW).code != shown.code


def test_a_code_is_valid_for_its_period_and_the_next_then_expired() -> None:
    sessions = ["icmec-wg-2022-10", "icmec-xx"]
    code = checkin.current(SECRET, "icmec-xx", NOW).code
    assert checkin.check(SECRET, code, sessions, NOW) == (checkin.CodeCheck.VALID, "icmec-xx")
    later = NOW + checkin.PERIOD
    assert checkin.check(SECRET, code, sessions, later) == (checkin.CodeCheck.VALID, "icmec-xx")
    much_later = NOW + 3 * checkin.PERIOD
    assert checkin.check(SECRET, code, sessions, much_later) == (checkin.CodeCheck.EXPIRED, "icmec-xx")
    day_after = NOW + timedelta(days=2)
    assert checkin.check(SECRET, code, sessions, day_after) == (checkin.CodeCheck.UNKNOWN, None)
    # As typed or scanned: spaces, dashes and the deep link's "c" do not matter; anything else is unknown.
    spaced = f"c{code[:4]} {code[4:]}"
    assert checkin.check(SECRET, spaced, sessions, NOW) == (checkin.CodeCheck.VALID, "icmec-xx")
    for wrong in ("", "1234567", "123456789", "abcdefgh", code[:-1] + str((int(code[-1]) + 1) % 10)):
        assert checkin.check(SECRET, wrong, sessions, NOW)[0] is checkin.CodeCheck.UNKNOWN, wrong
    assert checkin.check(SECRET, code, ["icmec-wg-2022-10"], NOW) == (checkin.CodeCheck.UNKNOWN, None)


def _substitution(member: str, substitute: str) -> Substitution:
    return Substitution(
        session_id="icmec-xx",
        delegate_id=member,
        substitute_id=substitute,
        named_by="delegate:kgz-asanov",
        named_at=NOW,
    )


def test_a_substitute_is_invited_beside_the_member_and_nothing_that_does_not_fit_is_laid_over(
    deployment: Deployment,
) -> None:
    assert effective(deployment, [], {}) is deployment  # nothing laid over: the YAML's, untouched
    invited = deployment.invitations["icmec-xx"]
    subs = [
        _substitution("kgz-mamytova", "kgz-osmonov"),  # the same delegation: invited after the member
        _substitution("kgz-tokoev", "rus-expert"),  # another delegation: left out
        _substitution("kgz-sydykova", "nobody"),  # not in the YAML: left out
    ]
    laid = effective(deployment, subs, {})
    after = laid.invitations["icmec-xx"]
    assert len(after) == len(invited) + 1
    assert after[after.index("kgz-mamytova") + 1] == "kgz-osmonov"
    assert "rus-expert" not in after
    assert deployment.invitations["icmec-xx"] == invited  # the YAML's deployment is not changed


def test_a_delegates_language_and_zone_are_theirs_when_the_commission_has_the_language(
    deployment: Deployment,
) -> None:
    chosen = {
        "kgz-asanov": Preferences(delegate_id="kgz-asanov", language="en", timezone="Europe/Moscow", updated_at=NOW),
        "kgz-tokoev": Preferences(delegate_id="kgz-tokoev", language="de", updated_at=NOW),  # not the commission's
        "gone": Preferences(delegate_id="gone", language="en", updated_at=NOW),
    }
    laid = effective(deployment, [], chosen)
    asanov = laid.delegates["kgz-asanov"]
    assert (asanov.language, asanov.timezone) == ("en", "Europe/Moscow")
    tokoev = laid.delegates["kgz-tokoev"]
    assert tokoev.language == deployment.delegates["kgz-tokoev"].language
    assert "gone" not in laid.delegates
