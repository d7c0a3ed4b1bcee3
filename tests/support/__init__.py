"""Helpers the tests share, as plain modules (httpx's ``tests/common.py``, one idea each).

A test imports its helpers from here, never from a ``test_*.py`` file nor from a
``conftest.py`` (``tests/unit/test_test_imports.py`` holds the tests to it): a test module
holds tests, and moving or deleting one must not break another.

- ``routing``: a region and account routing entries, written as the workers write them.
- ``requests``: a SelectSendingIP request and the metadata that carries an API key.
- ``inprocess``: `sendingip serve` started in the test's own process, on free ports.
- ``processes``: the real `sendingip` processes, started as a user starts them.
- ``http_client``: a raw HTTP/1.1 client for the HTTP door.
- ``history``: what the routers counted in ``daily_history``.
- ``rebalance_run``: many accounts to rebalance, and their state in one snapshot.
"""
