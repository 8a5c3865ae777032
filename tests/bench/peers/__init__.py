"""``make bench-peers``: LangServe and ``langgraph dev`` beside Switchyard (see ``suite``)."""
