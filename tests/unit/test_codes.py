from bizenv import codes

# A real-shaped USCC: 91 (enterprise) + 152921 + organisation code MA0N1234 + its checks.
VALID = codes.make_uscc("91", "152921", "MA0N1234")


def test_make_uscc_produces_valid_code():
    assert len(VALID) == 18
    assert codes.uscc_problem(VALID) is None


def test_published_uscc_validates():
    # 91110000600037341L: a published USCC whose check character is known
    assert codes.uscc_check_char("91110000600037341") == "L"


def test_wrong_check_character_is_named():
    wrong = VALID[:-1] + ("0" if VALID[-1] != "0" else "1")
    assert codes.uscc_problem(wrong) == "uscc_check_char"


def test_wrong_embedded_organisation_code_is_named():
    org = "MA0N1234"
    good_check = codes.org_code_check_char(org)
    bad_org = org + ("0" if good_check != "0" else "1")
    body = "91152921" + bad_org
    code = body + codes.uscc_check_char(body)
    assert codes.uscc_problem(code) == "uscc_org_code"


def test_format_errors():
    assert codes.uscc_problem("9115292") == "uscc_format"
    assert codes.uscc_problem("91152921MA0N1234IO") == "uscc_format"  # I and O are not in the alphabet


def test_organisation_code_check_examples():
    # GB 11714 worked example: D2143569 -> check X is not required; 12345678 -> 11 - (sum mod 11)
    total = sum(int(c) * w for c, w in zip("12345678", (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    expected = 11 - total % 11
    assert codes.org_code_check_char("12345678") == {10: "X", 11: "0"}.get(expected, str(expected))


def test_resident_id():
    assert codes.resident_id_problem("11010519491231002X") is None
    assert codes.resident_id_problem("110105194912310021") == "id_check_char"
    assert codes.resident_id_problem("1101051949") == "id_format"


def test_mask_and_hash_personal_id():
    assert codes.mask_resident_id("152921199001011234") == "1529**********1234"
    first = codes.hash_personal_id("152921199001011234", b"k1")
    assert first == codes.hash_personal_id("152921199001011234", b"k1")
    assert first != codes.hash_personal_id("152921199001011234", b"k2")
    assert "1234" not in first[:4]


def test_excel_mangled_detection():
    assert codes.is_excel_mangled("9.1E+17")
    assert codes.is_excel_mangled("9.11529E+17")
    assert not codes.is_excel_mangled(VALID)


def test_unit_code_and_legacy_number():
    assert codes.is_valid_unit_code("152921001001GB00001F00010001")
    assert not codes.is_valid_unit_code("152921001001GB00001F0001000")
    assert codes.is_legacy_reg_no("152921000012345")
    assert not codes.is_legacy_reg_no("15292100001234")
