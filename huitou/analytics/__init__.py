"""Customer analytics: lifetime-value models and purchase summaries (pure numpy/scipy)."""
