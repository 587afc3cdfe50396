"""How data becomes a benchmark: clips paired with words (their own transcript or a text line of
their emotion), and the text benchmarks' splits."""
