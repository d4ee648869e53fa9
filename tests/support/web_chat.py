"""A web chat visitor over real HTTP: the page's calls (session, send, upload), and its
event stream read in the background, as the chat page reads them."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
from typing import Any

import httpx

from tests.support.waiting import eventually

_ids = itertools.count(1)
CASE_NO = re.compile(r"TS-\d{8}-\d{4}")
# A 1×1 PNG: evidence as a phone's screenshot would be.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


class WebVisitor:
    def __init__(self, client: httpx.AsyncClient, lang: str = "zh_CN", consent: str = "v1") -> None:
        self.client = client
        self.lang = lang
        self.consent = consent
        self.token: str | None = None
        self.entries: list[dict[str, Any]] = []
        self._listening: asyncio.Task[None] | None = None

    async def __aenter__(self) -> WebVisitor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop_listening()

    def headers(self) -> dict[str, str]:
        return {"X-Chat-Token": self.token} if self.token else {}

    async def begin(self) -> dict[str, Any]:
        response = await self.client.post("/chat/api/session", json={"begin": True})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        self.token = body["token"]
        return body

    async def session(self) -> dict[str, Any]:
        response = await self.client.post("/chat/api/session", json={}, headers=self.headers())
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def post(self, **message: Any) -> httpx.Response:
        message.setdefault("id", f"m{next(_ids)}")
        message.setdefault("lang", self.lang)
        message.setdefault("consent", self.consent)
        return await self.client.post("/chat/api/send", json=message, headers=self.headers())

    async def say(self, text: str) -> None:
        response = await self.post(kind="text", text=text)
        assert response.status_code == 200, response.text

    async def press(self, label: str) -> None:
        """Presses the button `label` on the newest message that has it."""
        for entry in reversed(self.entries):
            for row in entry.get("buttons") or []:
                for button in row:
                    if button["label"] == label:
                        response = await self.post(
                            kind="button", data=button["data"], label=label, on=entry["ref"]
                        )
                        assert response.status_code == 200, response.text
                        return
        raise AssertionError(f"no button {label!r} in {self.texts()}")

    async def give_phone(self, phone: str) -> None:
        response = await self.post(kind="contact", phone=phone)
        assert response.status_code == 200, response.text

    async def upload(self, data: bytes, name: str, mime: str = "image/png") -> httpx.Response:
        return await self.client.post(
            "/chat/api/upload",
            data={"id": f"f{next(_ids)}", "lang": self.lang, "consent": self.consent},
            files={"file": (name, data, mime)},
            headers=self.headers(),
        )

    # ----- the event stream -------------------------------------------------------

    async def listen(self, after: int = 0) -> None:
        self._listening = asyncio.create_task(self._read(after))

    async def stop_listening(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await self._listening
            self._listening = None

    async def _read(self, after: int) -> None:
        async with self.client.stream(
            "GET", f"/chat/api/events?after={after}", headers=self.headers(), timeout=None
        ) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    self.entries.append(json.loads(line[6:]))

    def texts(self, since: int = 0) -> list[str]:
        """The bot's messages shown so far (each once, as the page shows them)."""
        seen: set[str] = set()
        texts = []
        for entry in self.entries[since:]:
            if entry["dir"] == "out" and entry["ref"] not in seen:
                seen.add(entry["ref"])
                texts.append(entry["text"])
        return texts

    async def expect(self, fragment: str, since: int = 0, within: float = 30.0) -> str:
        async def arrived() -> str | None:
            return next((t for t in self.texts(since) if fragment in t), None)

        return await eventually(arrived, within)


async def file_web_complaint(visitor: WebVisitor, description: str, *, photo: bool = True) -> str:
    """A Chinese complaint filed through the chat API to its receipt; its case number."""
    await visitor.listen()
    for action, value, expect in [
        ("text", "/start", "请用您自己的话描述发生了什么"),
        ("text", description, "已记录"),
        ("press", "继续", "请问您的姓名"),
        ("text", "张三", "我们如何联系您"),
        ("contact", "+86 138 1234 5678", "类型"),
        ("press", "申诉", "您投诉的是哪家公司"),
        ("text", "某某通信科技有限公司", "您有证据吗"),
    ]:
        mark = len(visitor.entries)
        await _act(visitor, action, value)
        await visitor.expect(expect, since=mark)
    mark = len(visitor.entries)
    if photo:
        response = await visitor.upload(PNG, "screenshot.png")
        assert response.status_code == 200, response.text
        await visitor.expect("已收到", since=mark)
        mark = len(visitor.entries)
        await visitor.press("完成")
    else:
        await visitor.press("跳过")
    await visitor.expect("您期望的处理结果", since=mark)
    mark = len(visitor.entries)
    await visitor.say("退还多扣的费用")
    await visitor.expect("请核对您的投诉内容", since=mark)
    mark = len(visitor.entries)
    await visitor.press("确认提交")
    receipt = await visitor.expect("您的投诉已受理", since=mark)
    found = CASE_NO.search(receipt)
    assert found, receipt
    return found.group(0)


async def _act(visitor: WebVisitor, action: str, value: str) -> None:
    if action == "press":
        await visitor.press(value)
    elif action == "contact":
        await visitor.give_phone(value)
    else:
        await visitor.say(value)
