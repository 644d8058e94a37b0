"""Planted PII values with their types, for the scrubber tests and the curator service test."""

from __future__ import annotations

from stdnum.cn import ric

from kaizen.curation.pii import PiiType


def resident_id(base: str) -> str:
    """A Chinese resident id: the 17 digits of ``base`` and their check digit."""
    return base + ric.calc_check_digit(base + "0")


# (value, type, sentence template): the value is planted in running text, as it would be in an answer.
PII: list[tuple[str, PiiType]] = [
    # e-mail
    ("alice@example.com", PiiType.email),
    ("bob.smith+newsletter@mail.example.co.uk", PiiType.email),
    ("j_doe-99@sub.domain.org", PiiType.email),
    ("ZHANG.Wei@company.cn", PiiType.email),
    ("first.last@uni-heidelberg.de", PiiType.email),
    ("x@y.io", PiiType.email),
    # phone numbers, international and national
    ("+1 415 555 2671", PiiType.phone),
    ("+44 20 7946 0958", PiiType.phone),
    ("+49 30 901820", PiiType.phone),
    ("+33 1 42 68 53 00", PiiType.phone),
    ("+86 138 0013 8000", PiiType.phone),
    ("(212) 555-0199", PiiType.phone),
    ("+61 2 9374 4000", PiiType.phone),
    ("+81 3-1234-5678", PiiType.phone),
    ("+91 98765 43210", PiiType.phone),
    ("+34 912 345 678", PiiType.phone),
    ("650-253-0000", PiiType.phone),
    ("+1 (650) 253-0000", PiiType.phone),
    ("+353 1 234 5678", PiiType.phone),
    ("+55 11 91234-5678", PiiType.phone),
    # payment cards (Luhn-valid, issuer prefixes)
    ("4111 1111 1111 1111", PiiType.card),
    ("4012888888881881", PiiType.card),
    ("5500-0000-0000-0004", PiiType.card),
    ("3400 000000 00009", PiiType.card),
    ("6011000000000004", PiiType.card),
    ("3530111333300000", PiiType.card),
    ("2223003122003222", PiiType.card),
    ("5105 1051 0510 5100", PiiType.card),
    # IBANs (mod-97 checked)
    ("DE89 3704 0044 0532 0130 00", PiiType.iban),
    ("GB82WEST12345698765432", PiiType.iban),
    ("FR14 2004 1010 0505 0001 3M02 606", PiiType.iban),
    ("NL91ABNA0417164300", PiiType.iban),
    ("ES9121000418450200051332", PiiType.iban),
    ("CH9300762011623852957", PiiType.iban),
    ("BE71096123456769", PiiType.iban),
    ("PL61 1090 1014 0000 0712 1981 2874", PiiType.iban),
    # national ids
    (resident_id("11010519491231002"), PiiType.national_id),
    (resident_id("44030419850612123"), PiiType.national_id),
    (resident_id("32010619900307456"), PiiType.national_id),
    (resident_id("11010119800101123"), PiiType.national_id),
    ("536-22-1234", PiiType.national_id),
    ("123-45-6789", PiiType.national_id),
    ("401 23 4567", PiiType.national_id),
    # IP addresses
    ("192.168.1.23", PiiType.ip),
    ("8.8.4.4", PiiType.ip),
    ("203.0.113.77", PiiType.ip),
    ("10.0.0.254", PiiType.ip),
    ("2001:db8:85a3::8a2e:370:7334", PiiType.ip),
    ("fe80::1ff:fe23:4567:890a", PiiType.ip),
    ("2001:0db8:0000:0000:0000:ff00:0042:8329", PiiType.ip),
    # API keys and tokens
    ("AKIAIOSFODNN7EXAMPLE", PiiType.secret),
    ("sk-proj-Abc123Def456Ghi789Jkl012Mno345", PiiType.secret),
    ("sk-T3BlbkFJ8x9Yq2Lm4Np6Rs8Tu0Vw2Xy4Za", PiiType.secret),
    ("ghp_16C7e42F292c6912E7710c838347Ae178B4a", PiiType.secret),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", PiiType.secret),
    ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", PiiType.secret),
    ("AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", PiiType.secret),
    ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", PiiType.secret),
    (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        PiiType.secret,
    ),
    ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", PiiType.secret),
    ("Zx9Qw3Er7Ty1Ui5Op0As8Df2Gh6Jk4Lm", PiiType.secret),
]
