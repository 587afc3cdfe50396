"""What results look like: figures, the models' side-by-side comparison, each checkpoint's headline
evaluation."""
