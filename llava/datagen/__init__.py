"""Visual-extraction data generation (docs/data_generation.md): VQA data + a teacher VLM -> training data.

Pipeline per image ("item"): question-answer pairs -> declarative statements (text-only teacher),
image + statements -> fine-grained description, questions -> "contents to observe" (focus). `merge`
turns the per-shard JSONL records into LLaVA-format training JSON plus a `data_configs/` YAML.
Command line: `llava-datagen` (`llava.datagen.cli`).
"""
