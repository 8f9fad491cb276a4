"""DhanHQ jobs: ``mode=record`` (the live feed into the catalog) and ``mode=live``.

Credentials come only from env ``DHAN_CLIENT_ID`` / ``DHAN_ACCESS_TOKEN``; ``dhan.feed_url``
(and ``dhan.base_url``, or env ``DHAN_BASE_URL``) may point at the emulator for a rehearsal.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, date, datetime

from sqlalchemy import select

from core.clock import IST
from core.config import AppConfig
from core.errors import ConfigError, MissingDataError

log = logging.getLogger(__name__)


def day_contracts(app: AppConfig, day: date) -> list[dict]:
    """The index and its options of the nearest ``dhan.record_expiries`` expiries, from the DB
    (the scrip master imported with ``mode=import``), as catalog contract rows."""
    from core.db.engine import make_engine, session_factory
    from core.db.models import Derivative, Instrument

    with session_factory(make_engine(app.db.url))() as session:
        index = session.scalars(select(Instrument).where(
            Instrument.segment == "IDX_I",
            Instrument.security_id == app.index.security_id)).first()
        options = session.scalars(select(Derivative).where(
            Derivative.underlying_symbol == app.index.name, Derivative.instrument == "OPTIDX",
            Derivative.expiry >= day)).all()
    if index is None or not options:
        raise MissingDataError(f"no {app.index.name} index/options in {app.db.url}: run "
                               "mode=import with today's scrip master first")
    expiries = sorted({o.expiry for o in options})[:app.dhan.record_expiries]
    rows = [{"security_id": index.security_id, "segment": "IDX_I", "symbol": app.index.name,
             "underlying": app.index.name, "instrument": "INDEX", "expiry": None,
             "strike": None, "option_type": None, "lot_size": 1,
             "tick_size": index.tick_size, "freeze_qty": None}]
    rows += [{"security_id": o.security_id, "segment": o.segment, "symbol": o.symbol,
              "underlying": app.index.name, "instrument": "OPTIDX", "expiry": o.expiry,
              "strike": o.strike, "option_type": o.option_type, "lot_size": o.lot_size,
              "tick_size": o.tick_size, "freeze_qty": o.freeze_qty}
             for o in options if o.expiry in expiries]
    return rows


def record(app: AppConfig) -> int:
    """``mode=record``: record today's index and strike band until the session closes."""
    from brokers.dhan.client import credentials_from_env
    from brokers.dhan.feed import MarketFeedClient
    from brokers.dhan.parsing import QuotePacket
    from core.calendar import TradingCalendar
    from feeds.catalog import Catalog
    from feeds.recorder import BandSpec, TickRecorder, record_loop

    today = datetime.now(UTC).astimezone(IST).date()
    calendar = TradingCalendar(app.data.extra_sessions)
    if not calendar.is_session(today):
        raise ConfigError(f"{today} is not a trading session: nothing to record")
    contracts = day_contracts(app, today)
    expiries = tuple(sorted({r["expiry"] for r in contracts if r["expiry"]}))
    recorder = TickRecorder(Catalog(app.data.root), app.index.name, today, contracts,
                            BandSpec(app.index.security_id, app.index.strike_step,
                                     app.dhan.record_strikes_each_side, expiries))
    index_ltp: list[float] = []

    def on_packet(packet: object, receive_ns: int) -> None:
        if isinstance(packet, QuotePacket) and packet.security_id == app.index.security_id:
            index_ltp.append(packet.ltp)
            del index_ltp[:-1]
        recorder.on_packet(packet, receive_ns)  # type: ignore[arg-type]

    feed = MarketFeedClient(credentials_from_env(), on_packet, app.dhan)
    close_utc = calendar.session_bounds(today)[1]
    stop = threading.Event()
    feed.start()
    feed.subscribe([("IDX_I", app.index.security_id)])
    print(f"recording {app.index.name} {today} into {app.data.root} until {close_utc} "
          f"(ATM +/- {app.dhan.record_strikes_each_side} strikes of {list(expiries)})")
    try:
        record_loop(recorder, feed.subscribe, lambda: index_ltp[-1] if index_ltp else None,
                    lambda: feed.status.connected, time.time_ns,
                    lambda s: stop.wait(s) or datetime.now(UTC) >= close_utc,
                    flush_s=app.dhan.record_flush_s)
    except KeyboardInterrupt:
        log.warning("interrupted: final flush")
        recorder.flush()
    finally:
        feed.stop()
    print(f"recorded {len(recorder.rows['ts'])} ticks of {len(feed.subscribed())} "
          f"instruments; {len(recorder.gaps)} gap(s)")
    return 0


def live(app: AppConfig) -> int:
    """``mode=live``: the strategy on DhanHQ until the session ends or it is stopped.

    Says at start whether orders will be sent; without both arming switches every order is
    journalled and logged as "would send", and nothing reaches Dhan.
    """
    from brokers.dhan.orders import live_armed
    from jobs.report_jobs import report_after_run
    from runtime.live import LiveRuntime

    _, says = live_armed(app.live)
    print(says)
    runtime = LiveRuntime(app, send_orders=True)
    code = runtime.run()
    print(f"run {runtime.run_id}: live {app.index.name} {runtime.day} "
          f"{'finished' if code == 0 else 'failed'}; journalled in {app.db.url}")
    if runtime.run_id:
        report_after_run(app, runtime.run_id)
    return code
