"""#16/#15: a `complaintbot run` killed (SIGKILL) while a reply is on its way to Telegram.

The reply was claimed by the dead process and never reached Telegram. The restarted
process takes it over at once, instead of after a lease runs out: the person is
answered within seconds of the restart, once (sent 1, stored 1, answered 1, duplicated 0).
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.complaintbot.test_restart import bot_env, start_bot
from tests.support.telegram_api import FakeBotApi


async def test_a_reply_claimed_by_a_killed_process_goes_out_right_after_the_restart(
    api: FakeBotApi, database_url: str, tmp_path: Path
) -> None:
    env = bot_env(api, database_url, tmp_path)
    wang = api.user(7001, "王五", "zh-hans")
    first = await start_bot(api, env, tmp_path)
    try:
        api.stall_next("sendMessage")
        await wang.send_text("宽带每天晚上都断网")
        await api.wait_until(lambda: api.stalled == 1, within=30)
    finally:
        first.kill()  # mid-send: the request is out, no answer has come back
        await first.wait()
    api.unstall()  # the dead process's request never reached Telegram
    assert wang.texts() == []

    restarted = time.monotonic()
    second = await start_bot(api, env, tmp_path)
    try:
        await wang.expect("已记录", since=0, within=30)
        waited = time.monotonic() - restarted
    finally:
        second.terminate()
        _, errors = await second.communicate()
    assert second.returncode == 0, errors.decode()
    # Within seconds of the restart (a lease would have kept it a minute), and once.
    assert waited < 10, f"answered {waited:.1f} s after the restart"
    assert sum("已记录" in text for text in wang.texts()) == 1
