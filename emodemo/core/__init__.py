"""The ground floor: label sets (labels), metrics, files and emodemo's cache folder (files), progress
bars (progress), the device (device), the feature cache (cache). Imports no other layer of emodemo.

Code outside the package (notebooks, benches, the app) imports from here, not from the modules.
"""

from emodemo.core.files import replace_marked_block
from emodemo.core.labels import CANONICAL7, to_canonical
from emodemo.core.metrics import classification_report, multilabel_report

__all__ = [
    "CANONICAL7",
    "classification_report",
    "multilabel_report",
    "replace_marked_block",
    "to_canonical",
]
