"""Daily anchors: the heads of the chains, written to files outside the database.

A chain only shows edits made without recomputing it: whoever can write SQL can also
rebuild every hash after the row they changed. So once a day the head of the access log
(seq, hash) and the head of every case's timeline are written to
`AUDIT_ANCHOR_DIR/anchor-YYYY-MM-DD.json`, a directory meant to be out of the database
administrator's reach (another machine's mount, write-once storage). `check_anchors`
then compares every anchored hash with the one stored at that position today: a chain
rebuilt after the anchor no longer has the anchored hash there.

A day's file is never overwritten: it is written under a temporary name and linked to
its final name, which fails when the file exists (another worker, or a restart, was
first).
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.access_log import access_hash_at, access_head
from storage.database import READ_ONLY
from storage.files import private_directory, write_private_text
from storage.models import Case, TimelineEvent, TimelineHead

ACCESS_LOG = "access log"  # the chain name of the access log in `AnchorProblem`
_BATCH = 500


def anchor_path(directory: Path, day: date) -> Path:
    return directory / f"anchor-{day.isoformat()}.json"


async def _timeline_heads(engine: AsyncEngine) -> dict[str, dict[str, Any]]:
    query = select(Case.case_no, TimelineHead.seq, TimelineHead.hash).join(
        TimelineHead,
        TimelineHead.case_id == Case.id,  # type: ignore[arg-type]
    )
    async with AsyncSession(engine.execution_options(**{READ_ONLY: True})) as session:
        rows = (await session.execute(query.order_by(Case.case_no))).all()
    return {case_no: {"seq": seq, "hash": digest} for case_no, seq, digest in rows}


async def write_anchor(engine: AsyncEngine, directory: Path, day: date, now: datetime) -> Path:
    """Writes the day's anchor file (0600, in a 0700 directory) unless it exists; its path."""
    target = anchor_path(directory, day)
    if await asyncio.to_thread(target.exists):
        return target
    seq, digest = await access_head(engine)
    document = {
        "day": day.isoformat(),
        "written_at": now.isoformat(),
        "access_log": {"seq": seq, "hash": digest},
        "timelines": await _timeline_heads(engine),
    }
    text = json.dumps(document, ensure_ascii=False, indent=1) + "\n"
    await asyncio.to_thread(_write_once, target, text)
    return target


def _write_once(target: Path, text: str) -> None:
    private_directory(target.parent)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    write_private_text(temporary, text)
    try:
        os.link(temporary, target)
    except FileExistsError:
        pass  # written meanwhile by another worker: theirs stands
    finally:
        os.unlink(temporary)


@dataclass(frozen=True, slots=True)
class AnchorProblem:
    """An anchored head the database no longer agrees with."""

    anchor: str  # the file's name
    chain: str  # ACCESS_LOG or a case number
    seq: int | None
    problem: str  # "changed" (rebuilt after the anchor) | "missing" | "unreadable"


@dataclass(frozen=True, slots=True)
class AnchorCheck:
    files: int
    problems: list[AnchorProblem]


def _read_anchors(directory: Path) -> list[tuple[str, dict[str, Any] | None]]:
    """Each anchor file's name and content (None when it cannot be read), oldest first."""
    if not directory.is_dir():
        return []
    found: list[tuple[str, dict[str, Any] | None]] = []
    for path in sorted(directory.glob("anchor-*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            document = None
        found.append((path.name, document if _well_formed(document) else None))
    return found


def _well_formed(document: Any) -> bool:
    try:
        heads = [document["access_log"], *document["timelines"].values()]
        return all(isinstance(h["seq"], int) and isinstance(h["hash"], str) for h in heads)
    except (KeyError, TypeError, AttributeError):
        return False


async def check_anchors(engine: AsyncEngine, directory: Path) -> AnchorCheck:
    """Every anchor file of `directory` against the database, oldest first."""
    anchors = await asyncio.to_thread(_read_anchors, directory)
    problems: list[AnchorProblem] = []
    for name, document in anchors:
        if document is None:
            problems.append(AnchorProblem(name, "", None, "unreadable"))
            continue
        access = document["access_log"]
        if access["seq"] > 0:
            stored = await access_hash_at(engine, access["seq"])
            if stored != access["hash"]:
                problem = "missing" if stored is None else "changed"
                problems.append(AnchorProblem(name, ACCESS_LOG, access["seq"], problem))
        problems.extend(await _check_timelines(engine, name, document["timelines"]))
    return AnchorCheck(len(anchors), problems)


async def _check_timelines(
    engine: AsyncEngine, name: str, heads: dict[str, dict[str, Any]]
) -> list[AnchorProblem]:
    """Each anchored case head against the event stored at its position, in batches."""
    wanted = sorted(heads.items())
    found: dict[tuple[str, int], str] = {}
    async with AsyncSession(engine.execution_options(**{READ_ONLY: True})) as session:
        for start in range(0, len(wanted), _BATCH):
            keys = [(case_no, head["seq"]) for case_no, head in wanted[start : start + _BATCH]]
            query = (
                select(Case.case_no, TimelineEvent.seq, TimelineEvent.hash)
                .join(Case, Case.id == TimelineEvent.case_id)  # type: ignore[arg-type]
                .where(tuple_(Case.case_no, TimelineEvent.seq).in_(keys))
            )
            for case_no, seq, digest in (await session.execute(query)).all():
                found[(case_no, seq)] = digest
    problems = []
    for case_no, head in wanted:
        stored = found.get((case_no, head["seq"]))
        if stored != head["hash"]:
            problem = "missing" if stored is None else "changed"
            problems.append(AnchorProblem(name, case_no, head["seq"], problem))
    return problems
