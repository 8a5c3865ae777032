"""The LangGraph platform services beside the run engine.

    lifespan.py       start_platform: opens them in create_app's lifespan, runs
                      the background loops (crons, thread TTL and store TTL sweepers)
    crons.py          the cron scheduler (each tick claimed once, fired as a run)
    webhooks.py       signed, retried calls to a run's webhook when it ends
    custom_routes.py  langgraph.json's ``http.app`` mounted beside the API
    schemas.py        request bodies of the platform endpoints
    settings.py       their settings (nested in ``app.settings.Settings``)

This module imports nothing: ``app.settings`` imports ``settings.py`` from here.
"""
