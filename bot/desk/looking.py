"""Looking: /cases lists the open cases, soonest deadline first; /case shows one card.
They change nothing, so they need no case from the context."""

from __future__ import annotations

from bot.desk.path import CommandPath, DeskTurn
from bot.domain import CaseStatus, looks_like_case_no
from bot.lifecycle import is_open

OPEN_STATUSES = frozenset(s for s in CaseStatus if is_open(s))


async def cases(path: CommandPath, turn: DeskTurn, args: str) -> None:
    _ = path.tr.gettext
    found = await turn.tx.open_cases(OPEN_STATUSES)
    if not found:
        turn.answers.append(_("No open cases."))
        return
    now, local = path.clock.now(), path.staff.local
    lines = [_("Open cases ({count}), soonest deadline first:").format(count=len(found))]
    for case in found[:50]:
        due = case.response_due_at
        mark = "⚠️ " if due is not None and due < now else ""
        lines.append(
            f"{mark}{case.case_no} · {path.staff.status(case.status)} · "
            + _("due {time}").format(time=local(due) if due else "—")
            + f" · {case.handler.name if case.handler else _('unassigned')}"
        )
    turn.answers.append("\n".join(lines))


async def case(path: CommandPath, turn: DeskTurn, args: str) -> None:
    number = args.split()[0].upper() if args else ""
    found = await turn.tx.case(number) if looks_like_case_no(number) else None
    if found is None:
        turn.refuse(path.tr._("No case {case_no}.").format(case_no=number or "—"))
        return
    files = len(await turn.tx.case_files(found))
    turn.answers.append(path.staff.card_text(found, files))


COMMANDS = {"cases": cases, "case": case}
