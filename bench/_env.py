"""Point the project at a benchmark database before anything of it is imported.

RELIEF_DATABASE_URL selects the engine (sqlite:///… or postgresql://…); without
it a throw-away SQLite file in a temporary directory is used.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))
_TMP = Path(tempfile.mkdtemp(prefix="relief-bench-"))
os.environ.setdefault("RELIEF_VAR_DIR", str(_TMP))
os.environ.setdefault("RELIEF_DATABASE_URL", f"sqlite:///{_TMP / 'bench.sqlite3'}")
os.environ.setdefault("RELIEF_MODE", "demo")
os.environ.setdefault("RELIEF_BOT_TOKEN", "")
os.environ.setdefault("PICCOLO_CONF", "relief_pwa.piccolo_conf")
