"""Feature serving: compiled row gathers and the PyG feature store over feature artifacts."""
