"""One service per flow: parse -> decide (pure) -> act (adapters) -> notify."""
