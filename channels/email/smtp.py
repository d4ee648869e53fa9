"""The email `Sender`: composes the message and hands it to the SMTP server.

A 5xx answer (unknown recipient, refused sender) is permanent; a 4xx answer, a
refused connection or a timeout is transient and the outbox tries again later. An
address without a domain (`mal`, what a hostile From can leave) is never handed to the
server: a local server would deliver it to a local user.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from email.utils import parseaddr

import aiosmtplib

from bot.messages import Outbound
from bot.ports import Clock, SystemClock
from channels.email.compose import compose
from delivery.sending import DeliveryError, Sent

log = logging.getLogger(__name__)
_RECIPIENT = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    security: str  # ssl | starttls | none
    mail_from: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0


class SmtpSender:
    def __init__(self, config: SmtpConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()

    async def send(self, outbound: Outbound) -> Sent:
        config = self.config
        if not _RECIPIENT.match(outbound.conversation):
            raise DeliveryError("not a mail address (no domain)", permanent=True)
        message = compose(outbound, config.mail_from, self.clock.now())
        envelope_from = parseaddr(config.mail_from)[1]
        try:
            await aiosmtplib.send(
                message,
                sender=envelope_from,
                recipients=[outbound.conversation],
                hostname=config.host,
                port=config.port,
                username=config.username or None,
                password=config.password or None,
                use_tls=config.security == "ssl",
                start_tls=True if config.security == "starttls" else False,
                timeout=config.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [refused.code for refused in error.recipients]
            raise DeliveryError(str(error), permanent=all(500 <= c < 600 for c in codes)) from error
        except aiosmtplib.SMTPAuthenticationError as error:
            # A wrong password is fixed by an operator, not by giving up on the mail.
            log.error("SMTP server refused SMTP_USERNAME/SMTP_PASSWORD: %s", error.message)
            raise DeliveryError("SMTP login refused", permanent=False) from error
        except aiosmtplib.SMTPResponseException as error:
            raise DeliveryError(
                f"SMTP {error.code}: {error.message}", permanent=500 <= error.code < 600
            ) from error
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise DeliveryError(f"SMTP server unreachable: {error}", permanent=False) from error
        message_id = str(message["Message-ID"])
        log.info("mail sent (case %s)", outbound.case_no or "-")
        return Sent((message_id,))
