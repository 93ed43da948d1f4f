"""Component factories that use released helpers by pin, and the example pipeline."""
