"""Closing and raising: /resolve (with the verification the regulator expects, asked by
buttons for what the command did not give), /reopen, /escalate."""

from __future__ import annotations

from bot.desk.path import Change, CommandPath, DeskTurn, Say, To
from bot.i18n import Translator
from bot.lifecycle import VERIFICATION, Action, next_status, parse_verification
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
    await ask_verification(path, turn, case, given)
    return None


async def ask_verification(
    path: CommandPath, turn: DeskTurn, case: CaseRecord, given: dict[str, str]
) -> None:
    """Asks, in the case's thread, the first part of the verification not given yet."""
    missing = next(name for name in VERIFICATION if name not in given)
    labels = path.staff.verification_labels()
    question = {
        "facts": path.tr._("Verification of {case_no} — are the facts confirmed?"),
        "nature": path.tr._("Verification of {case_no} — what was the nature of it?"),
        "responsibility": path.tr._("Verification of {case_no} — who was responsible?"),
        "severity": path.tr._("Verification of {case_no} — how severe was it?"),
    }[missing].format(case_no=case.case_no)
    buttons = tuple(
        (Button(labels[value.value], f"res:{case.case_no}:{missing}:{value.value}"),)
        for value in VERIFICATION[missing]
    )
    await path.say(turn, case, Say(To.THREAD, question, buttons=buttons))


async def resolved(
    path: CommandPath, turn: DeskTurn, case: CaseRecord, summary: str, verification: dict[str, str]
) -> Change:
    """The resolution, once its whole verification is known."""
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
            Say(To.THREAD, "\n".join(to_thread)),
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
