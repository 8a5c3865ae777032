"""HTTP endpoints: thin handlers that parse, call a service and respond."""
