"""Exception hierarchy, named by what the caller should do about it.

Translate third-party failures into these once, at the boundary, with ``raise ... from e``.
"""

from __future__ import annotations


class TradingError(Exception):
    """Root of every optscalp error."""


class ConfigError(TradingError):
    """The configuration is invalid: fatal at startup, the message names the key."""


class DataError(TradingError):
    """Market or reference data is missing, malformed or stale."""


class MissingDataError(DataError):
    """Data that a run needs is absent (a day not in the catalog, an empty chain)."""


class StaleDataError(DataError):
    """A quote is older than the allowed age: block entries, never exits."""


class MalformedDataError(DataError):
    """An input file or response cannot be parsed; the message names the row and column."""


class BrokerError(TradingError):
    """A broker call failed."""


class TransientBrokerError(BrokerError):
    """Retry with backoff (network errors, 5xx, rate limits)."""


class RateLimited(TransientBrokerError):
    """The broker said too many requests: back off, then retry."""


class OrderRejected(BrokerError):
    """The broker refused the order: do not retry, tell the strategy."""


class InsufficientMargin(OrderRejected):
    """Rejected for lack of funds."""


class AuthError(BrokerError):
    """Credentials invalid or the daily token expired: stop entries and alert."""


class RiskLimitBreached(TradingError):
    """A risk limit blocks the action (breaker tripped, kill switch, position limits)."""


class ReconciliationError(TradingError):
    """The journal and the broker disagree in a way that needs a human."""
