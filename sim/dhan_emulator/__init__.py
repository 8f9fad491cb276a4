"""A local DhanHQ v2 server over a replayed catalog day (DESIGN section 10).

REST under ``/v2``, the binary market feed and the order-update feed as WebSockets, all on
127.0.0.1, driven by :class:`sim.clock.ReplayClock`; orders fill through the shared fill
model. Start one with :class:`EmulatorServer` (tests, tools) or ``mode=emulator`` (the job).
"""

from sim.dhan_emulator.app import EmulatorServer, create_app
from sim.dhan_emulator.emulator import Emulator
from sim.dhan_emulator.settings import EmulatorSettings, settings_from_app

__all__ = ["Emulator", "EmulatorServer", "EmulatorSettings", "create_app", "settings_from_app"]
