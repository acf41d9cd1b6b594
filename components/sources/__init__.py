"""Candidate sources: Thunder (in-network) and Phoenix retrieval (out-of-network)."""
