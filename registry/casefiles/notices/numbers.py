"""A notice's document number as its receipt is found by: the blind index's normaliser.

The same notice arrives typed in different hands: full-width or half-width characters,
〔2025〕 as the State Council's document style has it or (2025) as courts often type it,
spaces pasted in. Two spellings of one number must find one receipt, or a re-imported
notice would open a second file. A pure function: the receipt's descriptor and the
importer call it, and index rotation re-derives the index with it.
"""

from __future__ import annotations

import unicodedata

# Every bracket a year is written in, as the parentheses NFKC leaves of （）.
_BRACKETS = str.maketrans({"〔": "(", "〕": ")", "[": "(", "]": ")", "【": "(", "】": ")", "［": "(", "］": ")"})


def document_key(number: str) -> str:
    """NFKC, one kind of bracket, no whitespace, no invisible format characters (a zero-width
    space or a soft hyphen pasted in), upper case."""
    folded = unicodedata.normalize("NFKC", number).translate(_BRACKETS)
    visible = "".join(c for c in folded if unicodedata.category(c) != "Cf")
    return "".join(visible.split()).upper()
