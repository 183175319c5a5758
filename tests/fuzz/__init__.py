"""Property-based fuzzing of every entry point a caller can reach: the proxy's
API Gateway events, the exchange's bodies and direct invokes, and the
refresher's direct-invoke payloads (``hypothesis``).

For every generated input: never a 5xx from the broker itself, never a
traceback or exception repr in a reply, never a token in a reply, and never a
forward outside ``{RINGCX}/voice/api/``. The upstream fakes always work, so a
5xx can only be the broker's own failure.

Profiles (``tests/fuzz/conftest.py``):

- ``ci`` (the default, and what ``python3 tasks.py test`` and CI run): a fixed
  seed (derandomized), a bounded number of examples per property, no example
  database; the same inputs on every run, about 20 s in all.
- ``deep``: random seeds, many times the examples, the example database in
  ``.hypothesis/`` so a failure found once is replayed first next time::

      HYPOTHESIS_PROFILE=deep .venv/bin/python -m pytest tests/fuzz -q

  Go deeper still by adding ``--hypothesis-seed=N`` for a new region of the
  input space, or ``--hypothesis-show-statistics`` to see where time goes.
  ``FUZZ_EXAMPLES=20000`` overrides the example count of either profile.

A failure prints the shrunk input and a ``@reproduce_failure`` line; turn the
input into an ordinary unit test next to the code it breaks.
"""
