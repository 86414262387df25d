"""Building blocks with no billing domain knowledge."""
