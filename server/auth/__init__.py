"""Access control: API keys (``sip_<key id>_<secret>``, stored as SHA-256 hashes),
checked from memory by ``authorizer.KeyAuthorizer``, kept fresh by ``cache.KeyCache``,
started with the server by ``runtime.running_authorizer``; optional TLS in ``tls``.

Import the submodules; this package imports nothing so ``server.config`` can use
``server.auth.config`` without a cycle.
"""
