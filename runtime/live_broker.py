"""The live runtime's order side: the Dhan gateway, its order-update stream and the broker."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from brokers.dhan.broker import DhanBroker
from brokers.dhan.order_updates import OrderUpdateClient
from brokers.dhan.orders import OrderGateway, live_armed
from runtime.live_reconcile import PositionWatch
from runtime.threads import Worker

if TYPE_CHECKING:
    from runtime.live import LiveRuntime

log = logging.getLogger(__name__)


def make_dhan_broker(runtime: LiveRuntime, cash: float) -> DhanBroker:
    """A :class:`DhanBroker` over an armed (both switches) or dry-run gateway.

    The order-update stream runs under the runtime's thread supervisor; polling covers for
    it whenever it is down.
    """
    app = runtime.app
    armed, says = live_armed(app.live)
    log.warning("%s", says)
    assert runtime.credentials is not None
    updates = OrderUpdateClient(runtime.credentials, app.dhan) if armed else None
    gateway = OrderGateway(runtime.client if armed else None, runtime.sink, armed,
                           updates=updates, exit_rounds=app.live.exit_rounds,
                           now=runtime.clock.now)  # replay time in a lockstep rehearsal
    if updates is not None:
        beat = app.paper.heartbeat_s
        runtime.threads.spawn("dhan-order-updates", lambda w: _keep_running(w, updates, beat))
    gate = runtime.gate
    broker = DhanBroker(gateway, runtime.setup.schedule, app.index.exchange, runtime.day, cash,
                        lambda: gate.released_ns, poll_interval_s=app.live.order_poll_s,
                        exit_wait_s=app.live.exit_wait_s, exit_rounds=app.live.exit_rounds)
    if armed and app.live.reconcile_s > 0 and runtime.client is not None:
        assert runtime.status is not None
        watch = PositionWatch(runtime.client.positions, broker.held, runtime.status.notes)
        interval = app.live.reconcile_s
        runtime.threads.spawn("dhan-reconcile", lambda w: watch.run(w, interval))
    return broker


def _keep_running(worker: Worker, client: Any, beat: float) -> None:
    client.start()
    try:
        while not worker.wait(beat):
            worker.beat()
    finally:
        client.stop()
