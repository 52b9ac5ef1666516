"""Host runtime: a DiT sampled on the EXION core through its commands (docs/runtime.md)."""
