"""The router process: gRPC services answered from memory, with PostgreSQL behind them."""
