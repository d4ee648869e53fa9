"""Reading mail: the corpus through `mail_to_inbound`, as the bot will see each one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from bot.messages import Inbound, InboundKind
from channels.email.inbound import RAW_NAME, mail_to_inbound
from channels.email.mime import safe_file_name
from channels.email.quotes import strip_quoted
from tests.channels import mail_corpus as corpus

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def read(raw: bytes, **options: object) -> Inbound:
    return mail_to_inbound(raw, NOW, **options)  # type: ignore[arg-type]


def files(inbound: Inbound) -> list[str]:
    return [a.name for a in inbound.attachments if a.name != RAW_NAME]


# (mail, sender, display name, subject, a piece of the text, attached file names)
NEW_MAIL: list[tuple[Callable[[], bytes], str, str, str, str, list[str]]] = [
    (
        corpus.gbk_complaint,
        "wang@example.cn",
        "王小明",
        corpus.GBK_SUBJECT,
        "营业厅在朱镕基路",
        ["截图.png"],
    ),
    (corpus.big5_complaint, "chan@example.tw", "陳大文", "帳單重複扣款", "請協助退款", []),
    (corpus.iso2022jp_complaint, "yamada@example.jp", "山田太郎", "請求の誤り", "請求額", []),
    (
        corpus.utf8_rfc2231_complaint,
        "alice@gmail.example",
        "Alice Smith",
        "Charged twice",
        "I want a refund",
        ["发票 2026年11月.pdf"],
    ),
    (corpus.gb2312_rfc2231_name, "li@example.cn", "li", "bill", "见附件", ["账单 明细.xlsx"]),
    (corpus.html_only, "zhao@163.example", "zhao", "宽带无法上网", "宽带三天无法上网", []),
    (
        corpus.inline_image,
        "ming@mac.example",
        "Ming",
        "screenshot inline",
        "See the error",
        ["Screen Shot.png"],
    ),
    (corpus.raw_8bit_headers, "liu@example.cn", "刘备", "投诉：信号太差", "家里没有信号", []),
    (corpus.broken_mime, "broken@example.cn", "broken", "not really投诉", "套餐被乱改了", []),
]


@pytest.mark.parametrize(
    ("mail", "sender", "name", "subject", "text", "names"),
    NEW_MAIL,
    ids=[row[0].__name__ for row in NEW_MAIL],
)
def test_new_mail_is_read_in_any_charset(
    mail: Callable[[], bytes], sender: str, name: str, subject: str, text: str, names: list[str]
) -> None:
    raw = mail()
    inbound = read(raw)
    assert (inbound.sender_id, inbound.sender_name, inbound.subject) == (sender, name, subject)
    assert inbound.conversation == sender
    assert text in inbound.text
    assert "\ufffd" not in inbound.text + inbound.subject
    assert files(inbound) == names
    assert inbound.automated is None
    # The original bytes come first, whole, to be stored before anything else.
    assert inbound.attachments[0].name == RAW_NAME and inbound.attachments[0].data == raw


def test_attachment_bytes_names_and_ids() -> None:
    inbound = read(corpus.gbk_complaint(message_id="<abc@example.cn>"))
    (screenshot,) = inbound.attachments[1:]
    assert (screenshot.mime, screenshot.data) == ("image/png", corpus.PNG)
    assert inbound.transport_id == inbound.message_id == "<abc@example.cn>"
    assert inbound.raw["sha256"] == inbound.attachments[0].sha256
    assert inbound.kind is InboundKind.TEXT


def test_html_only_mail_becomes_readable_text_without_scripts() -> None:
    text = read(corpus.html_only()).text
    assert "<" not in text and "alert" not in text
    assert "BB1234" in text


def test_a_file_over_the_limit_arrives_without_its_bytes() -> None:
    inbound = read(corpus.gbk_complaint(), max_file=10)
    (screenshot,) = inbound.attachments[1:]
    assert screenshot.data is None and screenshot.size == len(corpus.PNG)


def test_a_mail_without_message_id_is_named_by_its_bytes() -> None:
    raw = corpus.big5_complaint().replace(b"Message-ID: <big5-1@mail.example.tw>\r\n", b"")
    assert read(raw).transport_id.startswith("sha256:")
    assert read(raw).transport_id == read(raw).transport_id


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\账单.pdf", "账单.pdf"),
        ('bad<>:"|?*name.png', "bad_name.png"),
        ("\x00\x07", "attachment-3.png"),
        ("x" * 300 + ".jpeg", "x" * 115 + ".jpeg"),
    ],
)
def test_file_names_are_made_safe(name: str, safe: str) -> None:
    assert safe_file_name(name, 2, "image/png") == safe


REPLY = {
    "sender": "wang@example.cn",
    "subject": "Re: [TS-20261122-0001] 话费",
    "message_id": "<reply@example.cn>",
}
REPLIES = [
    corpus.gmail_reply,
    corpus.apple_mail_reply,
    corpus.foxmail_reply,
    corpus.qq_mail_reply,
]


@pytest.mark.parametrize("client", REPLIES, ids=[c.__name__ for c in REPLIES])
def test_quoted_history_is_stripped_from_replies_and_kept_raw(
    client: Callable[..., bytes],
) -> None:
    inbound = read(
        client("希望退款三十元。", in_reply_to="<r@corp>", references="<o@x> <r@corp>", **REPLY)
    )
    assert inbound.text == "希望退款三十元。"
    assert inbound.raw["full_text"].startswith("希望退款三十元。")
    assert len(inbound.raw["full_text"]) > len(inbound.text) + 20
    assert inbound.references[0] == "<r@corp>" and "<o@x>" in inbound.references
    assert inbound.reply_to == "<r@corp>"


def test_outlook_reply_without_references() -> None:
    inbound = read(corpus.outlook_reply("希望退款。", in_reply_to=None, **REPLY))
    assert inbound.text == "希望退款。"
    assert inbound.references == ()


def test_answers_between_quoted_questions_are_kept() -> None:
    text = "> 您的手机号是？\n13812345678\n\n> 期望结果？\n退款"
    assert strip_quoted(text) == "13812345678\n\n退款"


ROBOTS: list[tuple[Callable[[], bytes], str]] = [
    (
        lambda: corpus.out_of_office(sender="a@b.cn", in_reply_to="<r@corp>", message_id="<1@b>"),
        "auto-submitted: auto-replied",
    ),
    (
        lambda: corpus.outlook_automatic_reply(sender="a@b.cn", message_id="<2@b>"),
        "automatic subject",
    ),
    (corpus.mailing_list, "precedence: bulk"),
    (corpus.empty_return_path, "empty return-path"),
    (lambda: corpus.bounce(original_id="<ours@corp>", recipient="gone@x.cn"), "bounce"),
]


@pytest.mark.parametrize(("mail", "reason"), ROBOTS, ids=[r for _m, r in ROBOTS])
def test_robots_are_recognised(mail: Callable[[], bytes], reason: str) -> None:
    assert read(mail()).automated == reason


def test_list_id_alone_and_our_own_address_are_robots() -> None:
    listed = corpus.big5_complaint().replace(
        b"MIME-Version", b"List-Id: <x.lists.example>\r\nMIME-Version"
    )
    assert read(listed).automated == "list-id"
    ours = corpus.big5_complaint()
    assert read(ours, own_addresses=frozenset({"chan@example.tw"})).automated == "our own address"


@pytest.mark.parametrize("subject", ["Undeliverable parcel, please refund", "自动回复功能坏了"])
def test_a_person_writing_about_such_things_is_no_robot(subject: str) -> None:
    raw = corpus.big5_complaint().replace(
        b"Subject: " + corpus.ew("帳單重複扣款", "big5").encode(),
        b"Subject: " + corpus.ew(subject, "UTF-8").encode(),
    )
    inbound = read(raw)
    assert inbound.subject == subject and inbound.automated is None


def test_a_bounce_names_the_mail_that_bounced() -> None:
    inbound = read(corpus.bounce(original_id="<ours@corp>", recipient="gone@x.cn"))
    assert inbound.references == ("<ours@corp>",)
    assert "User unknown" in inbound.text


def test_unparseable_bytes_still_arrive_for_the_record() -> None:
    inbound = read(b"\x00\xff garbage without headers")
    assert inbound.attachments[0].data == b"\x00\xff garbage without headers"
    assert inbound.transport_id.startswith("sha256:")


# ----- hostile mail ------------------------------------------------------------------------


def test_a_bare_cr_in_the_display_name_smuggles_nothing() -> None:
    inbound = read(corpus.injected_from())
    # The sender is the address in brackets, not what is left before the smuggled line.
    assert (inbound.sender_id, inbound.conversation) == ("mal@evil.example", "mal@evil.example")
    assert inbound.sender_name == "Mal Bcc: victim@example.cn"
    assert "HeaderControlCharacters" in inbound.raw["defects"]
    assert inbound.text == "Please refund."


def test_nul_and_line_breaks_never_reach_a_header_value() -> None:
    inbound = read(corpus.injected_subject())
    assert inbound.subject == "Refund now Bcc: victim@example.cn"
    assert inbound.sender_id == "eve@evil.example"
    for value in (inbound.subject, inbound.sender_name, inbound.raw["subject"]):
        assert not any(ch in value for ch in "\r\n\x00")


def test_an_encoded_line_break_in_a_name_is_a_space() -> None:
    name = corpus.ew("Eve\r\nBcc: victim@example.cn", "UTF-8")
    inbound = read(corpus.plain(f"{name} <eve@evil.example>", "<enc-1@evil.example>"))
    assert (inbound.sender_name, inbound.sender_id) == (
        "Eve Bcc: victim@example.cn",
        "eve@evil.example",
    )


@pytest.mark.parametrize(
    ("from_value", "address"),
    [
        ("purchasing@aquillaindustries.com <do-not-reply@ncs.gov.ng>", "do-not-reply@ncs.gov.ng"),
        ('"billing@bank.example" <Eve@Evil.Example>', "eve@evil.example"),
        ("Wang <wang@example.cn>", "wang@example.cn"),
        ("wang@example.cn (Wang)", "wang@example.cn"),
        ("wang@example.cn", "wang@example.cn"),
        ('"Mal" <mal>', "mal"),
        ("wang@example.cn, eve@evil.example", "wang@example.cn"),
    ],
)
def test_the_sender_is_the_address_in_brackets_never_the_display_name(
    from_value: str, address: str
) -> None:
    assert read(corpus.plain(from_value, "<from-1@example.cn>")).sender_id == address


@pytest.mark.parametrize(
    "local",
    ["noreply", "no-reply", "no_reply", "NoReply", "donotreply", "do-not-reply", "noreply+x"],
)
def test_no_reply_senders_are_robots(local: str) -> None:
    inbound = read(corpus.plain(f"Shop <{local}@shop.example>", "<nr-1@shop.example>"))
    assert inbound.automated == "no-reply sender"


@pytest.mark.parametrize("local", ["noreplyer", "reply", "nora", "do-reply"])
def test_people_whose_name_merely_resembles_no_reply_are_no_robots(local: str) -> None:
    assert read(corpus.plain(f"<{local}@example.cn>", "<nr-2@example.cn>")).automated is None


def test_a_mail_with_unix_line_endings_keeps_its_headers_apart() -> None:
    """Lone LFs are line endings where most lines end so (one stray CRLF or not)."""
    raw = (
        b"From: Wang <wang@example.cn>\nSubject: Charged twice\r\nTo: support@corp.example\n"
        b"Message-ID: <lf-1@example.cn>\n\nPlease refund.\n"
    )
    inbound = read(raw)
    assert (inbound.sender_id, inbound.subject, inbound.message_id) == (
        "wang@example.cn",
        "Charged twice",
        "<lf-1@example.cn>",
    )
    assert "HeaderControlCharacters" not in inbound.raw["defects"]


def test_raw_8bit_bytes_in_from_are_read_as_text_not_kept_undecoded() -> None:
    inbound = read(b"From: Li <l\xc3\xafi@example.com>\r\nSubject: x\r\n\r\nhi\r\n")
    assert inbound.sender_id == "lïi@example.com"
    inbound = read(b"From: \xe6\x9d\x8e <li@example.com>\r\nTo: a@\xffb.example\r\n\r\nhi\r\n")
    assert (inbound.sender_name, inbound.sender_id) == ("李", "li@example.com")
    for value in (inbound.sender_name, inbound.sender_id, *inbound.raw["to"]):
        value.encode("utf-8")  # no lone surrogates: every database stores it


@pytest.mark.parametrize("charset", ["rot13", "base64", "zlib", "punycode", "hex"])
def test_a_codec_that_is_no_charset_still_yields_the_text(charset: str) -> None:
    raw = f"From: li@example.com\r\nContent-Type: text/plain; charset={charset}\r\n\r\nhi\r\n"
    inbound = read(raw.encode())
    assert (inbound.sender_id, inbound.text) == ("li@example.com", "hi")


def test_headers_split_by_bare_crs_give_no_sender_pieced_from_them() -> None:
    raw = b"From: \rTo: desk@example.com\rSubject: \rMIME-Version: 1.0\r\n\r\nhi"
    inbound = read(raw)
    assert inbound.sender_id == "unknown" and inbound.automated == "no sender"
