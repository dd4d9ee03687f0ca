"""A run, or many records, rendered for people: markdown (comment, summary, --report-out) and the terminal."""
