"""The half-filled complaint of one conversation, stored as JSON between messages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.domain import Category, NoticeGiven, NoticeHow
from bot.messages import Attachment


class Step(StrEnum):
    """The question the conversation is waiting on."""

    DESCRIPTION = "description"
    DESCRIPTION_MORE = "description_more"
    NAME = "name"
    CONTACT = "contact"
    CATEGORY = "category"
    SUBJECT = "subject"
    EVIDENCE = "evidence"
    EXPECTATION = "expectation"
    CONFIRM = "confirm"
    EDIT_FIELD = "edit_field"


@dataclass(slots=True)
class DescriptionPart:
    message_id: str
    text: str


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    id: int
    name: str
    mime: str
    size: int
    sha256: str

    def attachment(self) -> Attachment:
        """The stored file as a message carries it (the outbox loads its bytes)."""
        return Attachment(self.name, self.mime, None, self.size, sha256=self.sha256)

    def named(self) -> dict[str, str]:
        """The file as the timeline records it."""
        return {"name": self.name, "sha256": self.sha256}


@dataclass(slots=True)
class DescriptionEdit:
    message_id: str
    before: str
    after: str
    at: datetime


@dataclass(slots=True)
class Draft:
    step: Step
    started_at: datetime
    description: list[DescriptionPart] = field(default_factory=list)
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    category: Category | None = None
    subject: str | None = None
    evidence: list[EvidenceRef] = field(default_factory=list)
    expectation: str | None = None
    evidence_done: bool = False
    # Set while a field is re-asked from the summary: answering returns to the summary.
    editing: bool = False
    description_edits: list[DescriptionEdit] = field(default_factory=list)
    # The privacy notice's version the greeting showed, and the version the person
    # agreed to on the channel's own page (`Inbound.consent`), if they did.
    notice_shown: str | None = None
    consent: str | None = None

    @property
    def description_text(self) -> str:
        return "\n".join(part.text for part in self.description)

    def notice_given(self) -> NoticeGiven | None:
        """The privacy notice as the case's timeline records it: agreed to, else shown
        in the greeting (a draft begun before the greeting had it: neither)."""
        if self.consent:
            return NoticeGiven.agreed_to(self.consent)
        if self.notice_shown:
            return NoticeGiven.shown(self.notice_shown, NoticeHow.SHOWN_IN_CHAT)
        return None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        for edit in data["description_edits"]:
            edit["at"] = edit["at"].isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Draft:
        return cls(
            step=Step(data["step"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            description=[DescriptionPart(**part) for part in data.get("description", [])],
            name=data.get("name"),
            phone=data.get("phone"),
            email=data.get("email"),
            category=Category(data["category"]) if data.get("category") else None,
            subject=data.get("subject"),
            evidence=[EvidenceRef(**ref) for ref in data.get("evidence", [])],
            expectation=data.get("expectation"),
            evidence_done=bool(data.get("evidence_done")),
            editing=bool(data.get("editing")),
            description_edits=[
                DescriptionEdit(
                    message_id=e["message_id"],
                    before=e["before"],
                    after=e["after"],
                    at=datetime.fromisoformat(e["at"]),
                )
                for e in data.get("description_edits", [])
            ],
            notice_shown=data.get("notice_shown"),
            consent=data.get("consent"),
        )
