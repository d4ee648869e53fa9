"""The key that signs links sent to complainants (the survey page's, the web chat's
resume links): WEB_SECRET_KEY, else one made at the first start and kept in DATA_DIR
(readable by this user only). Workers on several machines must share one: set
WEB_SECRET_KEY there."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

KEY_FILE = "web_secret.key"


def site_key(secret: str | None, data_dir: Path) -> bytes:
    if secret:
        return secret.encode()
    path = data_dir / KEY_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    # Written whole under a name of its own, then linked to the key's name, which fails
    # when another worker's key is there: a worker starting meanwhile never reads a key
    # file that is still empty.
    draft = path.with_name(f"{KEY_FILE}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key)
        os.link(draft, path)
    except FileExistsError:  # another worker made it first
        return path.read_bytes().strip()
    finally:
        draft.unlink()
    return key
