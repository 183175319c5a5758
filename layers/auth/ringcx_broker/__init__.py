"""ringcx_broker: the shared auth layer of ringcx-broker.

Kept import-free on purpose: every submodule is imported where it is used so
that a cold start pays only for what the function needs.
"""

__version__ = "0.1.0"
