"""What a request was understood to ask: constraints, the items they allow, and the phrase the
answer repeats them with ("laptops under $1,000", "500元以内的Headphones")."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from genrec.requests.terms import _PRICE_NAMES, CatalogTerms, Nouns


@dataclass(frozen=True)
class Constraint:
    """One understood constraint: ``kind`` is category, exclude, max, min, years or similar."""

    kind: str
    value: str | float | int | tuple[int, int]  # a category, a bound, years, an item index
    text: str  # the words of the request it was read from
    column: str | None = None
    how: str = "spelled"  # category matches: "spelled" or "shared-space"

    @property
    def number(self) -> float:
        assert isinstance(self.value, (int, float)), self
        return float(self.value)

    @property
    def span(self) -> tuple[int, int]:
        assert isinstance(self.value, tuple), self
        return self.value

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind, "text": self.text}
        out["value"] = list(self.value) if isinstance(self.value, tuple) else self.value
        if self.column is not None:
            out["column"] = self.column
        if self.kind in ("category", "exclude"):
            out["match"] = self.how
        return out


@dataclass
class ParsedRequest:
    """A request and the hard constraints read from it."""

    text: str
    constraints: list[Constraint] = field(default_factory=list)
    similar_titles: list[str] = field(default_factory=list)
    # What the learned request conditioning reads: the text without the bounds, eras,
    # exclusions and "similar to" the filters already enforce ("" when nothing else is left:
    # "anything but horror" must not steer towards horror).
    soft_text: str = ""
    # Where no category is named: the evidence [C] the soft text gives each of the catalog's
    # category terms (genrec.requests.leaning), and the term it leans to most.
    leaning: np.ndarray | None = None
    leans_to: str | None = None
    # Exclusions that name no category the parser can resolve ("no cartoons" where the catalog
    # says Animation): their words, the evidence [C] they give each category term, and the term
    # they point to most. Ranked away from softly, never filtered (genrec.requests.leaning).
    avoid_text: str = ""
    avoiding: np.ndarray | None = None
    avoids: str | None = None

    def of(self, kind: str) -> list[Constraint]:
        return [c for c in self.constraints if c.kind == kind]

    @property
    def similar_items(self) -> list[int]:
        return [int(c.number) for c in self.of("similar")]

    def mask(self, terms: CatalogTerms) -> np.ndarray | None:
        """Items every constraint allows (None: no constraint restricts the items)."""
        n = len(terms.categories)
        allowed = np.ones(n, dtype=bool)
        restricted = False
        included = [str(c.value) for c in self.of("category")]
        if included:
            allowed &= terms.category_mask(included)
            restricted = True
        for c in self.of("exclude"):
            allowed &= ~terms.category_mask([str(c.value)])
            restricted = True
        for c in self.constraints:
            if c.kind in ("max", "min") and c.column in terms.numeric:
                values = terms.numeric[c.column].values
                bound = c.number
                with np.errstate(invalid="ignore"):
                    ok = values <= bound if c.kind == "max" else values >= bound
                allowed &= ok
                restricted = True
            elif c.kind == "years" and terms.years is not None:
                first, last = c.span
                with np.errstate(invalid="ignore"):
                    allowed &= (terms.years >= first) & (terms.years <= last)
                restricted = True
        for index in self.similar_items:
            allowed[index] = False
            restricted = True
        return allowed if restricted else None

    def describe(self, language: str, nouns: Nouns) -> str:
        """The understood constraints as a phrase for the sentence: 'laptops under $1,000'."""
        cats = [str(c.value) for c in self.of("category")]
        if language == "zh":
            parts = [_zh_bound(c) for c in self.constraints if c.kind in ("max", "min", "years")]
            parts += [f"非{c.value}" for c in self.of("exclude")]
            parts += [f"与《{t}》相似" for t in self.similar_titles]
            # A category found through the encoder is said in the user's own words ("降噪耳机").
            said = [c.text if c.how == "shared-space" else f"{c.value}{nouns.zh}"
                    for c in self.of("category")]  # fmt: skip
            head = "、".join(said) if said else nouns.zh
            return ("、".join(parts) + "的" if parts else "") + head
        head = " or ".join(c.lower() for c in cats) if cats else nouns.en
        if cats and not cats[-1].lower().endswith("s"):
            head = f"{head} {nouns.en}"  # "horror movies"; "laptops" is a noun already
        tail = [_en_bound(c) for c in self.constraints if c.kind in ("max", "min", "years")]
        tail += [f"other than {c.value}" for c in self.of("exclude")]
        tail += [f"like {t}" for t in self.similar_titles]
        return " ".join([head, *tail]) if tail else head

    def to_list(self) -> list[dict[str, object]]:
        """The constraints, then the category the request leans to and the one an unresolved
        exclusion points to (soft preferences, not filters) where it has them."""
        out = [c.to_dict() for c in self.constraints]
        if self.leans_to is not None:
            out.append({"kind": "leaning", "text": self.soft_text, "value": self.leans_to,
                        "match": "shared-space"})  # fmt: skip
        if self.avoids is not None:
            out.append({"kind": "avoid", "text": self.avoid_text, "value": self.avoids,
                        "match": "shared-space"})  # fmt: skip
        return out


def _number_text(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


# How a year span is said: one year, before a year, from a year on, a range.
_YEARS = {
    "en": ("from {first}", "before {end}", "from {first} on", "from {first}-{last}"),
    "zh": ("{first}年", "{end}年以前", "{first}年以后", "{first}—{last}年"),
}


def _years_phrase(c: Constraint, language: str) -> str:
    first, last = c.span
    one, before, after, both = _YEARS[language]
    pattern = one if first == last else before if first <= 1600 else after if last >= 2100 else both
    return pattern.format(first=first, last=last, end=last + 1)


def _en_bound(c: Constraint) -> str:
    if c.kind == "years":
        return _years_phrase(c, "en")
    word = "under" if c.kind == "max" else "over"
    money = "$" if c.column and _is_price(c.column) else ""
    unit = "" if money else f" ({c.column})"
    return f"{word} {money}{_number_text(c.number)}{unit}"


def _zh_bound(c: Constraint) -> str:
    if c.kind == "years":
        return _years_phrase(c, "zh")
    unit = "元" if c.column and _is_price(c.column) else f"（{c.column}）"
    word = "以内" if c.kind == "max" else "以上"
    return f"{_number_text(c.number)}{unit}{word}"


def _is_price(column: str) -> bool:
    return bool(_PRICE_NAMES.search(column))
