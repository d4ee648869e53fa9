"""The key that signs complainants' links: WEB_SECRET_KEY, else one made at the first
start and kept in DATA_DIR — whole, and the same for every worker starting at once."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from channels.web.keys import KEY_FILE, site_key


def test_workers_starting_together_all_get_one_whole_key(tmp_path: Path) -> None:
    for start in range(30):
        data = tmp_path / str(start)
        with ThreadPoolExecutor(8) as pool:
            keys = list(pool.map(site_key, [None] * 8, [data] * 8))
        assert len(set(keys)) == 1 and len(keys[0]) == 64  # none read a key half made
        assert [path.name for path in data.iterdir()] == [KEY_FILE]  # no drafts left
        assert stat.S_IMODE((data / KEY_FILE).stat().st_mode) == 0o600
        assert site_key(None, data) == keys[0]  # kept for the next start


def test_the_setting_is_the_key_and_nothing_is_written(tmp_path: Path) -> None:
    assert site_key("a key from the environment", tmp_path) == b"a key from the environment"
    assert list(tmp_path.iterdir()) == []
