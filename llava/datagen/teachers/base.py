"""What a teacher is: a class with two batched generation methods.

`generate_text(prompts, max_new_tokens)` answers text-only prompts (statements, focus);
`generate_with_images(prompts, images, max_new_tokens)` answers one prompt per image
(descriptions). Both return one string per prompt, in order. `contexts` (optional, one dict per
prompt: the step name, the item's metadata, its QA pairs, ...) lets a deterministic teacher such
as `scene` answer from ground truth; model-backed teachers ignore it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

DEFAULT_MODEL = "Qwen/Qwen3-VL-8B-Instruct"  # the paper's teacher (bf16)


@dataclass(frozen=True)
class TeacherOptions:
    """Settings every backend reads what it needs from (one flag set on the command line)."""

    model: str | None = DEFAULT_MODEL
    dtype: str = "auto"  # auto: bfloat16 on GPU, float32 on CPU
    device: str | None = None  # None: cuda if available, else cpu; "auto": spread over GPUs (device_map)
    attn_implementation: str | None = None  # e.g. sdpa, flash_attention_2; None: transformers' default
    thinking: bool = False  # chat templates with a thinking switch (Qwen3) get enable_thinking=thinking
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int = 0
    tensor_parallel_size: int = 1  # vllm
    gpu_memory_utilization: float = 0.9  # vllm
    max_model_len: int | None = None  # vllm

    def identity(self) -> dict:
        """The settings that change what the teacher writes (part of the cache key)."""
        keys = ("model", "dtype", "thinking", "temperature")
        ident = {k: v for k, v in asdict(self).items() if k in keys}
        if self.temperature > 0:
            ident.update(top_p=self.top_p, seed=self.seed)
        return ident


class Teacher:
    """Base class of teacher backends; subclasses implement the two generate methods."""

    #: Requests per call when --batch-size is not given (engines with their own scheduling want more).
    default_batch_size = 16
    #: Whether generate_with_images is available (text-only LLMs can still write statements/focus).
    supports_images = True

    @classmethod
    def from_options(cls, options: TeacherOptions) -> "Teacher":
        return cls()

    def generate_text(self, prompts: list[str], max_new_tokens: int,
                      contexts: list[dict] | None = None) -> list[str]:
        raise NotImplementedError

    def generate_with_images(self, prompts: list[str], images: list, max_new_tokens: int,
                             contexts: list[dict] | None = None) -> list[str]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the model (GPU memory) before another teacher is loaded."""
