"""Write the static files under their content-hashed names for nginx to serve.

    python deploy/nginx/collect_static.py /srv/relief/static-root

Every file the app links by hashed name (relief_pwa/handlers/assets.py) is
copied to ``ROOT/static/<hashed name>``. Files of earlier releases are kept:
a page rendered before a release still finds the files it names, and a hashed
name never changes meaning. The plain names and the service worker are not
written: the app serves them with Cache-Control: no-cache (deploy/nginx/relief.conf).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def collect(root: Path) -> int:
    """Copy every hashed static file under ``root/static``; returns how many were new."""
    from relief_pwa.handlers.assets import manifest

    written = 0
    for hashed, source in manifest().by_hashed.items():
        target = root / "static" / hashed
        if target.exists() and target.stat().st_size == source.stat().st_size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".tmp")
        shutil.copyfile(source, temporary)
        temporary.chmod(0o644)
        temporary.replace(target)  # never a half-written file under a year-long name
        written += 1
    return written


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    root = Path(sys.argv[1])
    print(f"{collect(root)} new static files under {root / 'static'}")


if __name__ == "__main__":
    main()
