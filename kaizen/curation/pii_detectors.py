"""Detectors for personal data and secrets: each finds candidate spans, then validates them with a checksum,
a numbering plan or a context rule, so near-misses (a 16-digit number failing Luhn, a version string, a date)
are left alone."""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import NamedTuple

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.cn import ric as cn_ric
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
_SSN = re.compile(r"(?<![\d-])\d{3}([- ])\d{2}\1\d{4}(?![\d-])")
_SSN_BARE = re.compile(r"(?i)\b(?:ssn|social security(?: number| no\.?)?)\W{0,3}(?P<value>\d{9})\b")


def find_national_ids(text: str) -> Iterator[Span]:
    for m in _CN_RIC.finditer(text):
        if cn_ric.is_valid(m.group()):
            yield Span(m.start(), m.end(), PiiType.national_id)
    for m in _SSN.finditer(text):
        if us_ssn.is_valid(m.group().replace(" ", "-")):
            yield Span(m.start(), m.end(), PiiType.national_id)
    for m in _SSN_BARE.finditer(text):
        if us_ssn.is_valid(m.group("value")):
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
def phone_detector(regions: tuple[str, ...]) -> Detector:
    """Phone numbers valid in their numbering plan; international (+..) numbers are found whatever the region."""

    def find_phones(text: str) -> Iterator[Span]:
        if sum(c.isdigit() for c in text) < 7:  # fast path: most answers hold no phone number at all
            return
        seen: set[tuple[int, int]] = set()
        for region in regions or (None,):
            for match in PhoneNumberMatcher(text, region, leniency=Leniency.VALID):
                start = match.start
                # The matcher keeps an opening parenthesis that belongs to the surrounding text: "(+1 ...)".
                raw = match.raw_string
                if raw.startswith("(") and raw.count("(") > raw.count(")"):
                    start += 1
                if (start, match.end) not in seen and phonenumbers.is_valid_number(match.number):
                    seen.add((start, match.end))
                    yield Span(start, match.end, PiiType.phone)

    return find_phones
