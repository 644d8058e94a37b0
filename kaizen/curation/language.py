"""A light language guess: the dominant Unicode script, then stopwords for Latin-script languages.

It only needs to tell that an answer is in a different language from its question, so it abstains
(returns None) rather than guess when the evidence is thin.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

# Script name = first word of the Unicode character name ("CJK UNIFIED IDEOGRAPH-4E2D" -> CJK).
_SCRIPT_ALIASES = {"HIRAGANA": "JAPANESE", "KATAKANA": "JAPANESE", "HANGUL": "KOREAN"}

# Written as one string per language (compact); split once at import.
_STOPWORD_TEXT = {
    "en": "the and is are of to in that it for with as was on be this by not you what which",
    "de": "der die das und ist sind nicht ein eine zu mit von den dem sich auch es wie was",
    "fr": "le la les et est sont un une des du pas que qui dans pour avec sur au ce",
    "es": "el la los las y es son un una de del que en por con para no se lo como",
    "it": "il lo la gli le e è sono un una di che non per con del della nel come",
    "pt": "o a os as e é são um uma de do da que não em para com por como",
    "nl": "de het een en is zijn van dat niet in op te met voor die wat",
}
_LANGUAGES = tuple(_STOPWORD_TEXT)
# word -> the languages it is a stopword of: one dictionary look-up per word of the text.
_STOPWORD_INDEX: dict[str, tuple[int, ...]] = {}
for _i, _lang in enumerate(_LANGUAGES):
    for _w in _STOPWORD_TEXT[_lang].split():
        _STOPWORD_INDEX[_w] = (*_STOPWORD_INDEX.get(_w, ()), _i)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_ASCII_LETTER = re.compile(r"[A-Za-z]")
MIN_LETTERS = 8
MIN_STOPWORD_HITS = 2


def dominant_script(text: str) -> str | None:
    if text.isascii():  # the common case, without a Unicode name look-up per character
        return "LATIN" if len(_ASCII_LETTER.findall(text)) >= MIN_LETTERS else None
    counts: Counter[str] = Counter()
    for char in text:
        if char.isalpha():
            name = unicodedata.name(char, "")
            if name:
                script = name.split(" ", 1)[0]
                counts[_SCRIPT_ALIASES.get(script, script)] += 1
    if sum(counts.values()) < MIN_LETTERS:
        return None
    script, count = counts.most_common(1)[0]
    # Japanese mixes kana with CJK ideographs; kana anywhere in quantity makes it Japanese.
    if script == "CJK" and counts.get("JAPANESE", 0) >= max(2, count // 10):
        return "JAPANESE"
    return script


def guess_language(text: str) -> str | None:
    """A language code for Latin text with enough stopwords, the script name otherwise, or None if unsure."""
    script = dominant_script(text)
    if script != "LATIN":
        return script
    scores = [0] * len(_LANGUAGES)
    for word in _WORD.findall(text.casefold()):
        for index in _STOPWORD_INDEX.get(word, ()):
            scores[index] += 1
    ranked = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
    top, second = scores[ranked[0]], scores[ranked[1]]
    if top < MIN_STOPWORD_HITS or top <= second:
        return None
    return _LANGUAGES[ranked[0]]


def languages_differ(question: str, answer: str) -> bool:
    q, a = guess_language(question), guess_language(answer)
    return q is not None and a is not None and q != a


def differ(question_language: str | None, answer_language: str | None) -> bool:
    return question_language is not None and answer_language is not None and question_language != answer_language
