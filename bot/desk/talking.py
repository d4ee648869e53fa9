"""Talking: an agent's plain message in the case's thread goes to the complainant;
/info asks them for more (and the clock waits); /note stays among the agents."""

from __future__ import annotations

from bot.desk.path import Change, CommandPath, DeskTurn, Say, To, command_files
from bot.draft import EvidenceRef
from bot.i18n import Translator
from bot.lifecycle import Action
from bot.ports import CaseRecord


async def reply(
    path: CommandPath, turn: DeskTurn, case: CaseRecord, text: str, files: tuple[EvidenceRef, ...]
) -> Change:
    """An agent's message to the complainant."""

    def tell(case: CaseRecord) -> list[Say]:
        tr = Translator(case.locale)
        body = tr._("{agent} (case {case_no}):").format(
            agent=path.agent_name(tr, turn.agent), case_no=case.case_no
        )
        text_ = f"{body}\n{text}" if text else body
        return [Say(To.COMPLAINANT, text_, "agent_reply", tuple(f.attachment() for f in files))]

    return Change(
        Action.REPLY,
        "agent_message",
        {"text": text, "files": [f.named() for f in files]},
        tell=tell,
        takes_case=True,
        files=files,
    )


async def note(path: CommandPath, turn: DeskTurn, case: CaseRecord, text: str) -> Change | None:
    _ = path.tr.gettext
    if not text:
        turn.refuse(_("Write the note after the command: /note TEXT"))
        return None
    saved = _("📝 Internal note saved on {case_no}.").format(case_no=case.case_no)
    files = await command_files(turn)  # a file captioned /note: kept, never forwarded
    return Change(
        Action.NOTE,
        "note",
        {"text": text, **({"files": [f.named() for f in files]} if files else {})},
        tell=lambda case: [Say(To.AGENT, saved)],
        files=files,
        save=False,
    )


async def info(path: CommandPath, turn: DeskTurn, case: CaseRecord, text: str) -> Change | None:
    _ = path.tr.gettext
    if not text:
        turn.refuse(_("Write what you need from the complainant after the command: /info TEXT"))
        return None

    def tell(case: CaseRecord) -> list[Say]:
        tr = Translator(case.locale)
        question = [
            tr._("About your complaint {case_no}, {agent} needs more information:").format(
                case_no=case.case_no, agent=path.agent_name(tr, turn.agent)
            ),
            text,
            tr._("Please answer here; photos and documents are welcome."),
        ]
        return [
            Say(To.COMPLAINANT, "\n".join(question), "info_request"),
            Say(
                To.THREAD,
                _("❓ Information requested; {case_no} is waiting for the complainant.").format(
                    case_no=case.case_no
                ),
            ),
        ]

    return Change(
        Action.REQUEST_INFO,
        "info_requested",
        {"text": text},
        timers=path.case_clock.waiting_for_complainant,
        tell=tell,
        takes_case=True,
    )


COMMANDS = {"note": note, "info": info}
