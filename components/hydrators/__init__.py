"""Candidate hydrators: fill post, author and media fields onto candidates."""
