"""Placing a message from an unknown sender (a phone of no active person) in a division.

Scope (SPEC §2) needs a division for everything a person sees. A registered officer's message has
one (the officer's village); an unknown sender's has none, and showing it to every county office
in the province leaks one county's texts to all the others. So the webhook attributes it, in this
order, and the review queue scopes it by that division:

1. the phone belonged to a person now inactive (a former officer): that person's division;
2. the text names exactly one village: by its 12-digit code, or by its name ("王庄村", or with its
   township, "码头镇王庄村", when the name alone repeats elsewhere in the province);
3. otherwise nothing (NULL): only province-level staff see the message.

The number the message was sent to (`To`, or the provider's 扩展码) comes before all that when a
division owns it (reporter.numbers): the stranger texted that county, so it is scoped there; a
place found by 1 or 2 inside that division is kept (it is more precise), one outside it is not.

Village names repeat across Hebei (about 5,000 of 38,000 spoken names are shared), so a name that
fits several villages attributes nothing, and neither does a text naming different villages: a
wrong guess would show the message to the wrong county and hide it from the right one.

Matching stays cheap at 52,019 villages: the text is cut into the few candidate names that end in
村, 社区 or 居委会; each candidate is expanded into the official spellings of the division list
("王庄村" → 王庄村, 王庄村委会, 王庄村村委会, 王庄村民委员会, …) and everything is looked up in
one indexed `name IN (…)` query (index ix_reporter_divisions_name). A name written without such an
ending ("王庄进水") is not recognised.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select

from core.extensions import db
from core.models import Division, Person
from core.people import try_normalise_phone
from reporter.numbers import division_for_number

CODE = re.compile(r"(?<!\d)\d{12}(?!\d)")
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
# What ends a village's spoken name in a text, and the official spellings each stands for.
MARKERS = ("居委会", "社区", "村")
LONGEST = 12      # characters of a candidate name, ending included (longer official names are rare)
MAX_NAMES = 1000  # spellings in the one query: a long or hostile text stays one bounded query
MAX_CODES = 20


def attribute_unknown_sender(phone: str | None, body: str | None, to: str | None = None) -> str | None:
    """The division code an unknown sender's message is scoped by, or None (province staff only)."""
    guess = former_person_division(phone) or village_named_in(body or "")
    owner = division_for_number(to) if to else None
    if owner is None or guess is None:
        return owner or guess
    place = db.session.get(Division, guess)
    return guess if place is not None and owner in place.lineage_codes() else owner


def former_person_division(phone: str | None) -> str | None:
    """The division of the most recent inactive person who had this phone."""
    if not phone:
        return None
    e164 = try_normalise_phone(phone) or phone
    return db.session.scalar(select(Person.division_code)
                             .where(Person.phone == e164, Person.active.is_(False))
                             .order_by(Person.id.desc()).limit(1))


def village_named_in(text: str) -> str | None:
    """The code of the one village `text` names, or None when it names none, several, or a name
    several villages share. A 12-digit code says exactly which village is meant: it wins over names."""
    text = unicodedata.normalize("NFKC", text)
    codes = CODE.findall(text)[:MAX_CODES]
    if codes:
        found = set(db.session.scalars(select(Division.code).where(Division.code.in_(codes),
                                                                   Division.level == "village")))
        if found:
            return found.pop() if len(found) == 1 else None
    mentions = _mentions(text)
    if not mentions:  # none, or too many to be sure of anything
        return None
    places = _resolve(text, mentions)
    if any(len(villages) != 1 for villages in places):
        return None  # a name several villages share: we cannot tell which
    found = set().union(*places)
    return found.pop() if len(found) == 1 else None


def _mentions(text: str) -> dict[tuple[int, int], list[str]] | None:
    """(start, end) of every candidate name in the text → the official spellings it may stand for;
    None when there are too many to look up at once (a text like that places nothing)."""
    mentions: dict[tuple[int, int], list[str]] = {}
    names: set[str] = set()
    for match in re.finditer("|".join(MARKERS), text):
        end, marker, start = match.end(), match.group(), match.start()
        while start > 0 and end - start < LONGEST and HAN.match(text[start - 1]):
            start -= 1
            mentions[(start, end)] = _spellings(text[start:end], marker)
            names.update(mentions[(start, end)])
            if len(names) > MAX_NAMES:
                return None
    return mentions


def _spellings(name: str, marker: str) -> list[str]:
    """How the division list may write the village a text calls `name` (ending in `marker`)."""
    stem = name[: -len(marker)]
    if marker == "村":
        return [name, name + "委会", name + "村委会", name + "民委员会", name + "村民委员会"]
    if marker == "社区":
        return [name, name + "居委会", name + "居民委员会", stem + "居委会", stem + "居民委员会"]
    return [name, stem + "社区居委会", stem + "居民委员会", stem + "社区居民委员会"]


def _resolve(text: str, mentions: dict[tuple[int, int], list[str]]) -> list[set[str]]:
    """For each distinct place the text names, the villages it may be (after the township check).

    Of overlapping candidates only the longest that is a real name counts ("东王庄村" is not also
    "王庄村"; "刘沿村村委会" is not also "刘沿村").
    """
    township = db.aliased(Division)
    names = {spelling for spellings in mentions.values() for spelling in spellings}
    # Filtered on name only: with `level` in the WHERE too, SQLite scans every village by level.
    rows = db.session.execute(
        select(Division.name, Division.level, Division.code, township.name)
        .outerjoin(township, township.code == Division.township_code)
        .where(Division.name.in_(names))).all()
    by_name: dict[str, list[tuple[str, str | None]]] = {}
    for name, level, code, township_name in rows:
        if level == "village":
            by_name.setdefault(name, []).append((code, township_name))
    matched = {span: [v for s in spellings for v in by_name.get(s, [])] for span, spellings in mentions.items()}
    matched = {span: villages for span, villages in matched.items() if villages}
    places = []
    for (start, end), villages in matched.items():
        if any(s <= start and end <= e and (s, e) != (start, end) for s, e in matched):
            continue  # inside a longer name that matched
        codes = {code for code, _ in villages}
        if len(codes) > 1:  # the name repeats: the township named in the text may settle it
            codes = {code for code, township_name in villages
                     if township_name and any(form in text for form in _township_forms(township_name))} or codes
        places.append(codes)
    return places


def _township_forms(name: str) -> tuple[str, ...]:
    """A township as a text may write it: 码头镇; 城关街道 for 城关街道办事处."""
    return (name, name[:-3]) if name.endswith("办事处") and len(name) > 5 else (name,)
