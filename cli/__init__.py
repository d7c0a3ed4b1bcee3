"""The `sendingip` command line."""
