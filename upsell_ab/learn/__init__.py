"""Learning across experiments: comparisons from many experiments pooled by offer lever."""
