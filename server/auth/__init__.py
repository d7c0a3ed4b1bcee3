"""Access control: API keys (``sip_<key id>_<secret>``, stored as SHA-256 hashes),
checked from memory by ``authorizer.KeyAuthorizer``, kept fresh by ``cache.KeyCache``,
started with the server by ``runtime.AuthRuntime``; optional TLS in ``tls``.

Below the rest of the server: it imports only ``store`` and ``server.authz``, so that
``server.config``, the router and management can build on it (``server.app`` wires them;
tests/unit/test_import_graph.py keeps it so).
"""
