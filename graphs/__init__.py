"""LangGraph graphs served by Switchyard and the registry that compiles them.

Nothing in this package imports Starlette, uvicorn or ``app``: graphs are
plain LangGraph code that any LangGraph runtime could serve.
"""
