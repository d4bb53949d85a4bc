"""ReID architectures; importing this package registers every built-in model."""
