"""After training: a trained run loaded back, predictions on new images, exported files."""
