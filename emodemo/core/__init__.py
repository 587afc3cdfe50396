"""The ground floor: label sets, metrics, files and emodemo's cache folder, progress bars, the device, the feature cache.

Imports no other layer of emodemo."""
