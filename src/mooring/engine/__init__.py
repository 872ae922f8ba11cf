"""The engine: the only process that owns workloads and writes state."""
