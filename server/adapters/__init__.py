"""The doors besides gRPC (SPEC §5): HTTP/JSON, Postfix policy delegation, the line protocol."""
