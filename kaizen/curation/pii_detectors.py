"""Detectors for personal data and secrets: each finds candidate spans, then validates them with a checksum,
a numbering plan or a context rule, so near-misses (a 16-digit number failing Luhn, a version string, a date)
are left alone."""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from enum import StrEnum
from typing import NamedTuple

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.us import ssn as us_ssn


class PiiType(StrEnum):
    secret = "SECRET"
    email = "EMAIL"
    iban = "IBAN"
    national_id = "NATIONAL_ID"
    card = "CARD"
    ip = "IP"
    phone = "PHONE"

    @property
    def placeholder(self) -> str:
        return f"[{self.value}]"


class Span(NamedTuple):
    start: int
    end: int
    kind: PiiType


Detector = Callable[[str], Iterator[Span]]

# --- secrets ----------------------------------------------------------------------------------------------
_SECRET_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),  # AWS access key ids
    re.compile(r"\bsk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{20,}"),  # OpenAI / Anthropic style
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b"),  # GitHub tokens
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b"),
    re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"),  # GitLab
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),  # Slack
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),  # Google API keys
    re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}\b"),  # Stripe
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # JWT
]
# The value after a keyword that says it is a credential; only the value is replaced.
_ASSIGNED_SECRET = re.compile(
    r"(?i)\b(?:bearer|authorization:\s*bearer|api[_-]?key|apikey|secret(?:[_-]?key)?|access[_-]?token|"
    r"auth[_-]?token|token|password|passwd|pwd|aws_secret_access_key)\b[\"']?\s*(?:[:=]\s*|\s+)[\"']?"
    r"(?P<value>[A-Za-z0-9._~+/=!@#$%^&*-]{8,})"
)
_TOKEN = re.compile(r"[A-Za-z0-9+/_=-]{24,}")
_HEX_OR_UUID = re.compile(
    r"^(?:[0-9a-fA-F]+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)
_ENTROPY_BITS = 4.0


def shannon_entropy(token: str) -> float:
    counts = Counter(token)
    n = len(token)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _looks_random(token: str) -> bool:
    # Hex digests and UUIDs are identifiers (commits, request ids), not credentials.
    if _HEX_OR_UUID.match(token):
        return False
    if not (any(c.islower() for c in token) and any(c.isupper() for c in token) and any(c.isdigit() for c in token)):
        return False
    return shannon_entropy(token) >= _ENTROPY_BITS


def find_secrets(text: str) -> Iterator[Span]:
    for pattern in _SECRET_PATTERNS:
        for m in pattern.finditer(text):
            yield Span(m.start(), m.end(), PiiType.secret)
    for m in _ASSIGNED_SECRET.finditer(text):
        value = m.group("value")
        # "password is required" / "token count": a real credential value has a digit or a symbol.
        if any(not c.isalpha() for c in value):
            yield Span(m.start("value"), m.end("value"), PiiType.secret)
    for m in _TOKEN.finditer(text):
        if _looks_random(m.group()):
            yield Span(m.start(), m.end(), PiiType.secret)


# --- e-mail -----------------------------------------------------------------------------------------------
_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}\b"
)


def find_emails(text: str) -> Iterator[Span]:
    for m in _EMAIL.finditer(text):
        yield Span(m.start(), m.end(), PiiType.email)


# --- IBAN -------------------------------------------------------------------------------------------------
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b")


def find_ibans(text: str) -> Iterator[Span]:
    for m in _IBAN.finditer(text):
        candidate = m.group()
        # The pattern may swallow a following upper-case word: try the longest valid prefix at a group boundary.
        ends = [len(candidate)] + [i for i in range(len(candidate) - 1, 14, -1) if candidate[i] == " "]
        for end in ends:
            if stdnum_iban.is_valid(candidate[:end]):
                yield Span(m.start(), m.start() + end, PiiType.iban)
                break


# --- national ids -----------------------------------------------------------------------------------------
_CN_RIC = re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])")
# Province-level codes in use (GB/T 2260), plus 71/81/82/83 (Taiwan, Hong Kong, Macau, residence permits).
_CN_PROVINCES = frozenset(
    str(code)
    for codes in (range(11, 16), range(21, 24), range(31, 38), range(41, 47), range(50, 55), range(61, 66))
    for code in codes
) | {"71", "81", "82", "83"}
_RIC_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
_SSN = re.compile(r"(?<![\d-])\d{3}(?P<sep>[- ])\d{2}(?P=sep)\d{4}(?![\d-])")
# Right after the word, an SSN-shaped number is someone's SSN even where the numbering plan says it was never
# issued (000-, 666-, 9xx- areas: test, advertising and made-up numbers are still a person's data in a form).
_SSN_CONTEXT = re.compile(
    r"(?i)\b(?:ssn|social security(?: number| no\.?)?)(?:\s*(?:#|no\.?|number|is|was|[:=])\s*|\s+)"
    r"(?P<value>(?<![\d-])\d{3}(?P<sep>[- ]?)\d{2}(?P=sep)\d{4})(?![\d-])"
)


def resident_id_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 over the first 17 digits of a Chinese resident id."""
    remainder = (12 - sum(int(d) * w for d, w in zip(first17, _RIC_WEIGHTS, strict=True)) % 11) % 11
    return "X" if remainder == 10 else str(remainder)


def is_resident_id(value: str) -> bool:
    """Structure, birth date and check digit of an 18-character resident id.

    Not the district: the validation library's region table lacks districts (new and renamed ones) and refuses
    an id whose district code is younger than its holder; such an id is still a person's id.
    """
    value = value.upper()
    if len(value) != 18 or not value[:17].isdigit() or value[:2] not in _CN_PROVINCES or value[2:6] == "0000":
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date.today() and value[17] == resident_id_check_digit(value[:17])


def find_national_ids(text: str) -> Iterator[Span]:
    for m in _CN_RIC.finditer(text):
        if is_resident_id(m.group()):
            yield Span(m.start(), m.end(), PiiType.national_id)
    for m in _SSN.finditer(text):
        if us_ssn.is_valid(m.group().replace(" ", "-")):
            yield Span(m.start(), m.end(), PiiType.national_id)
    for m in _SSN_CONTEXT.finditer(text):
        yield Span(m.start("value"), m.end("value"), PiiType.national_id)


# --- payment cards ----------------------------------------------------------------------------------------
# Not inside a longer number or a decimal ("1234.5678..."), but a sentence's full stop may follow.
_CARD = re.compile(r"(?<!\d)(?<!\d[.,-])\d(?:[ -]?\d){12,18}(?!\d|[.,-]\d)")
# Issuer prefixes (IIN ranges) of the networks in use; a Luhn-valid number outside them is most likely an id.
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[068]|35|6[0245]|62|5[06789])")


def find_cards(text: str) -> Iterator[Span]:
    for m in _CARD.finditer(text):
        raw = m.group()
        separators = {c for c in raw if not c.isdigit()}
        if len(separators) > 1:  # "1234-5678 9012" mixes styles: not how cards are written
            continue
        digits = raw.replace(" ", "").replace("-", "")
        if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
            continue
        if _CARD_PREFIX.match(digits) and luhn.is_valid(digits):
            yield Span(m.start(), m.end(), PiiType.card)


# --- IP addresses -----------------------------------------------------------------------------------------
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_VERSION_CONTEXT = re.compile(r"(?i)(?:\bv|\bversion|\bver\.?|\brelease|\bbuild|\bpython|\bnode)\s*$")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{0,4}|\d{1,3}(?:\.\d{1,3}){3})(?![\w:])")


def _is_public_worthy(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # Loopback and "any" addresses (127.0.0.1, ::1, 0.0.0.0, ::) name no one; they appear in every manual.
    return not (address.is_loopback or address.is_unspecified)


def find_ips(text: str) -> Iterator[Span]:
    for m in _IPV4.finditer(text):
        if _VERSION_CONTEXT.search(text[max(0, m.start() - 12) : m.start()]):
            continue
        try:
            address = ipaddress.IPv4Address(m.group())
        except ValueError:
            continue
        if _is_public_worthy(address):
            yield Span(m.start(), m.end(), PiiType.ip)
    for m in _IPV6.finditer(text):
        candidate = m.group()
        if sum(1 for part in candidate.split(":") if part) < 3:  # "a::b", "12:30" are not worth the risk
            continue
        try:
            address6 = ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        if _is_public_worthy(address6):
            yield Span(m.start(), m.end(), PiiType.ip)


# --- phone numbers ----------------------------------------------------------------------------------------
# A Chinese mobile number (1[3-9]x, 11 digits, optionally 3-4-4) written into Chinese text: no space or word
# boundary separates it from the characters around it (Han characters are word characters to ``\b``), and
# national-format matching of China as a region would flag many plain numbers. So: only next to Han text.
_CN_MOBILE = re.compile(r"(?<![\d+])1[3-9]\d(?P<sep>[- ]?)\d{4}(?P=sep)\d{4}(?!\d|[.,]\d)")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_PUNCT = "：:，,（(）)。；; 　、“”\"'"


def _next_to_han(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 3) : start].rstrip(_CJK_PUNCT)
    after = text[end : end + 3].lstrip(_CJK_PUNCT)
    return bool((before and _HAN.match(before[-1])) or (after and _HAN.match(after[0])))


def find_cn_mobiles(text: str) -> Iterator[Span]:
    for m in _CN_MOBILE.finditer(text):
        if not _next_to_han(text, m.start(), m.end()):
            continue
        if phonenumbers.is_valid_number(phonenumbers.parse(m.group().replace("-", "").replace(" ", ""), "CN")):
            yield Span(m.start(), m.end(), PiiType.phone)


# --- phone numbers ----------------------------------------------------------------------------------------
def phone_detector(regions: tuple[str, ...]) -> Detector:
    """Phone numbers valid in their numbering plan; international (+..) numbers are found whatever the region."""

    def find_phones(text: str) -> Iterator[Span]:
        if sum(c.isdigit() for c in text) < 7:  # fast path: most answers hold no phone number at all
            return
        seen: set[tuple[int, int]] = set()
        for region in regions or (None,):
            for match in PhoneNumberMatcher(text, region, leniency=Leniency.VALID):
                start = match.start
                # The matcher keeps an opening parenthesis that belongs to the surrounding text: "(+1 ...)", or
                # a full-width one in Chinese text.
                raw = match.raw_string
                for opening, closing in (("(", ")"), ("（", "）")):
                    if raw.startswith(opening) and raw.count(opening) > raw.count(closing):
                        start += 1
                if (start, match.end) not in seen and phonenumbers.is_valid_number(match.number):
                    seen.add((start, match.end))
                    yield Span(start, match.end, PiiType.phone)
        yield from find_cn_mobiles(text)

    return find_phones
