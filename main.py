"""optscalp entry point: compose the Hydra config, then hand it to the job for ``mode``.

Wiring only. Examples::

    python main.py                                  # backtest on the bundled sample days
    python main.py mode=simulate index=nifty data.days=2024-10-07:2024-10-11
    python main.py mode=import ingest.path=path/to/api-scrip-master.csv
    python main.py mode=db                          # create / migrate the database
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from core.config import register_configs
from core.config_check import compose_config, to_app_config
from core.errors import ConfigError, TradingError
from jobs import dispatch

register_configs()


@hydra.main(config_path="conf", config_name="config", version_base=None)
def main(cfg: DictConfig) -> int:
    try:
        app = to_app_config(cfg)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        sys.exit(2)
    try:
        return dispatch.run(app)
    except TradingError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


def _precheck(argv: list[str]) -> None:
    """Validate a single run's overrides before Hydra starts, so errors are one line."""
    if any(arg in ("-m", "--multirun") or arg.startswith("-") for arg in argv):
        return  # sweeps and Hydra flags: each job validates its own config
    overrides = [arg for arg in argv if not arg.startswith("hydra.")]
    try:
        compose_config(overrides)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    _precheck(sys.argv[1:])
    code = main()
    sys.exit(code if isinstance(code, int) else 0)
