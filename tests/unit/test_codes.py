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


def with_check_digit(body: str) -> str:
    from stdnum.cn import ric as gb11643

    return body + gb11643.calc_check_digit(body + "0")


def test_an_address_code_counts_in_any_of_its_periods_not_only_the_birth_year():
    # 440305 (深圳市南山区) dates from 1990; a holder born in 1975 got it when the number was issued
    born_before_the_district = with_check_digit("44030519750101123")
    assert codes.resident_id_problem(born_before_the_district) is None
    assert codes.resident_id_problems(pd.Series([born_before_the_district])).tolist() == [None]
    never_a_division = with_check_digit("99999919900101123")
    assert codes.resident_id_problem(never_a_division) == "id_format"
    assert codes.resident_id_problems(pd.Series([never_a_division])).tolist() == ["id_format"]


def test_a_15_digit_resident_id_is_upgraded_to_its_18_digit_form():
    assert codes.upgrade_legacy_resident_id("152921750101123") == with_check_digit("15292119750101123")
    assert codes.resident_id_problem(codes.upgrade_legacy_resident_id("152921750101123")) is None
    for unchanged in ("152921199001011232", "15292175010112", "15292175010112X"):
        assert codes.upgrade_legacy_resident_id(unchanged) == unchanged


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


# --- the vectorised rules agree with the scalar references (python-stdnum) ----------------------

import random  # noqa: E402

import pandas as pd  # noqa: E402
from stdnum.cn import ric, uscc  # noqa: E402

ALPHABET = codes.USCC_ALPHABET


def _random_usccs(rng: random.Random, count: int) -> list[str | None]:
    values: list[str | None] = []
    for _ in range(count):
        category = rng.choice(ALPHABET) + rng.choice(ALPHABET)
        division = "".join(rng.choice("0123456789") for _ in range(6))
        org8 = "".join(rng.choice(ALPHABET) for _ in range(8))
        code = codes.make_uscc(category, division, org8)
        kind = rng.random()
        if kind < 0.15:  # wrong organisation check, consistent USCC check
            body = code[:16] + rng.choice([c for c in "0123456789X" if c != code[16]])
            code = body + codes.uscc_check_char(body)
        elif kind < 0.30:  # wrong USCC check character
            code = code[:17] + rng.choice([c for c in ALPHABET if c != code[17]])
        elif kind < 0.45:  # a character outside the alphabet or a non-ASCII digit or letter
            at = rng.randrange(18)
            code = code[:at] + rng.choice("IOSVZa١Ａ-") + code[at + 1 :]
        elif kind < 0.50:
            code = code[: rng.randrange(18)]
        elif kind < 0.52:
            code = code + rng.choice(ALPHABET)
        values.append(code)
    return [*values, None, "", "9.1E+17"]


def test_vectorised_uscc_equals_scalar_rules_on_random_codes():
    values = _random_usccs(random.Random(11), 5000)
    vectorised = codes.uscc_problems(pd.Series(values, dtype="string"))
    expected = [codes.uscc_problem(v) if v is not None else None for v in values]
    assert list(vectorised) == expected
    assert {"uscc_format", "uscc_check_char", "uscc_org_code", None} <= set(expected)
    # and the check character rule is python-stdnum's (whose validate() also insists on a
    # numeric first eight, which registration authority codes need not be)
    for value, problem in zip(values, expected, strict=True):
        if value is not None and problem in (None, "uscc_org_code", "uscc_check_char"):
            assert (uscc.calc_check_digit(value) == value[17]) == (problem != "uscc_check_char")
        if value and problem is None and value[:8].isdigit():
            assert uscc.is_valid(value)


def test_vectorised_uscc_keeps_the_index_and_accepts_object_input():
    series = pd.Series([VALID, VALID[:-1] + "0", None], index=[7, 8, 9], dtype="object")
    problems = codes.uscc_problems(series)
    assert list(problems.index) == [7, 8, 9]
    assert problems[7] is None and problems[9] is None


def _random_resident_ids(rng: random.Random, count: int) -> list[str | None]:
    prefixes = ["152921", "152922", "152923", "152900", "110105", "999999", "000000", "110000"]
    values: list[str | None] = []
    for _ in range(count):
        year = rng.choice([0, 1, 1899, 1949, 1980, 1990, 2000, 2024, 9999])
        birth = f"{year:04d}{rng.randint(0, 13):02d}{rng.randint(0, 32):02d}"
        body = f"{rng.choice(prefixes)}{birth}{rng.randint(0, 999):03d}"
        number = body + ric.calc_check_digit(body + "0")
        kind = rng.random()
        if kind < 0.2:
            number = number[:-1] + rng.choice("0123456789Xx")
        elif kind < 0.25:
            at = rng.randrange(18)
            number = number[:at] + rng.choice("A ١x-") + number[at + 1 :]
        elif kind < 0.3:
            number = number[: rng.randrange(18)]
        values.append(number)
    return [*values, None, "", "11010519491231002X"]


def test_vectorised_resident_id_equals_stdnum_on_random_numbers():
    values = _random_resident_ids(random.Random(5), 5000)
    vectorised = codes.resident_id_problems(pd.Series(values, dtype="string"))
    expected = [codes.resident_id_problem(v) if v is not None else None for v in values]
    assert list(vectorised) == expected
    assert {"id_format", "id_check_char", None} <= set(expected)
    from stdnum import numdb

    for value, problem in zip(values, expected, strict=True):
        if value is None or (problem is None) == ric.is_valid(value):
            continue
        # the one intended difference: stdnum also wants the address code to exist in the birth year
        assert problem is None, value
        assert any(props for _, props in numdb.get("cn/loc").info(value[:6])), value


def test_vectorised_unit_code_and_legacy_number_equal_scalar_rules():
    rng = random.Random(3)
    units = ["152921001001GB00001F00010001", "152921001001GB00001F0001000", "152921001001gb00001F00010001",
             "152921001001GB00001F00010001\n", "١52921001001GB00001F00010001", None]
    legacy = ["152921000012345", "15292100001234", "15292100001234X", "152921000012345\n", "", None]
    for _ in range(500):
        units.append("".join(rng.choice("0123456789GBF") for _ in range(rng.choice([27, 28, 29]))))
        legacy.append("".join(rng.choice("0123456789A") for _ in range(rng.choice([14, 15, 16]))))
    assert list(codes.unit_codes_valid(pd.Series(units, dtype="string"))) == [
        v is not None and codes.is_valid_unit_code(v) for v in units
    ]
    assert list(codes.legacy_reg_nos_valid(pd.Series(legacy, dtype="string"))) == [
        v is not None and codes.is_legacy_reg_no(v) for v in legacy
    ]


def test_non_ascii_digits_are_a_format_error_not_a_crash():
    assert codes.uscc_problem("91١٥٢٩٢١MA0N1234XX") == "uscc_format"
    assert not codes.is_legacy_reg_no("١٥٢٩٢١٠٠٠٠١٢٣٤٥")


def test_vectorised_mask_and_hash_agree_with_the_scalar_forms():
    rng = random.Random(11)
    lengths = [rng.choice([0, 1, 4, 8, 9, 15, 18]) for _ in range(2000)]
    numbers = ["".join(rng.choice("0123456789X") for _ in range(length)) for length in lengths]
    numbers += ["身份证号码一二三四五六七八", None, "１５２９２１"]
    masks = codes.mask_resident_ids(pd.Series(numbers, dtype="object")).to_pylist()
    hashes = codes.hash_personal_ids(pd.Series(numbers, dtype="object"), b"k1")
    assert masks == [None if n is None else codes.mask_resident_id(n) for n in numbers]
    assert hashes == [None if n is None else codes.hash_personal_id(n, b"k1") for n in numbers]
    long_key = bytes(range(100))  # longer than a SHA-256 block: HMAC hashes the key first
    assert codes.hash_personal_ids(numbers[:50], long_key) == [
        None if n is None else codes.hash_personal_id(n, long_key) for n in numbers[:50]
    ]
