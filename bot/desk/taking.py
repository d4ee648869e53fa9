"""Taking a case: /claim it yourself, or /assign it to another agent."""

from __future__ import annotations

from bot.desk.path import Change, CommandPath, DeskTurn, Say, To
from bot.i18n import Translator
from bot.lifecycle import Action
from bot.ports import AgentRecord, CaseRecord


async def claim(path: CommandPath, turn: DeskTurn, case: CaseRecord, args: str) -> Change | None:
    return handled_by(path, turn, case, turn.agent, Action.CLAIM)


async def assign(path: CommandPath, turn: DeskTurn, case: CaseRecord, args: str) -> Change | None:
    who = args.split()[0] if args else ""
    agent = await turn.tx.find_agent(who) if who else None
    if agent is None and not who and turn.inbound.reply_to:
        agent = await turn.tx.find_agent(f"message:{turn.inbound.reply_to}")
    if agent is None:
        turn.refuse(
            path.tr._(
                "Whom to? Write /assign @username (or the agent's number), or reply to a "
                "message of that agent with /assign. Agents are known once they have "
                "written in this group."
            )
        )
        return None
    return handled_by(path, turn, case, agent, Action.ASSIGN)


def handled_by(
    path: CommandPath, turn: DeskTurn, case: CaseRecord, agent: AgentRecord, action: Action
) -> Change | None:
    """The case's new handler; the complainant hears of the first one."""
    _ = path.tr.gettext
    if case.handler is not None and case.handler.id == agent.id:
        turn.refuse(
            _("{agent} already handles {case_no}.").format(agent=agent.name, case_no=case.case_no)
        )
        return None
    previous = case.handler

    def apply(case: CaseRecord) -> None:
        case.handler = agent

    def tell(case: CaseRecord) -> list[Say]:
        says = [
            Say(
                To.THREAD,
                _("👤 {case_no} is now handled by {agent}.").format(
                    case_no=case.case_no, agent=agent.name
                ),
            )
        ]
        if previous is None:
            tr = Translator(case.locale)
            says.append(
                Say(
                    To.COMPLAINANT,
                    tr._("Your complaint {case_no} is now being handled by {agent}.").format(
                        case_no=case.case_no, agent=path.agent_name(tr, agent)
                    ),
                )
            )
        return says

    return Change(
        action,
        "claimed" if action is Action.CLAIM else "assigned",
        {"handler": agent.name, "previous": previous.name if previous else None},
        apply=apply,
        tell=tell,
    )


COMMANDS = {"claim": claim, "assign": assign}
