"""Static reference data (Jinan org network for the demo)."""
