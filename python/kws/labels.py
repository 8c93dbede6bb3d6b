"""Label names and the wanted-words list (the classic speech-commands conventions)."""

from __future__ import annotations

SILENCE_LABEL = "_silence_"
UNKNOWN_WORD_LABEL = "_unknown_"
BACKGROUND_NOISE_DIR_NAME = "_background_noise_"
DEFAULT_WANTED_WORDS = "yes,no,up,down,left,right,on,off,stop,go"


def parse_wanted_words(wanted_words: str | list[str]) -> list[str]:
    """A comma list (or list) of words, lower-cased; raises ValueError when empty or when
    a word is listed twice."""
    if isinstance(wanted_words, str):
        words = [w.strip().lower() for w in wanted_words.split(",")]
    else:
        words = [w.strip().lower() for w in wanted_words]
    words = [w for w in words if w]
    if not words:
        raise ValueError("--wanted_words is empty: give at least one word")
    if len(set(words)) != len(words):
        raise ValueError(f"--wanted_words lists a word twice: {','.join(words)}")
    return words


def prepare_words_list(wanted_words: list[str]) -> list[str]:
    """Labels in model output order: silence, unknown, then the wanted words."""
    return [SILENCE_LABEL, UNKNOWN_WORD_LABEL, *wanted_words]
