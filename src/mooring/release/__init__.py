"""The release core: plan, batches, states and messages, as pure functions over plain data."""
