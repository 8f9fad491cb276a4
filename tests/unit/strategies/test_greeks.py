import math
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from core import black76
from core.instruments import OptionContract, OptionType
from strategies.logic.greeks import (
    enrich_chain,
    implied_forward_from_chain,
    quote_mid,
    quote_price,
)
from strategies.logic.types import ChainQuote, ChainSnapshot

EXPIRY = date(2024, 10, 10)
T_YEARS = 2.0 / 252.0
RATE = 0.065
FORWARD = 24_560.0
SPOT = 24_530.0


def _vol(strike: float) -> float:
    return 0.14 + 0.5 * ((strike - FORWARD) / FORWARD) ** 2 * 100  # a gentle smile


def _quote(strike: float, kind: OptionType, sid: int, **changes) -> ChainQuote:
    is_call = kind is OptionType.CALL
    value = float(black76.price(FORWARD, strike, T_YEARS, _vol(strike), RATE, is_call))
    contract = OptionContract(security_id=sid, segment="NSE_FNO", underlying="NIFTY",
                              expiry=EXPIRY, strike=strike, option_type=kind, lot_size=25)
    quote = ChainQuote(contract=contract, ltp=value + 0.3, bid=value - 0.05, ask=value + 0.05,
                       oi=100_000)
    return replace(quote, **changes)


def _chain(strikes=(24_400.0, 24_450.0, 24_500.0, 24_550.0, 24_600.0, 24_650.0),
           spot: float = SPOT) -> ChainSnapshot:
    quotes = []
    for i, strike in enumerate(strikes):
        quotes.append(_quote(strike, OptionType.CALL, 1000 + i))
        quotes.append(_quote(strike, OptionType.PUT, 2000 + i))
    return ChainSnapshot(underlying="NIFTY", expiry=EXPIRY, spot=spot,
                         at=datetime(2024, 10, 9, 5, 30, tzinfo=UTC), quotes=tuple(quotes),
                         strike_step=50)


def test_forward_from_put_call_parity_at_the_strike_nearest_spot():
    assert implied_forward_from_chain(_chain(), T_YEARS, RATE) == pytest.approx(FORWARD, abs=1e-6)


def test_forward_falls_back_to_spot_carry_without_a_pair():
    calls_only = replace(_chain(), quotes=tuple(q for q in _chain().quotes
                                                if q.contract.option_type is OptionType.CALL))
    expected = SPOT * math.exp(RATE * T_YEARS)
    assert implied_forward_from_chain(calls_only, T_YEARS, RATE) == pytest.approx(expected)


def test_enrich_recovers_iv_and_delta():
    enriched = enrich_chain(_chain(), T_YEARS, RATE)
    assert len(enriched.quotes) == 12
    for quote in enriched.quotes:
        strike = quote.contract.strike
        is_call = quote.contract.option_type is OptionType.CALL
        assert quote.iv == pytest.approx(_vol(strike), abs=1e-6)
        expected = black76.greeks(FORWARD, strike, T_YEARS, _vol(strike), RATE, is_call).delta
        assert quote.delta == pytest.approx(expected, abs=1e-6)
        assert (quote.delta > 0) is is_call


def test_existing_values_are_kept():
    chain = _chain()
    first = replace(chain.quotes[0], iv=0.33, delta=None)
    second = replace(chain.quotes[1], iv=None, delta=-0.42)
    chain = replace(chain, quotes=(first, second, *chain.quotes[2:]))
    enriched = enrich_chain(chain, T_YEARS, RATE)
    assert enriched.quotes[0].iv == 0.33
    # delta from the given IV, not from the price
    expected = black76.greeks(FORWARD, first.contract.strike, T_YEARS, 0.33, RATE, True).delta
    assert enriched.quotes[0].delta == pytest.approx(expected, abs=1e-6)
    assert enriched.quotes[1].delta == -0.42
    assert enriched.quotes[1].iv == pytest.approx(_vol(second.contract.strike), abs=1e-6)


def test_complete_chain_is_returned_as_is():
    chain = _chain()
    full = replace(chain, quotes=tuple(replace(q, iv=0.2, delta=0.5) for q in chain.quotes))
    assert enrich_chain(full, T_YEARS, RATE) is full


def test_ltp_is_used_without_a_two_sided_quote():
    chain = _chain()
    one_sided = replace(chain.quotes[4], bid=None, ask=None)
    enriched = enrich_chain(replace(chain, quotes=(one_sided, *chain.quotes[:4],
                                                   *chain.quotes[5:])), T_YEARS, RATE)
    strike = one_sided.contract.strike
    expected = black76.implied_vol(one_sided.ltp, FORWARD, strike, T_YEARS, RATE, True)
    assert enriched.quotes[0].iv == pytest.approx(expected, abs=1e-6)


def test_unpriceable_quote_keeps_none():
    chain = _chain()
    below_intrinsic = replace(chain.quotes[0], bid=0.05, ask=0.15, ltp=0.1)  # deep ITM call
    no_price = replace(chain.quotes[2], bid=None, ask=None, ltp=0.0)
    enriched = enrich_chain(replace(chain, quotes=(below_intrinsic, no_price,
                                                   *chain.quotes[3:])), T_YEARS, RATE)
    assert (enriched.quotes[0].iv, enriched.quotes[0].delta) == (None, None)
    assert (enriched.quotes[1].iv, enriched.quotes[1].delta) == (None, None)


@pytest.mark.parametrize("t_years", [0.0, -0.01, float("nan")])
def test_bad_time_to_expiry_is_an_error(t_years):
    with pytest.raises(ValueError, match="t_years"):
        enrich_chain(_chain(), t_years, RATE)


@pytest.mark.parametrize(("bid", "ask", "ltp", "mid", "price"), [
    (99.0, 101.0, 105.0, 100.0, 100.0),
    (None, 101.0, 105.0, None, 105.0),
    (0.0, 101.0, 105.0, None, 105.0),
    (102.0, 101.0, 105.0, None, 105.0),  # crossed
    (None, None, 0.0, None, None),
    (None, None, float("nan"), None, None),
    (float("inf"), 101.0, 105.0, None, 105.0),
    (99.0, float("nan"), float("inf"), None, None),
])
def test_mid_and_price(bid, ask, ltp, mid, price):
    quote = replace(_quote(24_500.0, OptionType.CALL, 1), bid=bid, ask=ask, ltp=ltp)
    assert quote_mid(quote) == mid
    assert quote_price(quote) == price


def test_enrich_changes_only_iv_and_delta():
    stamp = datetime(2024, 10, 9, 5, 29, 58, tzinfo=UTC)
    chain = _chain()
    quotes = tuple(replace(q, bid_qty=50 + i, ask_qty=75, quote_ts=stamp)
                   for i, q in enumerate(chain.quotes))
    enriched = enrich_chain(replace(chain, quotes=quotes), T_YEARS, RATE)
    assert replace(enriched, quotes=quotes) == replace(chain, quotes=quotes)
    for before, after in zip(quotes, enriched.quotes, strict=True):
        assert type(after) is ChainQuote
        assert after == replace(before, iv=after.iv, delta=after.delta)


def test_only_fills_the_accepted_quotes_with_the_whole_chains_forward():
    chain = _chain()
    # The parity pair (24,550, nearest spot 24,530) stays outside `only`.
    wanted = {1002, 2004}
    enriched = enrich_chain(chain, T_YEARS, RATE,
                            only=lambda q: q.contract.security_id in wanted)
    full = enrich_chain(chain, T_YEARS, RATE)
    for before, after, complete in zip(chain.quotes, enriched.quotes, full.quotes, strict=True):
        if before.contract.security_id in wanted:
            assert (after.iv, after.delta) == (complete.iv, complete.delta)
            assert after.iv == pytest.approx(_vol(before.contract.strike), abs=1e-6)
        else:
            assert after is before


def test_only_accepting_nothing_returns_the_snapshot():
    chain = _chain()
    assert enrich_chain(chain, T_YEARS, RATE, only=lambda q: False) is chain


def test_forward_skips_a_nearest_strike_without_both_legs_priced():
    chain = _chain()
    # 24,550 is nearest spot 24,530: its put has no price, so 24,500 (next nearest) is used.
    quotes = tuple(replace(q, bid=None, ask=None, ltp=0.0)
                   if q.contract.strike == 24_550.0 and q.contract.option_type is OptionType.PUT
                   else q for q in chain.quotes)
    call = next(q for q in chain.quotes if q.contract.strike == 24_500.0
                and q.contract.option_type is OptionType.CALL)
    put = next(q for q in chain.quotes if q.contract.strike == 24_500.0
               and q.contract.option_type is OptionType.PUT)
    expected = black76.implied_forward(quote_price(call), quote_price(put), 24_500.0, T_YEARS,
                                       RATE)
    assert implied_forward_from_chain(replace(chain, quotes=quotes), T_YEARS, RATE) == expected
    assert expected == pytest.approx(FORWARD, abs=1e-6)


def test_a_quote_without_a_contract_does_not_break_the_forward():
    chain = _chain()
    orphan = replace(chain.quotes[0], contract=None)
    enriched = enrich_chain(replace(chain, quotes=(orphan, *chain.quotes[1:])), T_YEARS, RATE,
                            only=lambda q: q.contract is not None)
    assert enriched.quotes[0] is orphan
    assert enriched.quotes[1].iv == pytest.approx(_vol(chain.quotes[1].contract.strike),
                                                  abs=1e-6)
