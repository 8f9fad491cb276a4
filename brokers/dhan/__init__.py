"""DhanHQ v2: wire formats (``parsing``, pure), the REST client, feeds, orders, reconciliation.

Only ``client.py`` may import ``dhanhq``; the market feed and order-update streams speak the
WebSocket protocol directly (``websockets``) through ``parsing``, so the emulator and the
tests share one definition of the protocol.
"""
