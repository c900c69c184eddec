"""Where ganforge keeps what it computes once and reuses: reference statistics, decoded folders."""

from __future__ import annotations

import os
from pathlib import Path


def ganforge_cache_dir() -> Path:
    """$GANFORGE_CACHE, else ~/.cache/ganforge: one root, so one variable moves every cache."""
    return Path(os.environ.get("GANFORGE_CACHE") or "~/.cache/ganforge").expanduser()
