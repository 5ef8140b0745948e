"""The SMS grammar (SPEC §3): one message body in, one :class:`Command` out.

Pure: plain values in, plain values out; no Flask, no database, no I/O. ``parse`` never raises.

How it works:

1. :func:`normalise` folds full-width characters to ASCII (０-９, Ａ-Ｚ, ，：；（）！？ …), drops
   zero-width characters and turns control characters into spaces.
2. ``_tokenise`` scans the text once. At each position it tries, in order: a separator, a Chinese
   keyword (longest match, so 受灾人口 beats 受灾 and 一般损坏 is never the numeral 一), a number
   (Arabic, decimal, Chinese numerals, 万/亿 multipliers, optional unit), an ASCII word (keyword or an
   id such as R1203 / E17 / S12 / ZZ-001), and otherwise one character of plain text.
3. The first token decides the command (after an optional drill prefix); the rest is read as a
   report body: kind, hazard, keyword/number pairs, narrative.
4. Pairing: keywords and numbers that follow each other (separators and filler words such as 约,
   群众, 房屋 in between are transparent; any other text breaks the chain) form paths; a dynamic
   programme picks the matching with the most pairs and, among those, the most pairs where the
   number follows its keyword ("a number belongs to the keyword before it").
5. Whatever was not used becomes the narrative (separators collapsed to one space, ≤ 200 chars).

The code is split by step: ``lexicon`` (word tables), ``numbers`` (normalising, numerals, units),
``tokens`` (the tokeniser), ``pairing`` (keyword/number pairing and indicator values), ``body``
(a report's body and its narrative) and ``commands`` (``parse``, :class:`Command` and the
per-command readers). This package re-exports the public API, so
``from reporter.grammar import parse, Command`` is all callers need.
"""

from __future__ import annotations

from reporter.grammar.body import NARRATIVE_MAX
from reporter.grammar.commands import Command, parse
from reporter.grammar.lexicon import (
    COMMAND_WORDS,
    FILLER_WORDS,
    HAZARD_WORDS,
    HELP_TEXT,
    INDICATOR_WORDS,
    REPORT_KIND_WORDS,
    SHELTER_ACTION_WORDS,
)
from reporter.grammar.numbers import normalise, parse_number

__all__ = [
    "COMMAND_WORDS", "FILLER_WORDS", "HAZARD_WORDS", "HELP_TEXT", "INDICATOR_WORDS", "NARRATIVE_MAX",
    "REPORT_KIND_WORDS", "SHELTER_ACTION_WORDS", "Command", "normalise", "parse", "parse_number",
]
