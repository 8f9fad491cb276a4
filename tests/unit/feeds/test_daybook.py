"""DayBook: per-security grouping, the bar-path fast route, and the indexed option chain.

The indexed chain (ChainIndex) and the bar fast route must give exactly what the plain
walk over every contract and the general quotes_from_bars route give, so each test builds
both and compares them.
"""

from __future__ import annotations

from datetime import date, time

import numpy as np
import pytest

from core.clock import ist_to_utc, ns_from_utc, utc_from_ns
from core.errors import MissingDataError
from core.instruments import OptionContract, OptionType
from feeds.bar_book import MINUTE_NS, grouped_bar_quotes, quotes_from_bars
from feeds.daybook import DayBook, group_by_security, group_quotes

DAY = date(2024, 10, 9)
INDEX_ID = 13
EXPIRIES = (date(2024, 10, 10), date(2024, 10, 17))
OPEN_NS = ns_from_utc(ist_to_utc(DAY, time(9, 15)))
SECOND = 1_000_000_000
FIELDS = ("ts", "ltp", "bid", "ask", "bid_qty", "ask_qty", "oi")


def contracts(strikes: range = range(24_300, 24_700, 50)) -> list[OptionContract]:
    out = []
    kinds = (OptionType.PUT, OptionType.CALL)
    for n, (expiry, strike, kind) in enumerate(
            (e, s, k) for e in EXPIRIES for s in strikes for k in kinds):
        out.append(OptionContract(security_id=1000 + n, segment="NSE_FNO", underlying="NIFTY",
                                  expiry=expiry, strike=float(strike), option_type=kind,
                                  lot_size=25))
    return out


def random_ticks(seed: int, ids: list[int], rows: int = 4_000) -> dict[str, np.ndarray]:
    """Time-sorted ticks over the first hour; options may be missing (never quoted)."""
    rng = np.random.default_rng(seed)
    sid = rng.choice(np.array(ids, dtype=np.int64), rows)
    sid[0] = INDEX_ID  # the index quotes from the open
    ts = np.sort(OPEN_NS + rng.integers(0, 3_600 * SECOND, rows))
    ts[0] = OPEN_NS
    ltp = np.round(rng.uniform(20, 200, rows), 2)
    ltp[sid == INDEX_ID] = np.round(24_500 + rng.normal(0, 60, int((sid == INDEX_ID).sum())), 2)
    bid = np.where(sid == INDEX_ID, np.nan, ltp - rng.choice([0.05, 0.1, 200.0], rows))
    return {"ts": ts, "security_id": sid, "ltp": ltp, "bid": bid,
            "ask": np.where(sid == INDEX_ID, np.nan, ltp + 0.05),
            "bid_qty": rng.integers(0, 900, rows).astype(np.int32),
            "ask_qty": rng.integers(0, 900, rows).astype(np.int32),
            "oi": rng.integers(0, 10**7, rows)}


def assert_same_series(got: DayBook, expected: DayBook) -> None:
    assert list(got._series) == list(expected._series)
    for sid, series in expected._series.items():
        for name in FIELDS:
            a, b = getattr(got._series[sid], name), getattr(series, name)
            assert a.dtype == b.dtype, (sid, name)
            assert np.array_equal(a, b, equal_nan=True), (sid, name)


def assert_chain_is_the_walk(book: DayBook, probes: list[int]) -> int:
    """Every (expiry, instant, width) probe: chain() equals the walk over all contracts."""
    compared = 0
    for expiry in (*EXPIRIES, date(2024, 11, 1)):
        for at_ns in probes:
            at = utc_from_ns(at_ns)
            for each_side in (0, 1, 3, 40):
                snapshot = book.chain(expiry, at, each_side)
                atm = round(snapshot.spot / book.strike_step) * book.strike_step
                walked = book._scan_chain(expiry, atm, each_side * book.strike_step, at_ns)
                assert repr(snapshot.quotes) == repr(tuple(walked))
                compared += len(walked)
    return compared


def probes(first: int = OPEN_NS) -> list[int]:
    """Instants from the first index quote on: at it, just after, mid-hour, long after."""
    return [first, first + 1, first + 49 * SECOND, first + 600 * SECOND + 123,
            first + 3_599 * SECOND, first + 5 * 3_600 * SECOND]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_indexed_chain_equals_the_walk_over_every_contract(seed: int) -> None:
    listed = contracts()
    quoted = [c.security_id for c in listed[::3]]  # most contracts never quote
    book = DayBook("NIFTY", DAY, INDEX_ID, random_ticks(seed, [INDEX_ID, *quoted]), listed, 50)
    assert book._chain_index._search_keys() is not None  # the indexed route ran
    assert assert_chain_is_the_walk(book, probes()) > 50


def test_chain_quotes_carry_the_last_quote_and_unknown_sides_as_none() -> None:
    listed = contracts(range(24_500, 24_501))
    ce = next(c for c in listed if c.option_type is OptionType.CALL and c.expiry == EXPIRIES[0])
    ts = np.array([OPEN_NS, OPEN_NS + SECOND, OPEN_NS + 2 * SECOND, OPEN_NS + 3 * SECOND])
    ticks = {"ts": ts, "security_id": np.array([INDEX_ID, ce.security_id, ce.security_id,
                                                 ce.security_id]),
             "ltp": np.array([24_510.0, 101.0, 102.0, 103.0]),
             "bid": np.array([np.nan, 100.95, 0.0, np.nan]),
             "ask": np.array([np.nan, 101.05, 102.05, 103.05]),
             "bid_qty": np.array([0, 10, 20, 30], dtype=np.int32),
             "ask_qty": np.array([0, 11, 21, 31], dtype=np.int32),
             "oi": np.array([0, 500, 600, 700])}
    book = DayBook("NIFTY", DAY, INDEX_ID, ticks, listed, 50)
    first = book.chain(EXPIRIES[0], utc_from_ns(OPEN_NS + SECOND), 1).quotes
    assert [(q.ltp, q.bid, q.ask, q.bid_qty, q.oi) for q in first] == [
        (101.0, 100.95, 101.05, 10, 500)]
    later = book.chain(EXPIRIES[0], utc_from_ns(OPEN_NS + 3 * SECOND), 1).quotes
    assert [(q.ltp, q.bid, q.ask, q.quote_ts) for q in later] == [
        (103.0, None, 103.05, utc_from_ns(OPEN_NS + 3 * SECOND))]
    zero_bid = book.chain(EXPIRIES[0], utc_from_ns(OPEN_NS + 2 * SECOND), 1).quotes
    assert zero_bid[0].bid is None
    assert book.chain(EXPIRIES[0], utc_from_ns(OPEN_NS), 1).quotes == ()  # no quote yet
    with pytest.raises(MissingDataError, match="no index tick"):
        book.chain(EXPIRIES[0], utc_from_ns(OPEN_NS - 1_000), 1)


def test_chain_falls_back_to_the_walk_on_a_nan_strike_or_unsorted_quotes() -> None:
    listed = contracts()
    nan_strike = OptionContract(security_id=999, segment="NSE_FNO", underlying="NIFTY",
                                expiry=EXPIRIES[0], strike=float("nan"),
                                option_type=OptionType.CALL, lot_size=25)
    ids = [INDEX_ID, 999, *(c.security_id for c in listed)]
    book = DayBook("NIFTY", DAY, INDEX_ID, random_ticks(4, ids), [*listed, nan_strike], 50)
    assert book._chain_index._window(EXPIRIES[0], 24_500, 50, 1) is None
    assert_chain_is_the_walk(book, probes())
    ticks = random_ticks(5, [INDEX_ID, *(c.security_id for c in listed)])
    rows = np.flatnonzero(ticks["security_id"] == listed[0].security_id)[:2]
    ticks["ts"][rows] = ticks["ts"][rows[::-1]]  # one option's quotes out of time order
    unsorted = DayBook("NIFTY", DAY, INDEX_ID, ticks, listed, 50)
    assert unsorted._chain_index._search_keys() is None
    assert_chain_is_the_walk(unsorted, probes())


def test_group_quotes_matches_group_by_security() -> None:
    ticks = random_ticks(6, [INDEX_ID, 1000, 1001, 1002])
    grouped = group_quotes(ticks)
    plain = group_by_security(ticks, FIELDS)
    assert grouped.ids.tolist() == list(plain) == [13, 1000, 1001, 1002]
    for sid, series in grouped.series().items():
        for name in FIELDS:
            assert np.array_equal(getattr(series, name), plain[sid][name], equal_nan=True)


def minute_grid_bars(seed: int, ids: list[int], minutes: int = 30) -> dict[str, np.ndarray]:
    """1m bars sorted by (ts, id); each id skips some minutes."""
    rng = np.random.default_rng(seed)
    rows = [(OPEN_NS + m * MINUTE_NS, sid) for m in range(minutes) for sid in sorted(ids)
            if sid == INDEX_ID or rng.random() > 0.3]
    ts = np.array([r[0] for r in rows], dtype=np.int64)
    sid = np.array([r[1] for r in rows], dtype=np.int64)
    o, c = rng.uniform(1, 300, len(rows)), rng.uniform(1, 300, len(rows))
    is_index = sid == INDEX_ID
    o[is_index] += 24_350
    c[is_index] += 24_350
    return {"ts": ts, "security_id": sid, "open": o, "close": c,
            "high": np.maximum(o, c) + rng.uniform(0, 5, len(rows)),
            "low": np.maximum(np.minimum(o, c) - rng.uniform(0, 5, len(rows)), 0.05),
            "volume": rng.integers(0, 1000, len(rows)), "oi": rng.integers(0, 10**6, len(rows))}


@pytest.mark.parametrize(("seed", "half_spread_ticks"), [(1, 1), (2, 0), (3, 4)])
def test_grouped_bar_quotes_equal_the_general_route(seed: int, half_spread_ticks: int) -> None:
    listed = contracts(range(24_400, 24_600, 50))
    bars = minute_grid_bars(seed, [INDEX_ID, *(c.security_id for c in listed)])
    grouped = grouped_bar_quotes(bars, INDEX_ID, 0.05, half_spread_ticks)
    assert grouped is not None
    fast = DayBook.from_grouped("NIFTY", DAY, INDEX_ID, grouped, listed, 50)
    general = DayBook("NIFTY", DAY, INDEX_ID,
                      quotes_from_bars(bars, INDEX_ID, 0.05, half_spread_ticks), listed, 50)
    assert_same_series(fast, general)
    index = fast.series(INDEX_ID)
    assert index is not None
    assert np.isnan(index.bid).all()
    assert (index.ts[:4] - OPEN_NS).tolist() == [1 * SECOND, 20 * SECOND, 40 * SECOND,
                                                 59 * SECOND]
    assert assert_chain_is_the_walk(fast, probes(OPEN_NS + SECOND)) > 100


def test_grouped_bar_quotes_decline_bars_closer_than_a_minute() -> None:
    bars = minute_grid_bars(7, [INDEX_ID, 1000])
    bars["ts"] = bars["ts"] // 2  # 30 s apart: one bar's path overlaps the next
    assert grouped_bar_quotes(bars, INDEX_ID, 0.05, 1) is None
    assert grouped_bar_quotes({k: v[:0] for k, v in bars.items()}, INDEX_ID, 0.05, 1) is None


def test_missing_index_is_refused_on_both_routes() -> None:
    listed = contracts(range(24_500, 24_501))
    bars = minute_grid_bars(8, [listed[0].security_id, listed[1].security_id])
    bars["security_id"][bars["security_id"] == INDEX_ID] = listed[0].security_id
    grouped = grouped_bar_quotes(bars, INDEX_ID, 0.05, 1)
    assert grouped is not None
    with pytest.raises(MissingDataError, match="security id 13"):
        DayBook.from_grouped("NIFTY", DAY, INDEX_ID, grouped, listed, 50)
    with pytest.raises(MissingDataError, match="security id 13"):
        DayBook("NIFTY", DAY, INDEX_ID, quotes_from_bars(bars, INDEX_ID, 0.05, 1), listed, 50)
