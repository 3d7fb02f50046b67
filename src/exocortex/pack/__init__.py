"""The context governor: hand an agent exactly the context a task needs within a hard token budget.

>>> pack = pack_context("parse config", hits, reader, budget=parse_budget("8k"))  # doctest: +SKIP
>>> pack.tokens <= pack.budget                                                    # doctest: +SKIP
True

- :mod:`.corpus` loads chunk texts, skeletons and signatures from a store snapshot in bulk;
- :mod:`.governor` walks ranked hits and degrades each to the best form that fits;
- :mod:`.render` renders markdown or XML-style text and the items it holds.

Budgets are whole token counts; ``parse_budget`` also reads ``8000``, ``8k``,
``128k``, ``1.5m``, ``10m`` (k = 1,000 and m = 1,000,000, decimal like the
context sizes models advertise).
"""

from __future__ import annotations

import re

from exocortex.errors import ConfigError
from exocortex.pack.governor import FORMATS, Pack, pack_context
from exocortex.pack.render import PackItem

__all__ = ["FORMATS", "Pack", "PackItem", "pack_context", "parse_budget"]

_BUDGET = re.compile(r"^(\d+(?:\.\d+)?)\s*([km]?)$")
_UNITS = {"": 1, "k": 1_000, "m": 1_000_000}


def parse_budget(value: str | int) -> int:
    """A token budget from ``8000``, ``"8000"``, ``"128k"``, ``"1m"``, ``"10M"`` (k = 1,000, m = 1,000,000).

    Raises ``ConfigError`` for zero, negative, fractional-token or unreadable budgets.
    """
    if isinstance(value, bool):
        raise ConfigError(f"bad token budget {value!r}: give a positive number such as 8000, 128k or 1m")
    if isinstance(value, int):
        if value < 1:
            raise ConfigError(f"bad token budget {value}: it must be at least 1 (e.g. 8000, 128k, 1m)")
        return value
    text = str(value).strip().lower().replace("_", "").replace(",", "")
    match = _BUDGET.match(text)
    if not match:
        raise ConfigError(f"bad token budget {value!r}: give a positive number such as 8000, 128k or 1m")
    number, unit = match.groups()
    scaled = float(number) * _UNITS[unit] if "." in number else int(number) * _UNITS[unit]
    if scaled != int(scaled) or int(scaled) < 1:
        raise ConfigError(f"bad token budget {value!r}: it must be a whole number of tokens, at least 1")
    return int(scaled)
