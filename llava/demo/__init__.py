"""The embedded demo: a synthetic shapes world, its deterministic teacher and tokenizer (issue 7)."""
