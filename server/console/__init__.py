"""The web console (SPEC §6): server-rendered pages on the HTTP listener; see routes.py."""
