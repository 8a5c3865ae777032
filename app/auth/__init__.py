"""Authentication and authorization: every request passes one gate.

::

    request ─> middleware (app.auth.middleware)
                 ├─ public route (/ok, playground page, settings.public_paths) ─> handler
                 ├─ ?stream_token= on its run's GET stream URL ─> that run's user
                 └─ credentials (app.auth.credentials) ─> AuthGate.authenticate
                      API keys · JWT · langgraph.json ``auth`` (langgraph_sdk.Auth)
                      fail ─> 401 + WWW-Authenticate
               handler ─> app.auth.access.authorize(conn, resource, action, value)
                 ├─ auth.py handlers (@auth.on...)  or  owner isolation (built-in)
                 └─ filters ─> the stores (app.store.filters): others' records look missing

Kept free of imports here: ``app.settings`` imports ``app.auth.settings``.
"""
