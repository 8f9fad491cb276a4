"""The raw DhanHQ client against the emulator: typed errors, retries, no duplicate orders."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from brokers.dhan.client import Credentials, DhanClient, credentials_from_env
from core.config import DhanConfig
from core.errors import AuthError, OrderRejected, RateLimited
from sim.dhan_emulator import EmulatorServer
from tests.integration.emulator_support import admin, dhan_client, quoted_options, serve


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    with serve(tmp_path_factory) as running:
        yield running


class SleepLog:
    """An injected sleep: records the delays asked for and runs a hook instead of waiting."""

    def __init__(self, hook=None) -> None:  # noqa: ANN001 - a test helper
        self.delays: list[float] = []
        self.hook = hook

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.hook is not None:
            self.hook()


def _client(server: EmulatorServer, sleep: SleepLog, token: str | None = None,
            **cfg: object) -> DhanClient:
    config = DhanConfig(backoff_base_s=0.5, backoff_cap_s=2.0, backoff_jitter=0.1,
                        **cfg)  # type: ignore[arg-type]
    creds = Credentials(server.settings.client_id, token or server.settings.access_token)
    return DhanClient(creds, config, base_url=server.base_url, sleep=sleep,
                      rng=random.Random(7))


def _book(server: EmulatorServer) -> list[tuple[str, int, str]]:
    return server.call(lambda: [(o.correlation_id, o.quantity, o.status)
                                for o in server.emulator.book.orders.values()])


def _buy(client: DhanClient, option: object, tag: str, qty: int | None = None) -> dict:
    return client.place_order(security_id=option.security_id, segment="NSE_FNO",  # type: ignore[attr-defined]
                              side="BUY", quantity=qty or option.lot_size,  # type: ignore[attr-defined]
                              correlation_id=tag)


def test_429_storm_backs_off_then_places_exactly_one_order(server: EmulatorServer) -> None:
    sleep = SleepLog()
    client = _client(server, sleep)
    option = quoted_options(server)[0]
    admin(server, "faults", {"storm_requests": 3})
    ack = _buy(client, option, "entry_NIFTY_CE_storm")
    assert ack["orderStatus"] == "TRANSIT"
    backoffs = [d for d in sleep.delays if d >= 0.4]
    assert len(backoffs) == 3
    assert backoffs[0] < backoffs[1] < backoffs[2] <= 2.2  # exponential, capped, jittered
    assert client.retries == 3
    assert _book(server) == [("entry_NIFTY_CE_storm", option.lot_size, "TRADED")]


def test_storm_longer_than_the_retries_raises_rate_limited(server: EmulatorServer) -> None:
    client = _client(server, SleepLog(), max_retries=2)
    option = quoted_options(server)[0]
    admin(server, "faults", {"storm_requests": 5})
    with pytest.raises(RateLimited, match="DH-904"):
        _buy(client, option, "entry_NIFTY_CE_x")
    assert _book(server) == []


def test_ambiguous_failure_finds_the_landed_order_instead_of_resending(
        server: EmulatorServer) -> None:
    """A 5xx on placement may hide an order that reached Dhan: it is found, not resent."""
    option = quoted_options(server)[0]

    def the_first_attempt_landed() -> None:
        admin(server, "faults", {"fail_status": {}})
        landed = dhan_client(server).place_order(
            str(option.security_id), "NSE_FNO", "BUY", option.lot_size, "MARKET", "INTRADAY",
            0, tag="entry_NIFTY_CE_amb")
        assert landed["status"] == "success"

    client = _client(server, SleepLog(the_first_attempt_landed))
    admin(server, "faults", {"fail_status": {"orders": 503}})
    ack = _buy(client, option, "entry_NIFTY_CE_amb")
    assert ack["orderStatus"] == "TRADED"
    assert [row[0] for row in _book(server)] == ["entry_NIFTY_CE_amb"]
    assert client.retries == 1


@pytest.mark.parametrize(("fault", "qty_factor", "message"), [
    ({"reject_next_orders": 1}, 1, "RMS:Order rejected"),
    ({}, 1.5, "DH-906"),  # not a whole number of lots: refused at the gateway
])
def test_rejection_raises_order_rejected_without_retry(
        server: EmulatorServer, fault: dict, qty_factor: float, message: str) -> None:
    client = _client(server, SleepLog())
    option = quoted_options(server)[0]
    if fault:
        admin(server, "faults", fault)
    with pytest.raises(OrderRejected, match=message):
        _buy(client, option, "entry_NIFTY_CE_rej", int(option.lot_size * qty_factor))
    assert client.retries == 0


def test_expired_token_raises_auth_error_at_once(server: EmulatorServer) -> None:
    client = _client(server, SleepLog())
    admin(server, "faults", {"token_expired": True})
    with pytest.raises(AuthError, match="DH-901"):
        client.positions()
    wrong = _client(server, SleepLog(), token="not-the-token")
    admin(server, "faults", {"token_expired": False})
    with pytest.raises(AuthError, match="DH-901"):
        wrong.orders()
    assert client.retries == wrong.retries == 0


def test_reads_are_plain_python(server: EmulatorServer) -> None:
    client = _client(server, SleepLog())
    option = quoted_options(server)[0]
    ack = _buy(client, option, "entry_NIFTY_CE_read")
    order = client.order_by_id(ack["orderId"])
    assert order == client.order_by_correlation("entry_NIFTY_CE_read")
    assert order["orderStatus"] == "TRADED"
    assert client.order_by_correlation("never_sent") is None
    assert [p["netQty"] for p in client.positions()] == [option.lot_size]
    assert [o["orderId"] for o in client.orders()] == [ack["orderId"]]


@pytest.mark.parametrize(("env", "message"), [
    ({}, "set DHAN_CLIENT_ID and DHAN_ACCESS_TOKEN"),
    ({"DHAN_CLIENT_ID": "1"}, "set DHAN_ACCESS_TOKEN"),
])
def test_missing_credentials_name_the_variable(env: dict, message: str) -> None:
    with pytest.raises(AuthError, match=message):
        credentials_from_env(env)
    assert "s3cr3t" not in repr(Credentials("1", "s3cr3t"))
