"""The results archive: concluded experiments as immutable, versioned JSON records."""
