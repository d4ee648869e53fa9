"""The agents' desk: cases worked from the agents' group (or the operator CLI).

Each case has a thread in the group (a forum topic, or the replies to its card). An
agent's plain message in that thread goes to the complainant; commands move the case
through its lifecycle (`bot.lifecycle`). Everything lands on the timeline with the
agent as actor, and every message leaves through the outbox in the same transaction.

    routing.py   Desk: which command or message, on which case
    path.py      the one path every command takes (check → event → timers → save → tell)
    taking.py    /claim, /assign
    talking.py   plain messages to the complainant, /info, /note
    closing.py   /resolve (and its verification buttons), /reopen, /escalate
    refiling.py  /category, /extend
    referring.py /refer (a partner asked to investigate by a deadline)
    looking.py   /cases, /case

A new command is one function returning a `Change`, listed in its module's `COMMANDS`.
"""

from bot.desk.path import DeskTurn
from bot.desk.routing import AGENT_COMMANDS, Desk
from bot.staff import DeskConfig

__all__ = ["AGENT_COMMANDS", "Desk", "DeskConfig", "DeskTurn"]
