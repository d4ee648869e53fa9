"""Email: IMAP intake (`imap`), MIME reading (`mime`, `quotes`, `inbound`), SMTP sending
(`smtp`, `compose`); `channel` is the registry's entry (on when IMAP_HOST is set) and
`running` wires poller and sender for one run. Mail in and out is translated here;
what to do with it is bot/'s."""

CHANNEL = "email"
