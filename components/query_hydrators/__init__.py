"""Query hydrators: fill the For-You query from the user-data store."""
