"""The settings of the complainants' web side (the chat, the form, the status page,
the survey page) and of the privacy notice every channel shows.

A part of `complaintbot.settings.Settings`, kept apart so each class reads in one
sitting; a wrong value names its variable like every other setting.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings


def _http_address(value: str, example: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http(s) address such as {example}")
    return value.strip()


class WebSettings(BaseSettings):
    # `complaintbot serve` serves complainants the web chat (/chat/), the form
    # (/complaint), the status page (/status) and the survey page unless this is false.
    WEB_ENABLED: bool = True
    # The address people reach (behind the proxy): used in the embed snippet and in
    # every link sent by mail; default http://HOST:PORT.
    PUBLIC_BASE_URL: str | None = None
    # The company sites that may embed the chat widget (CORS, CSP frame-ancestors).
    WEB_ALLOWED_ORIGINS: str = ""
    WEB_MAX_UPLOAD_MB: int = Field(default=20, ge=1, le=100)
    # Signs the survey links (and the links back to a conversation); without it a key
    # is made once in DATA_DIR, which only workers sharing DATA_DIR share.
    WEB_SECRET_KEY: str | None = Field(default=None, repr=False)
    # Carrier-grade NAT puts many mainland users behind one address: generous by default.
    WEB_REQUESTS_PER_MINUTE_PER_IP: int = Field(default=600, ge=10)
    WEB_OPEN_DRAFTS_PER_IP: int = Field(default=200, ge=1)
    # The privacy notice (PIPL) shown before the first question on every channel: a
    # page of the company's, else the built-in text (served at /privacy).
    PRIVACY_NOTICE_URL: str | None = None
    # Changes when the notice does; default: derived from the URL or the built-in text.
    PRIVACY_NOTICE_VERSION: str | None = None

    @field_validator(
        "PUBLIC_BASE_URL",
        "PRIVACY_NOTICE_URL",
        "WEB_SECRET_KEY",
        "PRIVACY_NOTICE_VERSION",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("PUBLIC_BASE_URL")
    @classmethod
    def _public_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        address = _http_address(value, "https://complaints.example.com")
        if urlsplit(address).query or urlsplit(address).fragment:
            raise ValueError("must be an address without ? or #")
        return address.rstrip("/")

    @field_validator("PRIVACY_NOTICE_URL")
    @classmethod
    def _notice_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_address(value, "https://example.com/privacy")

    @field_validator("WEB_ALLOWED_ORIGINS")
    @classmethod
    def _origins(cls, value: str) -> str:
        origins = [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        for origin in origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise ValueError(
                    f"{origin!r} is not an origin (example: https://www.example.com,"
                    "https://m.example.com)"
                )
        return ",".join(origins)

    @field_validator("WEB_SECRET_KEY")
    @classmethod
    def _secret_key(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 32:
            raise ValueError("must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return value

    @property
    def web_allowed_origins(self) -> tuple[str, ...]:
        return tuple(filter(None, self.WEB_ALLOWED_ORIGINS.split(",")))

    def public_base_url(self, host: str, port: int) -> str:
        """PUBLIC_BASE_URL, else where the server listens."""
        if self.PUBLIC_BASE_URL:
            return self.PUBLIC_BASE_URL
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def privacy_notice_version(self, builtin_text: str) -> str:
        """PRIVACY_NOTICE_VERSION, else a digest of what the notice is (its URL or the
        built-in text), so that a changed notice has a new version on the record."""
        if self.PRIVACY_NOTICE_VERSION:
            return self.PRIVACY_NOTICE_VERSION
        basis = self.PRIVACY_NOTICE_URL or builtin_text
        return hashlib.sha256(basis.encode()).hexdigest()[:12]
