"""Prompt rendering shared by the transformers and vLLM teachers, so both see identical text."""
from __future__ import annotations


def render_chat(template_owner, prompt: str, with_image: bool, thinking: bool = False,
                content_parts: bool = True) -> str:
    """One user turn through the model's chat template, ending with the assistant header.

    The image goes before the text (Qwen-VL convention). `content_parts=False` passes plain string
    content, which text-only chat templates expect. `enable_thinking` only matters to templates
    that read it (Qwen3); others ignore the extra variable.
    """
    if not getattr(template_owner, "chat_template", None):
        raise ValueError(f"{type(template_owner).__name__} has no chat template; the teacher model folder needs "
                         f"one (chat_template.jinja or tokenizer_config.json) to format prompts")
    if content_parts:
        content = ([{"type": "image"}] if with_image else []) + [{"type": "text", "text": prompt}]
    else:
        if with_image:
            raise ValueError("an image prompt needs list-of-parts content")
        content = prompt
    return template_owner.apply_chat_template(
        [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True,
        enable_thinking=thinking)

