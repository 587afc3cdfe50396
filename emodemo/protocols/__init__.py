"""How data becomes a benchmark: clips paired with words (pairing: their own transcript, or a text
line of their emotion) and the text benchmarks' splits (text_benchmarks).

Code outside the package imports from here, not from the modules.
"""

from emodemo.protocols.pairing import constructed_pairs, real_pairs

__all__ = [
    "constructed_pairs",
    "real_pairs",
]
