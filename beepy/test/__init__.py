"""beepy\x27s tests."""
