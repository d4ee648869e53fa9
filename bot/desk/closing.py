"""Closing and raising: /resolve (with the verification the regulator expects, asked by
buttons for what the command did not give, in one message edited in place), /reopen,
/escalate."""

from __future__ import annotations

from typing import Any

from bot.desk.path import Change, CommandPath, DeskTurn, Say, To
from bot.i18n import Translator
from bot.lifecycle import VERIFICATION, Action, is_verification, next_status, parse_verification
from bot.messages import Button
from bot.ports import CaseRecord, ConversationTx


async def resolve(path: CommandPath, turn: DeskTurn, case: CaseRecord, args: str) -> Change | None:
    _ = path.tr.gettext
    given, summary, problems = parse_verification(args)
    if problems:
        turn.refuse(
            _("Unknown verification value. Allowed: {allowed}").format(allowed="; ".join(problems))
        )
        return None
    if not summary:
        turn.refuse(
            _("Write the resolution the complainant will read after the command: /resolve TEXT")
        )
        return None
    next_status(case.status, Action.RESOLVE)  # refuse before asking anything
    if len(given) == len(VERIFICATION):
        return await resolved(path, turn, case, summary, given)
    pending = turn.state.setdefault("resolving", {})
    pending[case.case_no] = {"summary": summary, "answers": given, "agent": turn.agent.id}
    await show_verification(path, turn, case, pending[case.case_no], edit=None)
    return None


# What a verification button carries after `res:CASE_NO:`: a part and its value
# (`facts:confirmed`), or one of these steps once all four parts are answered.
CONFIRM, CHANGE, CANCEL = "confirm", "change", "cancel"


async def verify(
    path: CommandPath, turn: DeskTurn, case: CaseRecord, part: str, value: str | None
) -> Change | None:
    """A press on the verification message: records the answer and shows the message
    again in place (the next question, or all four and a confirm), or confirms,
    starts over or cancels. The answers so far live in the desk's stored state, so a
    restart in the middle loses nothing."""
    _ = path.tr.gettext
    resolving = turn.state.get("resolving", {})
    pending = resolving.get(case.case_no)
    # The message the button is on, edited in place (None: posted anew).
    edit = turn.inbound.reply_to
    complete = pending is not None and len(pending["answers"]) == len(VERIFICATION)
    if pending is not None and value is not None and is_verification(part, value):
        pending["answers"][part] = value
    elif pending is not None and value is None and part == CHANGE:
        pending["answers"] = {}
    elif pending is not None and value is None and part == CANCEL:
        del resolving[case.case_no]
        cancelled = _("Resolution of {case_no} cancelled by {agent}.").format(
            case_no=case.case_no, agent=turn.agent.name
        )
        await path.say(turn, case, Say(To.THREAD, cancelled, edit=edit))
        return None
    elif pending is not None and value is None and part == CONFIRM and complete:
        del resolving[case.case_no]
        return await resolved(path, turn, case, pending["summary"], pending["answers"], edit)
    else:
        turn.refuse(_("That button is no longer active."))
        return None
    await show_verification(path, turn, case, pending, edit)
    return None


async def show_verification(
    path: CommandPath, turn: DeskTurn, case: CaseRecord, pending: dict[str, Any], edit: str | None
) -> None:
    """The one verification message in the case's thread: the resolution, the answers
    so far, then the next question with its buttons, or a confirm once all are given."""
    _ = path.tr.gettext
    answers: dict[str, str] = pending["answers"]
    labels = path.staff.verification_labels()
    lines = [_("Result: {text}").format(text=pending["summary"])]
    if answers:
        lines.append(" · ".join(labels[answers[name]] for name in VERIFICATION if name in answers))
    missing = next((name for name in VERIFICATION if name not in answers), None)
    step = f"res:{case.case_no}"
    cancel = Button(_("Cancel"), f"{step}:{CANCEL}")
    if missing is None:
        lines.append(
            _("Verification of {case_no} complete. Resolve the case with it?").format(
                case_no=case.case_no
            )
        )
        buttons: tuple[tuple[Button, ...], ...] = (
            (Button(_("Confirm and resolve"), f"{step}:{CONFIRM}"),),
            (Button(_("Change the answers"), f"{step}:{CHANGE}"), cancel),
        )
    else:
        lines.append(_question(path, missing).format(case_no=case.case_no))
        choices = VERIFICATION[missing]
        buttons = (
            *((Button(labels[v.value], f"{step}:{missing}:{v.value}"),) for v in choices),
            (cancel,),
        )
    await path.say(turn, case, Say(To.THREAD, "\n".join(lines), buttons=buttons, edit=edit))


def _question(path: CommandPath, part: str) -> str:
    return {
        "facts": path.tr._("Verification of {case_no} — are the facts confirmed?"),
        "nature": path.tr._("Verification of {case_no} — what was the nature of it?"),
        "responsibility": path.tr._("Verification of {case_no} — who was responsible?"),
        "severity": path.tr._("Verification of {case_no} — how severe was it?"),
    }[part]


async def resolved(
    path: CommandPath,
    turn: DeskTurn,
    case: CaseRecord,
    summary: str,
    verification: dict[str, str],
    edit: str | None = None,
) -> Change:
    """The resolution, once its whole verification is known; `edit` is the verification
    message, which then shows the outcome in place of a new post."""
    _ = path.tr.gettext
    now = path.clock.now()

    def apply(case: CaseRecord) -> None:
        case.resolution = summary
        case.verification = dict(verification)
        case.resolved_at = now
        case.clock_paused_at = None

    def tell(case: CaseRecord) -> list[Say]:
        tr = Translator(case.locale)
        labels = path.staff.verification_labels()
        to_complainant = [
            tr._("Your complaint {case_no} has been resolved.").format(case_no=case.case_no),
            tr._("Result: {text}").format(text=summary),
            tr._("If anything is still unclear, just reply here."),
        ]
        to_thread = [
            _("✅ {case_no} resolved by {agent}.").format(
                case_no=case.case_no, agent=turn.agent.name
            ),
            _("Result: {text}").format(text=summary),
            " · ".join(labels[verification[name]] for name in VERIFICATION),
        ]
        return [
            Say(To.COMPLAINANT, "\n".join(to_complainant), "resolution"),
            Say(To.THREAD, "\n".join(to_thread), edit=edit),
        ]

    return Change(
        Action.RESOLVE,
        "resolved",
        {"resolution": summary, "verification": verification},
        apply=apply,
        timers=path.case_clock.resolved,
        tell=tell,
        takes_case=True,
    )


async def reopen(path: CommandPath, turn: DeskTurn, case: CaseRecord, args: str) -> Change | None:
    def apply(case: CaseRecord) -> None:
        case.resolved_at = None

    async def timers(tx: ConversationTx, case: CaseRecord) -> None:
        await path.case_clock.reopened(tx, case, turn.actor)

    def tell(case: CaseRecord) -> list[Say]:
        tr = Translator(case.locale)
        return [
            Say(
                To.COMPLAINANT,
                tr._(
                    "Your complaint {case_no} has been reopened; we are working on it again."
                ).format(case_no=case.case_no),
            ),
            Say(
                To.THREAD,
                path.tr._("↩️ {case_no} reopened by {agent}.").format(
                    case_no=case.case_no, agent=turn.agent.name
                ),
            ),
        ]

    return Change(Action.REOPEN, "reopened", {}, apply=apply, timers=timers, tell=tell)


async def escalate(
    path: CommandPath, turn: DeskTurn, case: CaseRecord, reason: str
) -> Change | None:
    _ = path.tr.gettext
    now = path.clock.now()

    def apply(case: CaseRecord) -> None:
        case.escalated_at = now

    def tell(case: CaseRecord) -> list[Say]:
        notice = "\n".join(
            [
                _("⚠️ {case_no} escalated to the supervisors by {agent}.").format(
                    case_no=case.case_no, agent=turn.agent.name
                ),
                _("Reason: {text}").format(text=reason or "—"),
            ]
        )
        return [Say(To.THREAD, notice), Say(To.SUPERVISORS, notice)]

    return Change(Action.ESCALATE, "escalated", {"reason": reason}, apply=apply, tell=tell)


COMMANDS = {"resolve": resolve, "reopen": reopen, "escalate": escalate}
