"""Pure parts: policy, text, rendering, config, the store, feeds read from bytes."""
