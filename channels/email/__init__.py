"""Email: IMAP intake (`imap`), MIME reading (`mime`, `quotes`, `inbound`), SMTP sending
(`smtp`, `compose`). Mail in and out is translated here; what to do with it is bot/'s."""
