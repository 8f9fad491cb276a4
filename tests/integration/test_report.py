"""Reports built from runs journalled in a fresh SQLite database and a small catalog."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

from core.clock import ist_to_utc, ns_from_utc
from core.config import AppConfig
from core.config_check import compose_config
from core.db.engine import make_engine
from core.db.migrate import upgrade
from core.errors import ConfigError
from feeds.catalog import Catalog
from jobs import dispatch
from jobs.report_jobs import report_after_run
from reports.build import REPORT_FILE, build_comparison, build_report, load_run
from reports.html import inr, metric_rows
from reports.journal import Journal
from strategies.logic.types import Check
from strategies.records import DayRecord, DecisionRecord, TradeRecord
from tests.unit.reports.test_plots import assert_png

SESSIONS = [date(2024, 10, 9), date(2024, 10, 10)]
WARMUP = date(2024, 10, 8)
INDEX_ID = 13
CAPITAL = 100_000.0


@dataclass(frozen=True)
class Setup:
    root: Path
    journal: Journal
    catalog: Catalog
    traded: str  # run id with trades
    idle: str  # run id without trades


def ist(day: date, hhmm: str) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return ist_to_utc(day, time(hours, minutes))


def trade(day: date, sid: int, side: str, entry: str, exit_: str, entry_price: float,
          exit_price: float, tag: str) -> TradeRecord:
    gross = (exit_price - entry_price) * 75
    charges = round(40 + 0.001 * (entry_price + exit_price) * 75, 2)
    return TradeRecord(
        day=day, security_id=sid, symbol=f"NIFTY 2024-10-17 {24500 + sid} {side}",
        option_type=side, strike=24500.0 + sid, expiry=date(2024, 10, 17), lots=3,
        quantity=75, entry_at=ist(day, entry), entry_price=entry_price, exit_at=ist(day, exit_),
        exit_price=exit_price, exit_reason=tag.rsplit("_", 1)[0], exit_tag=tag,
        entry_tag=f"entry_{sid}", gross_pnl=gross, charges=charges,
        net_pnl=round(gross - charges, 2), hwm=max(entry_price, exit_price) + 2,
        breakeven_locked=exit_price > entry_price)


TRADES = [
    trade(SESSIONS[0], 101, "CE", "10:00", "10:35", 120.0, 138.0, "trailing_stop_3pct"),
    trade(SESSIONS[0], 102, "PE", "11:10", "11:40", 95.5, 66.85, "stop_loss_30pct"),
    trade(SESSIONS[1], 101, "CE", "13:05", "13:50", 88.0, 97.3, "time_exit_1520"),
]


def decisions(day: date) -> list[DecisionRecord]:
    failed = (Check("warmup", True, "ready"), Check("iv_rank", False, "0.9 > 0.8"))
    return [
        DecisionRecord(ist(day, "09:30"), "signal", False, "no signal", "avoid"),
        DecisionRecord(ist(day, "09:31"), "signal", False, "validation failed", "bullish",
                       checks=failed),
        DecisionRecord(ist(day, "10:00"), "entry", True, "buy 3 lot(s)", "bullish", 101,
                       "NIFTY 2024-10-17 24601 CE", (Check("sizing", True, "3 lots"),)),
    ]


def minute_bars(day: date, sid: int, closes: np.ndarray) -> dict[str, np.ndarray]:
    ts = ns_from_utc(ist_to_utc(day, time(9, 15))) + np.arange(closes.size) * 60 * 10**9
    return {"ts": ts, "security_id": np.full(closes.size, sid), "open": closes,
            "high": closes + 1, "low": closes - 1, "close": closes,
            "volume": np.zeros(closes.size, dtype=np.int64),
            "oi": np.zeros(closes.size, dtype=np.int64)}


def write_catalog(catalog: Catalog) -> None:
    """Index bars (with a warm-up session) and option bars of the traded contracts."""
    minutes = np.arange(375)
    for n, day in enumerate([WARMUP, *SESSIONS]):
        index = 24_500 + 60 * np.sin(minutes / 50 + n) + n * 20
        option_days = [minute_bars(day, sid, base + 25 * np.sin(minutes / 30 + sid))
                       for sid, base in ((101, 110.0), (102, 85.0))]
        bars = [minute_bars(day, INDEX_ID, index), *option_days]
        catalog.write_bars("NIFTY", day, {key: np.concatenate([b[key] for b in bars])
                                          for key in bars[0]})


def journal_run(journal: Journal, run_id: str, trades: list[TradeRecord], sessions: list[date],
                overrides: str, config: AppConfig) -> None:
    started = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    journal.start_run(run_id, "backtest", "NIFTY", OmegaConf.to_yaml(OmegaConf.structured(config)),
                      overrides, "test", sessions, started)
    balance = CAPITAL
    with journal.sink(run_id) as sink:
        for day in sessions:
            for record in decisions(day):
                sink.decision(record)
            on_day = [t for t in trades if t.day == day]
            for record in on_day:
                sink.trade(record)
            pnl = sum(t.net_pnl for t in on_day)
            sink.day(DayRecord(day, balance, balance + pnl, pnl, sum(t.charges for t in on_day),
                               len(on_day), False))
            balance += pnl
    journal.finish_run(run_id, started + timedelta(minutes=3))


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    root = tmp_path_factory.mktemp("report")
    url = f"sqlite:///{root / 'optscalp.db'}"
    upgrade(url)
    journal = Journal(make_engine(url))
    catalog = Catalog(root)
    write_catalog(catalog)
    config = AppConfig()
    journal_run(journal, "r20260105-001", TRADES, SESSIONS,
                f"mode=backtest data.root={root} note=<script>x</script>", config)
    config.risk.sl_pct = 0.25
    journal_run(journal, "r20260105-002", [], SESSIONS[:1], "risk.sl_pct=0.25", config)
    return Setup(root, journal, catalog, "r20260105-001", "r20260105-002")


def build_traded(setup: Setup) -> Path:
    # One day's charts (its CE and PE trades) keep the test fast; choosing days is unit-tested.
    return build_report(setup.journal, setup.traded, setup.root / "reports", setup.catalog,
                        chart_days=SESSIONS[:1])


@pytest.fixture(scope="module")
def report(setup: Setup) -> Path:
    return build_traded(setup)


def test_report_folder_has_the_html_every_chart_and_the_trade_log(report: Path) -> None:
    names = sorted(p.name for p in report.iterdir())
    charts = ["daily_pnl.png", "day-2024-10-09.png", "equity.png", "exit_reasons.png",
              "pnl_histogram.png", "trade-0001.png", "trade-0002.png"]
    assert names == sorted([*charts, REPORT_FILE, "trades.csv", "trades.parquet"])
    for name in charts:
        assert_png(report / name)
    assert [p.name for p in report.parent.iterdir() if p.name.startswith(".")] == []


def test_html_shows_trade_rows_metrics_decisions_and_config(setup: Setup, report: Path) -> None:
    html = (report / REPORT_FILE).read_text(encoding="utf-8")
    for record in TRADES:
        assert record.symbol in html
        assert f"<td class=\"num pnl\">{inr(record.net_pnl)}</td>" in html
        assert record.exit_tag in html
    assert "2024-10-09 10:00:00" in html  # entry time shown in IST (04:30 UTC)
    for label, value in metric_rows(load_run(setup.journal, setup.traded).metrics):
        assert f"<tr><th>{label.replace('&', '&amp;')}</th><td class=\"num\">" \
               f"{value.replace('&', '&amp;')}</td></tr>" in html
    assert "<td>iv_rank</td><td class=\"num\">2</td>" in html  # failed check, counted per day
    assert "supertrend_period: 10" in html  # the full resolved config
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<script>" not in html
    assert html.count("data:image/png;base64,") == 7
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html).lower()
    assert re.search(r"\bnan\b|\binf\b", text) is None
    assert "No trades" not in html


def test_trade_log_files_match_the_journal(report: Path) -> None:
    with (report / "trades.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["net_pnl"]) for r in rows] == [t.net_pnl for t in TRADES]
    assert rows[0]["entry_time_ist"] == "2024-10-09T10:00:00+05:30"
    table = pq.read_table(report / "trades.parquet")
    assert table.num_rows == 3
    assert table.column("symbol").to_pylist() == [t.symbol for t in TRADES]
    assert table.column("entry_time_ist").type.tz == "Asia/Kolkata"


def test_rebuilding_an_old_run_gives_the_same_report(setup: Setup, report: Path) -> None:
    before = {p.name: p.read_bytes() for p in report.iterdir()}
    metrics = load_run(setup.journal, setup.traded).metrics
    again = build_traded(setup)
    assert again == report
    assert load_run(setup.journal, setup.traded).metrics == metrics
    assert {p.name: p.read_bytes() for p in again.iterdir()} == before


def test_a_run_without_trades_renders_and_says_so(setup: Setup) -> None:
    folder = build_report(setup.journal, setup.idle, setup.root / "reports", setup.catalog)
    html = (folder / REPORT_FILE).read_text(encoding="utf-8")
    assert "No trades" in html
    assert "Win rate</th><td class=\"num\">-</td>" in html
    for png in folder.glob("*.png"):
        assert_png(png)
    assert len(list(folder.glob("*.png"))) == 4
    assert pq.read_table(folder / "trades.parquet").num_rows == 0
    assert (folder / "trades.csv").read_text().startswith("number,day,symbol")


def test_comparison_puts_runs_side_by_side(setup: Setup) -> None:
    folder = build_comparison(setup.journal, [setup.traded, setup.idle], setup.root / "reports")
    assert folder.name == f"compare-{setup.traded}-{setup.idle}"
    html = (folder / REPORT_FILE).read_text(encoding="utf-8")
    assert f"<th class=\"num\">{setup.traded}</th>" in html
    assert "<code>risk.sl_pct</code></td><td>0.3</td><td>0.25</td>" in html
    assert_png(folder / "equity.png")
    with pytest.raises(ConfigError, match="two or more"):
        build_comparison(setup.journal, [setup.traded], setup.root / "reports")


def test_mode_report_takes_a_quoted_comma_list(setup: Setup) -> None:
    app = compose_config(["mode=report", f"data.root={setup.root}",
                          f"run.id='{setup.traded},{setup.idle}'"])
    assert dispatch.run(app) == 0
    assert (setup.root / "reports" / f"compare-{setup.traded}-{setup.idle}" / REPORT_FILE
            ).is_file()
    app.run.id = ""
    with pytest.raises(ConfigError, match="latest runs: r20260105-001, r20260105-002"):
        dispatch.run(app)
    app.report.enabled = False
    assert report_after_run(app, setup.traded) is None
