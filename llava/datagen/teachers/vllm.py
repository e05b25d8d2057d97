"""vLLM teacher (optional extra `[vllm]`): offline batched inference with continuous batching.

Each call hands the whole batch to the engine, which schedules it itself, so a large
`--batch-size` (default 512) keeps the GPU busy. Prompts are rendered with the model's own chat
template (the same function the transformers teacher uses), so both backends see identical text.
"""
from __future__ import annotations

from llava.datagen.teachers.base import Teacher, TeacherOptions
from llava.datagen.teachers.chat import render_chat
from llava.prompts import strip_thinking

VLLM_MISSING = ("the vllm backend needs vLLM, which is not installed: `pip install 'llava-extract-think[vllm]'` "
                "on a CUDA machine, or use --backend hf")


def build_vllm_requests(template_owner, prompts: list[str], images: list | None = None,
                        thinking: bool = False, content_parts: bool = True) -> list[dict]:
    """vLLM prompt dicts: the chat-rendered text, plus `multi_modal_data` when there is an image."""
    if images is not None and len(images) != len(prompts):
        raise ValueError(f"{len(prompts)} prompts but {len(images)} images")
    requests = []
    for i, prompt in enumerate(prompts):
        image = images[i] if images is not None else None
        request = {"prompt": render_chat(template_owner, prompt, image is not None, thinking, content_parts)}
        if image is not None:
            request["multi_modal_data"] = {"image": image}
        requests.append(request)
    return requests


def sampling_kwargs(max_new_tokens: int, temperature: float, top_p: float, seed: int) -> dict:
    """`SamplingParams` arguments: greedy at temperature 0, like the transformers teacher."""
    kwargs = {"max_tokens": max_new_tokens, "temperature": temperature}
    if temperature > 0:
        kwargs.update(top_p=top_p, seed=seed)
    return kwargs


class VLLMTeacher(Teacher):
    default_batch_size = 512

    def __init__(self, model: str, dtype: str = "auto", tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.9, max_model_len: int | None = None,
                 thinking: bool = False, temperature: float = 0.0, top_p: float = 1.0, seed: int = 0):
        try:
            import vllm
        except ImportError as exc:
            raise ImportError(VLLM_MISSING) from exc
        from llava.datagen.teachers.hf import is_image_text_model, load_model_config, load_processor

        if not model:
            raise ValueError("the vllm teacher needs --model (a local folder or a hub id)")
        config = load_model_config(model)
        self.supports_images = is_image_text_model(config)
        dtype = {"auto": "bfloat16", "bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}.get(dtype, dtype)
        engine_kwargs = {"model": model, "dtype": dtype,
                         "tensor_parallel_size": tensor_parallel_size,
                         "gpu_memory_utilization": gpu_memory_utilization, "seed": seed}
        if max_model_len:
            engine_kwargs["max_model_len"] = max_model_len
        if self.supports_images:
            engine_kwargs["limit_mm_per_prompt"] = {"image": 1}
        self._vllm = vllm
        self.llm = vllm.LLM(**engine_kwargs)
        # A VLM's chat template may live with its processor only (chat_template.json).
        self.template_owner = load_processor(model, config) if self.supports_images else self.llm.get_tokenizer()
        self.thinking, self.temperature, self.top_p, self.seed = thinking, temperature, top_p, seed

    @classmethod
    def from_options(cls, options: TeacherOptions) -> "VLLMTeacher":
        return cls(options.model, options.dtype, options.tensor_parallel_size, options.gpu_memory_utilization,
                   options.max_model_len, options.thinking, options.temperature, options.top_p, options.seed)

    def _run(self, requests: list[dict], max_new_tokens: int) -> list[str]:
        params = self._vllm.SamplingParams(**sampling_kwargs(max_new_tokens, self.temperature, self.top_p, self.seed))
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        return [strip_thinking(output.outputs[0].text) for output in outputs]

    def generate_text(self, prompts, max_new_tokens, contexts=None):
        return self._run(build_vllm_requests(self.template_owner, prompts, None, self.thinking,
                                             content_parts=self.supports_images), max_new_tokens)

    def generate_with_images(self, prompts, images, max_new_tokens, contexts=None):
        if not self.supports_images:
            raise ValueError("this teacher is a text-only model; the describe step needs an image-text model")
        return self._run(build_vllm_requests(self.template_owner, prompts, list(images), self.thinking), max_new_tokens)

    def close(self) -> None:
        del self.llm
