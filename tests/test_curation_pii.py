"""PII scrubbing: every planted value is replaced with the right placeholder; near-misses are left alone."""

from __future__ import annotations

import pytest
from stdnum.cn import ric

from kaizen.curation.pii import PiiConfig, PiiScrubber, PiiType, add_counts
from tests.support.pii_samples import PII, resident_id

TEMPLATES = [
    "Please contact {} for details.",
    "The value is {}.",
    "({}) was in the log",
    "Stored: {}\nnext line",
]

NEAR_MISSES = [
    "Card 4111 1111 1111 1112 fails the Luhn check.",
    "Reference 1234567812345678 is an internal number.",
    "Order #100234-5567 shipped on 2024-01-15.",
    "Your order number is 839201 and your ticket is 12345678.",
    "Upgrade to version 1.2.3.4 of the library.",
    "Release v10.0.0.1 fixes the bug; see also 2.0.1.",
    "The build python 3.11.7.1 is not official.",
    "Dates: 15/01/2024, 2024.01.15, 01-15-2024 and 2024-01-15T10:30:00Z.",
    "The meeting is at 12:30:45 today.",
    "Use std::vector<int> and std::map in C++.",
    "UUID 550e8400-e29b-41d4-a716-446655440000 identifies the request.",
    "Commit 9fceb02d0ae598e95dc970b74767f19372d61af8 introduced it.",
    "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "IBAN-like DE89 3704 0044 0532 0130 01 has a bad checksum.",
    "SSN-like 000-12-3456 and 666-12-3456 are never issued.",
    "The id 110105194912310021 has a wrong check digit.",
    "999.999.999.999 is not an address.",
    "The server listens on 127.0.0.1 and 0.0.0.0 and ::1.",
    "The password is required and the token count is shown.",
    "It costs 1,234,567.89 euros.",
    "ISBN 978-3-16-148410-0 is a book.",
    "Mention @username on the forum.",
    "Internationalization and ThisIsALongCamelCaseIdentifierName.",
    "pi = 3.14159265358979 and e = 2.718281828",
    "Room 101, extension 4412.",
    "The MAC address 00:1A:2B:3C:4D:5E belongs to the card.",
    "Population: 67,750,000 people in 2023.",
    "See https://docs.example.com/guide/Getting-Started/install for help.",
    "The path /usr/local/lib/python3.11/site-packages is used.",
    "Tracking code 1Z999AA10123456784 for the parcel.",
]


@pytest.fixture(scope="module")
def scrubber() -> PiiScrubber:
    return PiiScrubber()


@pytest.mark.parametrize(("value", "kind"), PII, ids=[f"{k.name}-{i}" for i, (_, k) in enumerate(PII)])
def test_planted_pii_is_replaced_by_its_placeholder(scrubber: PiiScrubber, value: str, kind: PiiType) -> None:
    for template in TEMPLATES:
        result = scrubber.scrub(template.format(value))
        assert value not in result.text, result.text
        assert result.text == template.format(kind.placeholder), result.text
        assert result.counts == {kind.value: 1}


def test_at_least_fifty_varied_pii_strings() -> None:
    assert len(PII) >= 50
    assert {kind for _, kind in PII} == set(PiiType)


@pytest.mark.parametrize("text", NEAR_MISSES)
def test_near_misses_are_not_scrubbed(scrubber: PiiScrubber, text: str) -> None:
    result = scrubber.scrub(text)
    assert result.text == text
    assert result.counts == {}


def test_many_kinds_in_one_text_are_all_counted(scrubber: PiiScrubber) -> None:
    text = " ; ".join(value for value, _ in PII)
    result = scrubber.scrub(text)
    for value, _ in PII:
        assert value not in result.text
    expected: dict[str, int] = {}
    for _, kind in PII:
        expected[kind.value] = expected.get(kind.value, 0) + 1
    assert result.counts == dict(sorted(expected.items()))


def test_credential_after_keyword_keeps_the_keyword(scrubber: PiiScrubber) -> None:
    assert scrubber.scrub("Authorization: Bearer abc123.def456-ghi").text == "Authorization: Bearer [SECRET]"
    assert scrubber.scrub('api_key = "hunter2hunter2!"').text == 'api_key = "[SECRET]"'
    assert scrubber.scrub("password: s3cretPassw0rd").text == "password: [SECRET]"


def test_private_key_block_is_one_secret(scrubber: PiiScrubber) -> None:
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc\n-----END RSA PRIVATE KEY-----"
    result = scrubber.scrub(f"key:\n{block}\nend")
    assert result.text == "key:\n[SECRET]\nend"


def test_config_can_disable_types() -> None:
    only_email = PiiScrubber(PiiConfig(types=frozenset({PiiType.email})))
    result = only_email.scrub("mail a@b.com or call +44 20 7946 0958")
    assert result.text == "mail [EMAIL] or call +44 20 7946 0958"


def test_scrub_many_adds_counts(scrubber: PiiScrubber) -> None:
    texts, counts = scrubber.scrub_many(["a@b.com", "8.8.8.8 and c@d.org", "nothing"])
    assert texts == ["[EMAIL]", "[IP] and [EMAIL]", "nothing"]
    assert counts == {"EMAIL": 2, "IP": 1}
    assert add_counts({"A": 1}, {"A": 2, "B": 1}) == {"A": 3, "B": 1}


def test_empty_text(scrubber: PiiScrubber) -> None:
    assert scrubber.scrub("").text == ""


# --- what the libraries miss: Chinese-language text, ids outside the region table, reserved SSNs -------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("请拨打13812345678联系我", "请拨打[PHONE]联系我"),
        ("我的手机号是15912345678，有事打给我。", "我的手机号是[PHONE]，有事打给我。"),
        ("手机：139-1234-5678，谢谢", "手机：[PHONE]，谢谢"),
        ("电话 186 1234 5678 找我", "电话 [PHONE] 找我"),
        ("（17712345678）是他的号码", "（[PHONE]）是他的号码"),
    ],
)
def test_chinese_mobile_numbers_inside_chinese_sentences(scrubber: PiiScrubber, text: str, expected: str) -> None:
    result = scrubber.scrub(text)
    assert result.text == expected and result.counts == {"PHONE": 1}


@pytest.mark.parametrize(
    "text",
    [
        "订单号13812345678901已发货",  # 14 digits: an order number, not a phone
        "编号10012345678的包裹",  # 100...: no mobile prefix
        "编号11912345678的包裹",  # 119...: no mobile prefix either
        "版本13812345678.5发布",  # a decimal
        "Reference 13812345678 in the ledger.",  # not Chinese text: national formats of China are off
    ],
)
def test_chinese_mobile_near_misses(scrubber: PiiScrubber, text: str) -> None:
    assert scrubber.scrub(text).text == text


def _library_accepts(value: str) -> bool:
    try:
        return ric.is_valid(value)
    except KeyError:  # stdnum's table has some districts without a name: it fails instead of answering
        return False


@pytest.mark.parametrize(
    "base",
    [
        "44139919900307456",  # a district code missing from the library's table
        "46909919851120013",
        "37019920010101888",
        "44031119900307456",  # Guangming district: in the table only from 2018, this holder was born in 1990
    ],
)
def test_resident_ids_from_districts_the_table_lacks(scrubber: PiiScrubber, base: str) -> None:
    value = resident_id(base)
    assert not _library_accepts(value), "the case must be one the library misses"
    result = scrubber.scrub(f"身份证号：{value}，请核对。")
    assert result.text == "身份证号：[NATIONAL_ID]，请核对。" and result.counts == {"NATIONAL_ID": 1}
    assert scrubber.scrub(f"ID {value.lower()}").text == "ID [NATIONAL_ID]"


def test_resident_id_check_digit_is_iso_7064_mod_11_2() -> None:
    from kaizen.curation.pii_detectors import resident_id_check_digit

    for n in range(0, 10**17, 10**17 // 997):
        first17 = f"{n:017d}"
        assert resident_id_check_digit(first17) == ric.calc_check_digit(first17 + "0")


@pytest.mark.parametrize(
    "value",
    [
        "441399199003074560",  # wrong check digit (the right one is computed below)
        resident_id("44139919900230457"),  # 30 February
        resident_id("44139921000101456"),  # born in 2100
        resident_id("99139919900307456"),  # no such province
        resident_id("44000019900307456"),  # a province code, no district
    ],
)
def test_resident_id_near_misses(scrubber: PiiScrubber, value: str) -> None:
    if value == "441399199003074560":
        assert resident_id("44139919900307456") != value
    text = f"编号 {value} 不是身份证"
    assert scrubber.scrub(text).text == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SSN: 000-12-3456", "SSN: [NATIONAL_ID]"),
        ("SSN 666-12-3456 on the form", "SSN [NATIONAL_ID] on the form"),
        ("my SSN is 987-65-4321.", "my SSN is [NATIONAL_ID]."),
        ("ssn#900123456", "ssn#[NATIONAL_ID]"),
        ("Social Security Number: 999 12 3456", "Social Security Number: [NATIONAL_ID]"),
    ],
)
def test_reserved_ssns_right_after_ssn_are_still_data(scrubber: PiiScrubber, text: str, expected: str) -> None:
    from stdnum.us import ssn

    number = text[len(expected.split("[")[0]) :].split()[0].rstrip(".")
    assert not ssn.is_valid(number.replace(" ", "-")), "the case must be one the library rejects"
    result = scrubber.scrub(text)
    assert result.text == expected and result.counts == {"NATIONAL_ID": 1}
