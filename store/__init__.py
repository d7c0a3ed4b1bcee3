"""The PostgreSQL layer shared by the router and the workers: pool, migrations, named queries, LISTEN."""
