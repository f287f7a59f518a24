"""Worker entry points, one per deployment shape. ``runtime`` builds the Temporal workers."""
