"""One person, one handler: the agent a staff user acts as, whatever the tool.

A staff user with a Telegram id is the Telegram agent with that id (the name on the
case and in the figures is the same as in the agents' group); without one, the agent
of the staff tools known by the staff user's login.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.agents import Operator
from storage.staff import staff_user_named


def staff_operator(login: str, name: str, telegram_id: int | None, via: str) -> Operator:
    """The agent a staff user acts as; `via` names the tool (web, api, cli)."""
    if telegram_id is not None:
        return Operator(name, via=via, channel="telegram", external_id=str(telegram_id))
    return Operator(name, via=via, channel="staff", external_id=login)


async def cli_operator(engine: AsyncEngine, agent: str) -> Operator:
    """The CLI's `--agent NAME`: the staff user with that login or name where there is
    one, otherwise an operator known only by that name."""
    user = await staff_user_named(engine, agent.strip())
    if user is None:
        return Operator(agent)
    return staff_operator(user.login, user.name, user.telegram_id, "cli")
