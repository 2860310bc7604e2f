"""Covariance statistics of the rewritten MLP projection's inputs: corpus fetching and second moments."""
