"""Faces attached to a running engine: the engine's socket and the link that talks to it.

The process that runs the engine (``wsmon-tui monitor``, or a dashboard that started its
own) serves ``engine.sock`` in the state dir (``server.py``, on the engine's loop); a face
started on that state dir attaches to it (``client.py``, a second ``EngineLink``) instead of
starting a prober of its own. The protocol is newline-delimited JSON (``protocol.py``).
"""
