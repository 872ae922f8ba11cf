"""The ``mooring`` command line: parses, calls, renders. It never touches state or workloads."""
