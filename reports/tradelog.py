"""The trade log of a report as ``trades.csv`` and ``trades.parquet`` (one row per trade).

Rows are numbered in entry order, as in the HTML trade table and the chart labels. Times
are IST: the CSV shows wall time with its offset, the Parquet file stores tz-aware
timestamps. Both files have every column even for a run without trades.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from core.clock import to_ist
from strategies.records import TradeRecord

IST_TIMESTAMP = pa.timestamp("us", tz="Asia/Kolkata")
TRADE_LOG_SCHEMA = pa.schema([
    ("number", pa.int32()), ("day", pa.date32()), ("symbol", pa.string()),
    ("security_id", pa.int64()), ("option_type", pa.string()), ("strike", pa.float64()),
    ("expiry", pa.date32()), ("lots", pa.int32()), ("quantity", pa.int32()),
    ("entry_time_ist", IST_TIMESTAMP), ("entry_price", pa.float64()),
    ("exit_time_ist", IST_TIMESTAMP), ("exit_price", pa.float64()),
    ("holding_minutes", pa.float64()), ("exit_reason", pa.string()), ("exit_tag", pa.string()),
    ("entry_tag", pa.string()), ("gross_pnl", pa.float64()), ("charges", pa.float64()),
    ("net_pnl", pa.float64()), ("hwm", pa.float64()), ("breakeven_locked", pa.bool_()),
    ("entry_correlation_id", pa.string()), ("exit_correlation_id", pa.string()),
])
CSV_FILE, PARQUET_FILE = "trades.csv", "trades.parquet"


def trade_log_rows(trades: Sequence[TradeRecord]) -> list[dict[str, Any]]:
    """One dict per trade with the TRADE_LOG_SCHEMA columns (``trades`` in entry order)."""
    rows = []
    for number, t in enumerate(trades, start=1):
        row = {name: getattr(t, name, None) for name in TRADE_LOG_SCHEMA.names}
        row |= {"number": number, "entry_time_ist": to_ist(t.entry_at),
                "exit_time_ist": to_ist(t.exit_at),
                "holding_minutes": round((t.exit_at - t.entry_at).total_seconds() / 60.0, 4)}
        rows.append(row)
    return rows


def write_trade_log(trades: Sequence[TradeRecord], folder: Path) -> tuple[Path, Path]:
    """Write ``trades.csv`` and ``trades.parquet`` into ``folder``; returns both paths."""
    rows = trade_log_rows(trades)
    table = pa.Table.from_pylist(rows, schema=TRADE_LOG_SCHEMA)
    pq.write_table(table, folder / PARQUET_FILE)
    with (folder / CSV_FILE).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=TRADE_LOG_SCHEMA.names)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _csv_text(value) for key, value in row.items()})
    return folder / CSV_FILE, folder / PARQUET_FILE


def _csv_text(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
