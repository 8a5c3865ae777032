"""Thread lifecycle: deleting and pruning threads, their TTL and its sweeper."""
