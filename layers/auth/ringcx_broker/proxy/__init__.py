"""ProxyFunction: ``ANY /voice/api/{proxy+}``, ``GET /health`` and ``GET /token``.

- ``paths``: the untrusted path, decoded and checked, re-encoded canonically.
- ``forward``: the upstream request (method, query, safe headers, body) and
  the reply translated back for API Gateway (status, safe headers, text or
  base64 body, size limit).
- ``token_source``: the per-container token cache, ring reads and refresher
  invocations (docs/design.md, "The proxy").
- ``routes``: which of the three routes an event is for.
- ``app``: the routes' handlers and ``handle(event, context)``.

Kept import-free like the parent package, so importing a submodule costs
only what that submodule needs.
"""
