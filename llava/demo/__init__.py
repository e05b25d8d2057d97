"""The embedded demo: a synthetic shapes world, its deterministic teacher and tokenizer (docs/demo.md)."""
