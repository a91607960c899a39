"""Reading annotations and features, the built-in synthetic dataset, and batching."""
