"""The search terms (`storage.search_terms`): what a query asks for is what the text it
should find was indexed by."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from storage.search_terms import index_terms, phone_terms, query_terms

# Han, hiragana, katakana and hangul syllables: characters NFKC leaves as they are, so
# a substring of the text is the same characters after normalisation.
_CJK_CHARS = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.characters(min_codepoint=0x3041, max_codepoint=0x3096),
    st.characters(min_codepoint=0x30A1, max_codepoint=0x30FA),
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
)
_OTHER = st.text(st.sampled_from(" ,。，!abcXYZ019-@"), max_size=5)


@given(
    before=_OTHER,
    run=st.text(_CJK_CHARS, min_size=1, max_size=30),
    after=_OTHER,
    data=st.data(),
)
def test_any_part_of_a_cjk_run_finds_the_text(
    before: str, run: str, after: str, data: st.DataObject
) -> None:
    indexed = index_terms(before + run + after)
    start = data.draw(st.integers(0, len(run) - 1))
    length = data.draw(st.integers(1, min(6, len(run) - start)))
    wanted = query_terms(run[start : start + length])
    assert wanted and set(wanted) <= indexed


def test_chinese_words_are_pairs_of_characters() -> None:
    assert query_terms("退款") == ["退款"]
    assert query_terms("退") == ["退"]
    assert query_terms("多扣话费") == ["多扣", "扣话", "话费"]
    assert "退款" not in index_terms("退订以后仍然扣款")
    assert {"退", "款", "退款"} <= index_terms("要求退款")


def test_other_words_are_lowercased_and_joined_words_squashed() -> None:
    indexed = index_terms("TS-20261201-0003 Alice.Wang@Example.com Ｒｅｆｕｎｄ iPhone15")
    assert {"ts202612010003", "ts", "20261201", "0003"} <= indexed
    assert {"alicewangexamplecom", "alice", "wang", "example", "com"} <= indexed
    assert {"refund", "iphone15", "iphone", "15"} <= indexed
    assert query_terms("TS20261201-0003") == ["ts202612010003"]
    assert query_terms("alice.wang@example.com REFUND") == ["alicewangexamplecom", "refund"]
    assert query_terms(" ,。 ") == []
    assert phone_terms("+86 138-0013-8000") == {"8613800138000", "13800138000", "86"}
