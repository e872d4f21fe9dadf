import secrets

import pytest

from bizenv.settings import env_number, load_settings


@pytest.mark.parametrize("placeholder", ["CHANGE_ME", "CHANGE_ME_64_HEX_CHARS_" + "0" * 40, "short-key"])
def test_a_placeholder_or_short_pii_key_is_refused(monkeypatch, placeholder):
    monkeypatch.setenv("BIZENV_PII_KEY", placeholder)
    with pytest.raises(RuntimeError, match=r"BIZENV_PII_KEY is a placeholder or shorter than 32 characters") as refused:
        load_settings().pii_key  # noqa: B018 - the property is the check
    assert placeholder not in str(refused.value)


def test_a_generated_pii_key_is_used(monkeypatch):
    key = secrets.token_hex(32)
    monkeypatch.setenv("BIZENV_PII_KEY", key)
    assert load_settings().pii_key == key.encode()


def test_reports_go_under_the_data_dir_unless_configured(monkeypatch, tmp_path):
    monkeypatch.setenv("BIZENV_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("BIZENV_REPORTS_DIR", raising=False)
    assert load_settings().reports_dir == tmp_path / "reports"
    monkeypatch.setenv("BIZENV_REPORTS_DIR", str(tmp_path / "share"))
    assert load_settings().reports_dir == tmp_path / "share"


@pytest.mark.parametrize(("raw", "expected"), [(None, 7.0), ("", 7.0), (" 2.5 ", 2.5), ("0", 0.0)])
def test_env_number_reads_a_non_negative_number(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("BIZENV_TEST_NUMBER", raising=False)
    else:
        monkeypatch.setenv("BIZENV_TEST_NUMBER", raw)
    assert env_number("BIZENV_TEST_NUMBER", 7.0, "seconds") == expected


@pytest.mark.parametrize(("raw", "positive", "message"), [
    ("soon", False, "BIZENV_TEST_NUMBER='soon' is not a number of seconds >= 0"),
    ("-1", False, "BIZENV_TEST_NUMBER='-1' is not a number of seconds >= 0"),
    ("inf", False, "BIZENV_TEST_NUMBER='inf' is not a number of seconds >= 0"),
    ("nan", False, "BIZENV_TEST_NUMBER='nan' is not a number of seconds >= 0"),
    ("0", True, "BIZENV_TEST_NUMBER='0' is not a number of seconds > 0"),
])
def test_env_number_refuses_in_one_line(monkeypatch, raw, positive, message):
    monkeypatch.setenv("BIZENV_TEST_NUMBER", raw)
    with pytest.raises(ValueError) as info:
        env_number("BIZENV_TEST_NUMBER", 7.0, "seconds", positive=positive)
    assert str(info.value) == message
