"""Whether the long reliability runs (``@pytest.mark.soak``) are wanted: ``SENDINGIP_SOAK=1``,
as `make soak` sets it; without it they are skipped (``tests/reliability/conftest.py``)."""

from __future__ import annotations

import os

SOAK = os.environ.get("SENDINGIP_SOAK") == "1"
