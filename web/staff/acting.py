"""What a staff user does to a case from its page: the desk's commands, under the desk's
rules and with the same timeline events (`ComplaintBot.operate`), allowed by role
(`bot.roles`). The page shows the desk's answers after the redirect.
"""

from __future__ import annotations

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from bot.lifecycle import VERIFICATION
from bot.messages import Attachment
from bot.roles import may_run
from web.context import WebContext
from web.identity import staff_operator
from web.staff.auth import Staff
from web.staff.pages import gettext, recorded, redirect_with

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_FILES = 10


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def command_text(command: str, form: FormData) -> str:
    """The desk command's arguments after the case number, from the form's fields."""
    text = _text(form, "text")
    if command == "resolve":
        verification = " ".join(f"{key}={_text(form, key)}" for key in VERIFICATION)
        return f"{verification} {text}".strip()
    if command == "assign":
        return _text(form, "assignee")
    if command == "category":
        return _text(form, "category")
    if command == "extend":
        return f"{_text(form, 'duration')} {text}".strip()
    if command == "refer":
        return " ".join(p for p in (_text(form, "partner"), _text(form, "within"), text) if p)
    return text


async def _files(form: FormData) -> tuple[list[Attachment], bool]:
    """The reply's files, and whether one was too large to take."""
    found, too_large = [], False
    for upload in form.getlist("files")[:MAX_FILES]:
        if not isinstance(upload, UploadFile) or not upload.filename:
            continue
        data = await upload.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            too_large = True
            continue
        found.append(
            Attachment(
                name=upload.filename,
                mime=upload.content_type or "application/octet-stream",
                data=data,
                size=len(data),
            )
        )
    return found, too_large


async def act(context: WebContext, request: Request, staff: Staff) -> Response:
    case_no = request.path_params["case_no"].upper()
    page = f"/staff/cases/{case_no}"
    _ = gettext(context, request)
    form = await request.form()
    command = _text(form, "command")
    if not may_run(staff.role, command):
        await recorded(
            context, request, staff, "case_action", case_no, {"command": command, "done": False}
        )
        return redirect_with(page, [("error", _("Your role may not do this."))])
    files, too_large = await _files(form) if command == "reply" else ([], False)
    if too_large:
        return redirect_with(page, [("error", _("A file is larger than 20 MB; nothing was sent."))])
    args = command_text(command, form)
    if command in ("reply", "note", "info") and not args and not files:
        return redirect_with(page, [("error", _("Write the text first."))])
    user = staff.user
    operator = staff_operator(user.login, user.name, user.telegram_id, "web")
    done, answers = await context.bot.operate(operator, command, case_no, args, tuple(files))
    await recorded(
        context,
        request,
        staff,
        "case_action",
        case_no,
        {"command": command, "done": done, "files": [f.name for f in files]},
    )
    kind = "ok" if done else "error"
    shown = answers or ([_("Done.")] if done else [_("Nothing was done.")])
    return redirect_with(page, [(kind, answer) for answer in shown])
