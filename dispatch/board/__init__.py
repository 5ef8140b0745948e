"""The incident board for county emergency offices (issue 5): its own blueprint inside dispatch."""
