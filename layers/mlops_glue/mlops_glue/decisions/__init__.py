"""Pure decision rules: (state, configuration, event) -> Decision. No I/O here."""
