"""MCP both ways: the registry of MCP servers flows call, and Switchyard served as one."""
