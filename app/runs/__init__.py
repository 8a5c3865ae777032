"""The run engine: scheduling, lifecycles, execution and batches of runs."""
