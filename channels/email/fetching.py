"""Fetching one mail without ever holding it whole: structure first, then parts.

`BODYSTRUCTURE` tells what the mail is made of and how large each part is. The
original is then streamed to a spool file in `CHUNK`-sized partial fetches
(`BODY.PEEK[]<offset.length>`), hashed on the way: it becomes the case's
`message.eml` straight from disk. A mail no larger than `CHUNK` (1 MB) is then read
back from there as it came. A larger one is
rebuilt for the parser from its sections (the header, each part's MIME header and
body), in which a part larger than the limit keeps its MIME header but not its body,
and a file larger than `CHUNK` is fetched in chunks, decoded on the way to a file on
disk, and handed over from there. A header named with a per-process secret tells the
parser which: the size of a file not received, or where one on disk is. Memory thus
holds the mail's text and small parts, never the whole mail nor a large file.
(What a rebuilt mail loses: text outside its parts, which only broken MIME has; the
original keeps it. A server whose BODYSTRUCTURE cannot be read gets the original read.)
"""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import os
import quopri
import re
import secrets
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aioimaplib

CHUNK = 1 << 20
# Set on the MIME header of a part left out or written to disk; unguessable, so a mail
# cannot claim it (and with it, a file of ours).
MARK_HEADER = f"X-Complaintbot-Part-{secrets.token_hex(8)}"
Command = Callable[[Awaitable[aioimaplib.Response]], Awaitable[aioimaplib.Response]]
_TOKEN = re.compile(rb'\(|\)|"(?:[^"\\]|\\.)*"|\{\d+\}$|[^\s()"]+')


class FetchError(Exception):
    """The server answered a fetch with something other than OK."""


@dataclass(frozen=True, slots=True)
class Spooled:
    """The original on disk: its path, size and sha256."""

    path: Path
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Part:
    """One node of a BODYSTRUCTURE: `children` for a multipart, else a leaf."""

    mime: str
    params: dict[str, str]
    encoding: str
    size: int
    children: tuple[Part, ...] = ()

    @property
    def decoded_size(self) -> int:
        """About how large the file is once decoded (base64 is 4 characters for 3
        bytes, in lines of 76 plus CRLF)."""
        return self.size * 57 // 78 if self.encoding == "base64" else self.size


# ----- BODYSTRUCTURE -----------------------------------------------------------------


def _tokens(lines: list[Any]) -> list[bytes | list[Any] | None]:
    """The response as nested lists of strings (quoted, literal or atom; NIL is None)."""
    stack: list[list[Any]] = [[]]
    pending_literal = False
    for line in lines:
        if isinstance(line, bytearray):
            if pending_literal:
                stack[-1].append(bytes(line))
                pending_literal = False
            continue
        for token in _TOKEN.findall(bytes(line)):
            if token == b"(":
                stack.append([])
            elif token == b")" and len(stack) > 1:
                done = stack.pop()
                stack[-1].append(done)
            elif token.startswith(b"{"):
                pending_literal = True
            elif token.startswith(b'"'):
                stack[-1].append(re.sub(rb"\\(.)", rb"\1", token[1:-1]))
            else:
                stack[-1].append(None if token.upper() == b"NIL" else token)
    return stack[0]


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""


def _params(value: Any) -> dict[str, str]:
    if not isinstance(value, list):
        return {}
    return {_text(k).lower(): _text(v) for k, v in zip(value[::2], value[1::2], strict=False)}


def _part(node: list[Any]) -> Part:
    if node and isinstance(node[0], list):
        # The children, then the subtype and its parameters (the boundary).
        count = next((i for i, item in enumerate(node) if not isinstance(item, list)), len(node))
        children = tuple(_part(child) for child in node[:count] if child)
        subtype = _text(node[count]) if len(node) > count else "mixed"
        params = _params(node[count + 1]) if len(node) > count + 1 else {}
        return Part(f"multipart/{subtype.lower()}", params, "", 0, children)
    mime = f"{_text(node[0])}/{_text(node[1])}".lower()
    size = node[6] if len(node) > 6 else b"0"
    return Part(
        mime,
        _params(node[2]),
        _text(node[5]).lower() if len(node) > 5 else "",
        int(size) if isinstance(size, bytes) and size.isdigit() else 0,
    )


def parse_bodystructure(lines: list[Any]) -> Part | None:
    """The structure in a FETCH answer, or None when there is none to read."""
    found = _tokens(lines)
    for item in found:
        if isinstance(item, list):
            for key, value in zip(item[::2], item[1::2], strict=False):
                if key == b"BODYSTRUCTURE" and isinstance(value, list) and value:
                    try:
                        return _part(value)
                    except (IndexError, ValueError):
                        return None
    return None


# ----- fetching ----------------------------------------------------------------------


class MailFetcher:
    """Fetches one UID's mail: the original to a spool file, the rest as sections."""

    def __init__(self, imap: aioimaplib.IMAP4, command: Command, max_file: int) -> None:
        self.imap = imap
        self.command = command
        self.max_file = max_file
        # Large files written to disk by `rebuild`: the caller deletes them when done.
        self.files: list[Path] = []

    async def _section(self, uid: int, section: str, offset: int, length: int) -> bytes:
        response = await self.command(
            self.imap.uid("fetch", str(uid), f"(BODY.PEEK[{section}]<{offset}.{length}>)")
        )
        if response.result != "OK":
            raise FetchError(f"fetching UID {uid} failed: {response.lines[-1]!r}")
        literals = [bytes(line) for line in response.lines if isinstance(line, bytearray)]
        return literals[0] if literals else b""

    async def section(self, uid: int, section: str) -> bytes:
        """One section, whole (it is at most the attachment limit), in chunks."""
        data = bytearray()
        while True:
            chunk = await self._section(uid, section, len(data), CHUNK)
            data += chunk
            if len(chunk) < CHUNK:
                return bytes(data)

    async def spool(self, uid: int, directory: str | None = None) -> Spooled:
        """The whole original, streamed to a private temporary file."""
        digest = hashlib.sha256()
        handle, name = tempfile.mkstemp(prefix="mail-", suffix=".eml", dir=directory)
        size = 0
        try:
            with os.fdopen(handle, "wb") as out:
                while True:
                    chunk = await self._section(uid, "", size, CHUNK)
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    if len(chunk) < CHUNK:
                        break
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            raise
        return Spooled(Path(name), size, digest.hexdigest())

    async def rebuild(self, uid: int, structure: Part) -> bytes:
        """The mail as the parser should read it: every part over the limit emptied,
        every large file written to disk (`files`) instead of carried along."""
        if structure.children:
            return await self.section(uid, "HEADER") + await self._children(uid, "", structure)
        header = await self.section(uid, "HEADER")
        if self._omitted(structure):
            return _mark(header, str(structure.decoded_size))
        if _to_disk(structure):
            return _mark(header, await self._file(uid, "TEXT", structure.encoding))
        return header + await self.section(uid, "TEXT")

    async def _children(self, uid: int, prefix: str, node: Part) -> bytes:
        boundary = node.params.get("boundary", "").encode("utf-8", "surrogateescape")
        out = bytearray()
        for number, child in enumerate(node.children, 1):
            path = f"{prefix}{number}"
            header = await self.section(uid, f"{path}.MIME")
            out += b"--" + boundary + b"\r\n"
            if child.children:
                out += header + await self._children(uid, f"{path}.", child)
            elif self._omitted(child):
                out += _mark(header, str(child.decoded_size))
            elif _to_disk(child):
                out += _mark(header, await self._file(uid, path, child.encoding))
            else:
                out += header + await self.section(uid, path) + b"\r\n"
        out += b"--" + boundary + b"--\r\n"
        return bytes(out)

    def _omitted(self, part: Part) -> bool:
        return part.decoded_size > self.max_file

    async def _file(self, uid: int, section: str, encoding: str) -> str:
        """Fetches a part in chunks, decoding as it goes, to a private temporary file
        (kept in `files`, for the caller to delete); the mark's value for it."""
        digest = hashlib.sha256()
        decoder = _Decoder(encoding)
        handle, name = tempfile.mkstemp(prefix="part-", suffix=".bin")
        self.files.append(Path(name))
        size = offset = 0
        with os.fdopen(handle, "wb") as out:
            while True:
                chunk = await self._section(uid, section, offset, CHUNK)
                offset += len(chunk)
                last = len(chunk) < CHUNK
                data = decoder.feed(chunk, last)
                out.write(data)
                digest.update(data)
                size += len(data)
                if last:
                    break
        return f"file {size} {digest.hexdigest()} {name}"


def _to_disk(part: Part) -> bool:
    """A large file: not text (the body may be one) nor an enclosed mail (read for
    what bounced), larger than one chunk."""
    return part.size > CHUNK and part.mime.split("/")[0] not in ("text", "message")


class _Decoder:
    """Content-Transfer-Encoding undone piece by piece, as the email package would:
    base64 ignoring what is not of its alphabet, quoted-printable by whole lines."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.rest = b""

    def feed(self, chunk: bytes, last: bool) -> bytes:
        if self.encoding == "base64":
            data = self.rest + _NOT_BASE64.sub(b"", chunk)
            cut = len(data) if last else len(data) - len(data) % 4
            self.rest = data[cut:]
            try:
                return binascii.a2b_base64(data[:cut] + b"=" * (-cut % 4) * last)
            except binascii.Error:
                return b""
        if self.encoding == "quoted-printable":
            data = self.rest + chunk
            cut = len(data) if last else data.rfind(b"\n") + 1
            self.rest = data[cut:]
            return quopri.decodestring(data[:cut])
        return chunk


_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=]")


def _mark(header: bytes, value: str) -> bytes:
    """A part's header with the fetcher's mark and no body: the omitted part's size,
    or `file SIZE SHA256 PATH` for one on disk."""
    head = header.rstrip(b"\r\n")
    return head + f"\r\n{MARK_HEADER}: {value}\r\n\r\n\r\n".encode("utf-8", "surrogateescape")
