"""Sunshine Relief (阳光救助): a city-wide social-assistance case system."""

__version__ = "0.1.0"

import os as _os

# Piccolo finds its engine through this module path; tables carry no ``db=``.
_os.environ.setdefault("PICCOLO_CONF", "relief_pwa.piccolo_conf")
