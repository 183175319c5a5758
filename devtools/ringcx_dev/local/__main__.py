"""``python -m ringcx_dev.local``: see ``cli.py``."""

from __future__ import annotations

from ringcx_dev.local.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
