"""The complainant's chat: the intake until the case is opened, then follow-ups.

While a draft is open, every text, button, shared phone number, file and edit is a
step of the intake (`bot.intake`). Without a draft, a message belongs to the person's
latest case (a follow-up, shown to its agents), or starts a new intake when there is
none. Commands and survey answers are routed elsewhere before this is asked.
"""

from __future__ import annotations

from bot.cases import Cases, Complaint
from bot.conversation import ChatTurn
from bot.draft import Draft, EvidenceRef, Step
from bot.intake import Edited, Files, IntakeInput, IntakeResult, Press, SharedPhone, Text
from bot.messages import InboundKind, Reply
from bot.ports import CaseRecord, Clock
from bot.staff import StaffNotices


class Complainant:
    """One message of a complainant's chat that is neither a command nor a survey answer."""

    def __init__(self, cases: Cases, staff: StaffNotices, clock: Clock) -> None:
        self.cases = cases
        self.staff = staff
        self.clock = clock

    async def handle(self, turn: ChatTurn) -> None:
        inbound = turn.inbound
        kind = inbound.kind
        if kind is InboundKind.BUTTON:
            await self._intake_step(turn, Press(inbound.button_data or ""))
        elif kind is InboundKind.TEXT:
            message_id = inbound.message_id or inbound.transport_id
            await self._intake_step(turn, Text(message_id, inbound.text))
        elif kind is InboundKind.CONTACT:
            await self._intake_step(turn, SharedPhone(inbound.phone or ""))
        elif kind is InboundKind.ATTACHMENT:
            await self._intake_step(turn, await self._store_files(turn))
        elif kind is InboundKind.EDIT:
            await self._on_edit(turn)
        else:
            self._unsupported(turn)

    # ----- intake --------------------------------------------------------------

    async def _intake_step(self, turn: ChatTurn, event: IntakeInput) -> None:
        draft = turn.state.draft
        if draft is None and isinstance(event, (Text, Files)):
            case = await turn.tx.latest_case_of_sender()
            if case is not None:
                await self._follow_up(turn, case, event)
                return
        if draft is None:
            if isinstance(event, Press):
                turn.say(
                    Reply(
                        turn.tr._(
                            "That button is no longer active. Send a message to file a new complaint."  # noqa: E501
                        )
                    )
                )
                return
            started = turn.begin_intake()
            draft = started.draft
            assert draft is not None
            turn.say(started.replies[0])
        if turn.inbound.consent:
            # Agreed to on the channel's page (again, or for the first time mid-intake).
            draft.consent = turn.inbound.consent
        await self._apply(turn, turn.intake.step(draft, event))

    async def _apply(self, turn: ChatTurn, result: IntakeResult) -> None:
        turn.state.draft = result.draft
        turn.say(*result.replies)
        if result.confirmed and result.draft is not None:
            await self._open_case(turn, result.draft)

    async def _open_case(self, turn: ChatTurn, draft: Draft) -> None:
        missing = _first_missing(draft)
        if missing is not None:
            draft.step = missing
            turn.say(turn.intake.question(draft))
            return
        assert draft.category is not None and draft.name and draft.subject and draft.expectation
        opened = await self.cases.open(
            turn.tx,
            turn.inbound.channel,
            turn.inbound.conversation,
            Complaint(
                locale=turn.tr.locale,
                name=draft.name,
                phone=draft.phone,
                email=draft.email,
                category=draft.category,
                subject=draft.subject,
                description=draft.description_text,
                expectation=draft.expectation,
                received_at=draft.started_at,
                evidence=tuple(draft.evidence),
                description_edits=tuple(draft.description_edits),
                privacy=draft.notice_given(),
            ),
        )
        turn.state.draft = None
        how_to_follow = turn.tr._("Send /status {case_no} at any time to see its progress.")
        receipt = self.cases.receipt(turn.tr, opened)
        receipt.append(how_to_follow.format(case_no=opened.case_no))
        turn.say(Reply("\n".join(receipt)), kind="receipt", case_no=opened.case_no)

    async def _store_files(self, turn: ChatTurn) -> Files:
        inbound = turn.inbound
        stored: list[EvidenceRef] = []
        too_large: list[str] = []
        for attachment in inbound.attachments:
            if not attachment.received:
                too_large.append(attachment.name)
            else:
                stored.append(await turn.tx.store_evidence(attachment, inbound.received_at))
        return Files(
            message_id=inbound.message_id or inbound.transport_id,
            stored=tuple(stored),
            too_large=tuple(too_large),
            caption=inbound.text,
        )

    # ----- after the receipt ---------------------------------------------------

    async def _follow_up(self, turn: ChatTurn, case: CaseRecord, event: Text | Files) -> None:
        """A message after the receipt: it belongs to the person's latest case."""
        text = event.text if isinstance(event, Text) else event.caption
        files = event.stored if isinstance(event, Files) else ()
        await self.cases.add_message(turn.tx, case, text, files)
        _ = turn.tr.gettext
        if isinstance(event, Files) and event.too_large:
            turn.say(Reply(_("A file was too large (the limit is 20 MB) and was not received.")))
        turn.say(
            Reply(
                _("Added to your case {case_no}. To file a new complaint, send /new.").format(
                    case_no=case.case_no
                )
            )
        )

    async def _on_edit(self, turn: ChatTurn) -> None:
        inbound = turn.inbound
        event = Edited(inbound.edited_message_id or "", inbound.text, inbound.received_at)
        if turn.state.draft is not None:
            await self._apply(turn, turn.intake.step(turn.state.draft, event))
            return
        case = await turn.tx.latest_case_of_sender()
        before = await turn.tx.previous_text(inbound.edited_message_id or "")
        if case is not None:
            await turn.tx.attach_inbound(case, ())
            await turn.tx.add_event(
                case,
                self.clock.now(),
                f"complainant:{case.complainant_id}",
                "complainant_message_edited",
                {"before": before, "after": inbound.text},
            )
            await self.staff.post(
                turn.tx,
                case,
                self.staff.complainant_said(case, inbound.text, 0, edited_from=before or ""),
            )
        turn.say(Reply(turn.tr._("Your edit was recorded.")))

    def _unsupported(self, turn: ChatTurn) -> None:
        _ = turn.tr.gettext
        turn.say(
            Reply(
                _(
                    "Sorry, I cannot read this kind of message. Please send text, photos or documents."  # noqa: E501
                )
            )
        )
        if turn.state.draft is not None:
            turn.say(turn.intake.question(turn.state.draft))


def _first_missing(draft: Draft) -> Step | None:
    """The first required field a confirmed draft still lacks, if any: it is asked
    again rather than a case opened incomplete."""
    checks = (
        (Step.DESCRIPTION, bool(draft.description)),
        (Step.NAME, bool(draft.name)),
        (Step.CONTACT, bool(draft.phone or draft.email)),
        (Step.CATEGORY, draft.category is not None),
        (Step.SUBJECT, bool(draft.subject)),
        (Step.EXPECTATION, bool(draft.expectation)),
    )
    return next((step for step, ok in checks if not ok), None)
