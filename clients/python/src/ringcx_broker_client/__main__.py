"""``python -m ringcx_broker_client``: see ``cli``."""

from __future__ import annotations

import sys

from ringcx_broker_client.cli import main

if __name__ == "__main__":
    sys.exit(main())
