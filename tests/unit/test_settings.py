import secrets

import pytest

from bizenv.settings import load_settings


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
