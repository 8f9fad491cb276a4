"""Order tags and broker correlation ids, built from the configured values.

An exit tag names the rule and its configured threshold (``stop_loss_25pct`` for a 25% stop)
so a journal row says which parameter set closed the trade. A DhanHQ ``correlationId`` holds
at most 30 characters of ``[A-Za-z0-9 _-]``: :func:`correlation_id` fits a tag plus a unique
suffix into that; the full tag is journalled separately by the caller.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Protocol

from core.instruments import OptionContract, format_strike
from strategies.logic.types import ExitReason

CORRELATION_ID_MAX = 30
SUFFIX_MAX = 12
_SEPARATOR = "-"
_ALLOWED = re.compile(r"^[A-Za-z0-9 _-]+$")
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9 _-]")
# Applied in order, only when a tag does not fit: keeps the informative part (index, side,
# strike, threshold) and drops the spelled-out rule words.
_ABBREVIATIONS = (
    ("entry_", "en_"),
    ("stop_loss_", "sl_"),
    ("take_profit_", "tp_"),
    ("trailing_stop_", "tr_"),
    ("circuit_breaker_", "cb_"),
    ("time_exit_", "tx_"),
    ("breakeven_stop", "be"),
    ("kill_switch", "ks"),
    ("end_of_data", "eod"),
    ("BANKNIFTY", "BNF"),
    ("FINNIFTY", "FNF"),
    ("MIDCPNIFTY", "MCN"),
)


class ExitTagValues(Protocol):
    """The configured thresholds an exit tag names (``ExitParams`` provides them)."""

    @property
    def sl_pct(self) -> float: ...
    @property
    def tp_pct(self) -> float: ...
    @property
    def trail_pct(self) -> float: ...
    @property
    def breaker_pct(self) -> float: ...
    @property
    def time_exit(self) -> time: ...


def percent_label(fraction: float) -> str:
    """A fraction as a tag-safe percent: ``0.3 -> '30'``, ``0.125 -> '12p5'``, ``0.06 -> '6'``.

    Rounded to 6 decimals of a percent so float noise (0.3 * 100 = 30.000000000000004) does
    not leak into tags; the decimal point becomes ``p`` because tags allow no dots.
    """
    text = f"{round(fraction * 100.0, 6):.6f}".rstrip("0").rstrip(".")
    return text.replace(".", "p").replace("-", "m")


def exit_tag(reason: ExitReason, params: ExitTagValues) -> str:
    """``stop_loss_30pct``, ``take_profit_60pct``, ``trailing_stop_3pct``,
    ``circuit_breaker_6pct``, ``time_exit_1520``; other reasons are their plain name."""
    if reason is ExitReason.STOP_LOSS:
        return f"stop_loss_{percent_label(params.sl_pct)}pct"
    if reason is ExitReason.TAKE_PROFIT:
        return f"take_profit_{percent_label(params.tp_pct)}pct"
    if reason is ExitReason.TRAILING_STOP:
        return f"trailing_stop_{percent_label(params.trail_pct)}pct"
    if reason is ExitReason.CIRCUIT_BREAKER:
        return f"circuit_breaker_{percent_label(params.breaker_pct)}pct"
    if reason is ExitReason.TIME_EXIT:
        return f"time_exit_{params.time_exit.hour:02d}{params.time_exit.minute:02d}"
    return reason.value


def entry_tag(contract: OptionContract) -> str:
    """``entry_<UNDERLYING>_<CE|PE>_<strike>``, e.g. ``entry_NIFTY_CE_24500``
    (a fractional strike keeps its digits with ``p`` for the point: ``24512p5``)."""
    strike = format_strike(contract.strike).replace(".", "p")
    return f"entry_{contract.underlying.upper()}_{contract.option_type.value}_{strike}"


def correlation_id(tag: str, unique: str) -> str:
    """``<tag>-<unique>`` in at most 30 characters of ``[A-Za-z0-9 _-]``.

    ``unique`` (1-12 allowed characters, e.g. a run id plus an order counter) is supplied by
    the caller and kept whole, so distinct suffixes always give distinct ids; it is rejected,
    not rewritten, when it has other characters (rewriting could merge two suffixes). The tag
    has disallowed characters replaced by ``_`` and, when too long, is abbreviated (see
    ``_ABBREVIATIONS``) and then cut from the right.
    """
    if not unique or len(unique) > SUFFIX_MAX or not _ALLOWED.match(unique):
        raise ValueError(f"correlation suffix {unique!r}: need 1-{SUFFIX_MAX} characters "
                         "of [A-Za-z0-9 _-]")
    room = CORRELATION_ID_MAX - len(_SEPARATOR) - len(unique)
    short = shorten_tag(_NOT_ALLOWED.sub("_", tag), room)
    return f"{short}{_SEPARATOR}{unique}" if short else unique


def shorten_tag(tag: str, room: int) -> str:
    """``tag`` itself if it fits in ``room`` characters, else abbreviated, else cut."""
    if len(tag) <= room:
        return tag
    for long, short in _ABBREVIATIONS:
        tag = tag.replace(long, short)
        if len(tag) <= room:
            return tag
    return tag[:room].rstrip(" _-")
