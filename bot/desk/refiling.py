"""Re-filing a case: another /category (its deadlines follow), or more time (/extend),
both on the record and told to the complainant."""

from __future__ import annotations

from bot.desk.path import Change, CommandPath, DeskTurn, Say, To
from bot.domain import Category
from bot.i18n import Translator
from bot.lifecycle import Action, IllegalTransition, is_open
from bot.ports import CaseRecord, ConversationTx
from scheduler.calendar import parse_duration


async def category(path: CommandPath, turn: DeskTurn, case: CaseRecord, args: str) -> Change | None:
    _ = path.tr.gettext
    wanted = args.strip().casefold()
    choice = next(
        (c for c in Category if wanted in (c.value, path.staff.category(c).casefold())), None
    )
    if choice is None:
        turn.refuse(
            _("Which category? One of: {choices}").format(
                choices=", ".join(f"{c.value} ({path.staff.category(c)})" for c in Category)
            )
        )
        return None
    if not is_open(case.status):
        raise IllegalTransition(Action.NOTE, case.status)
    if choice is case.category:
        turn.refuse(
            _("{case_no} is already {category}.").format(
                case_no=case.case_no, category=path.staff.category(choice)
            )
        )
        return None
    before = case.category

    def apply(case: CaseRecord) -> None:
        case.category = choice

    async def timers(tx: ConversationTx, case: CaseRecord) -> None:
        await path.case_clock.category_changed(tx, case, turn.actor)

    def tell(case: CaseRecord) -> list[Say]:
        local = path.staff.local
        says = [
            Say(
                To.THREAD,
                _(
                    "🏷 {case_no} is now {category}; first response due {first}, "
                    "resolution due {end}."
                ).format(
                    case_no=case.case_no,
                    category=path.staff.category(choice),
                    first=local(case.response_due_at) if case.response_due_at else "—",
                    end=local(case.resolution_due_at) if case.resolution_due_at else "—",
                ),
            )
        ]
        if case.resolution_due_at is not None:
            tr = Translator(case.locale)
            says.append(
                Say(
                    To.COMPLAINANT,
                    tr._("Your complaint {case_no} will be resolved by {time} ({zone}).").format(
                        case_no=case.case_no,
                        time=local(case.resolution_due_at),
                        zone=path.staff.timezone.key,
                    ),
                )
            )
        return says

    return Change(
        None,
        "category_changed",
        {"from": before.value, "to": choice.value},
        apply=apply,
        timers=timers,
        tell=tell,
    )


async def extend(path: CommandPath, turn: DeskTurn, case: CaseRecord, args: str) -> Change | None:
    _ = path.tr.gettext
    amount, _sep, reason = args.strip().partition(" ")
    reason = reason.strip()
    try:
        by = parse_duration(amount)
    except ValueError:
        by = None
    if by is None or not reason:
        turn.refuse(
            _(
                "Write how long and why: /extend 2wd REASON (durations like 4h, 3d, 4wh, "
                "2wd); the complainant is told."
            )
        )
        return None
    if not is_open(case.status) or case.resolution_due_at is None:
        raise IllegalTransition(Action.NOTE, case.status)
    extension = by

    async def timers(tx: ConversationTx, case: CaseRecord) -> None:
        await path.case_clock.extend(tx, case, extension, reason, turn.actor)

    def tell(case: CaseRecord) -> list[Say]:
        assert case.resolution_due_at is not None
        due, tr = path.staff.local(case.resolution_due_at), Translator(case.locale)
        to_complainant = [
            tr._(
                "We need more time for your complaint {case_no}; it will be resolved "
                "by {time} ({zone})."
            ).format(case_no=case.case_no, time=due, zone=path.staff.timezone.key),
            tr._("Reason: {text}").format(text=reason),
        ]
        return [
            Say(To.COMPLAINANT, "\n".join(to_complainant)),
            Say(
                To.THREAD,
                _("⏳ {agent} extended {case_no} to {time}: {reason}").format(
                    agent=turn.agent.name, case_no=case.case_no, time=due, reason=reason
                ),
            ),
        ]

    return Change(None, timers=timers, tell=tell)


COMMANDS = {"category": category, "extend": extend}
