"""DhanHQ v2: wire formats (``parsing``, pure) and, later, the live client, store and broker.

Only ``client.py`` may import ``dhanhq``; everything else here is plain Python on bytes and
dicts so the emulator and the tests share one definition of the protocol.
"""
