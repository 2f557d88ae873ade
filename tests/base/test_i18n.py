"""The message catalogues and the choice of language (lookout/base/i18n.py)."""

from __future__ import annotations

import pytest

from lookout.base import i18n


def test_both_languages_hold_the_same_keys_and_parameters() -> None:
    assert i18n.catalogue_problems() == []
    assert set(i18n.messages("zh-CN")) == set(i18n.messages("en"))
    assert len(i18n.messages("en")) > 30


@pytest.mark.parametrize(
    ("tag", "lang"),
    [("zh", "zh-CN"), ("zh-cn", "zh-CN"), ("zh_CN", "zh-CN"), ("zh-Hans-CN", "zh-CN"),
     ("en-US", "en"), ("EN", "en"), ("fr-FR", None), ("", None), (None, None)],
)  # fmt: skip
def test_tags_are_normalised(tag: str | None, lang: str | None) -> None:
    assert i18n.normalise(tag) == lang


def test_the_switch_then_the_browser_then_the_site() -> None:
    assert i18n.negotiate("fr-FR,en;q=0.5,zh-CN;q=0.8") == "zh-CN"
    assert i18n.negotiate("de, fr;q=0.9") is None and i18n.negotiate("zh;q=0, en") == "en"
    assert i18n.choose("en", "zh-CN", "zh-CN") == "en"
    assert i18n.choose(None, "zh-CN,zh;q=0.9", "en") == "zh-CN"
    assert i18n.choose("klingon", "de", "zh-CN") == "zh-CN"


def test_text_parameters_and_fallbacks() -> None:
    assert i18n.t("zh-CN", "unit.min_s", m=3, s=4) == "3 分 4 秒"
    assert i18n.t("en", "unit.min_s", m=3, s=4) == "3 min 4 s"
    assert i18n.t("zh-CN", "no.such.key") == "no.such.key"
    assert i18n.Translator("zh-CN")("status.false_alarm") == "误报"
    with pytest.raises(ValueError, match="language must be one of zh-CN, en"):
        i18n.language("fr")
