"""LLaVA on Qwen2 (`model_type="llava_qwen"`, architecture `LlavaQwenForCausalLM`), the LLM of the
original LLaVA-OneVision checkpoints (lmms-lab/llava-onevision-qwen2-*)."""
from __future__ import annotations

from torch import nn
from transformers import Qwen2ForCausalLM, Qwen2Model
from transformers.models.qwen2.modeling_qwen2 import Qwen2PreTrainedModel

from llava.model.language_models.configs import LlavaQwenConfig
from llava.model.language_models.registration import register_model
from llava.model.multimodal import LlavaMetaForCausalLM, LlavaMetaModel


class LlavaQwenModel(LlavaMetaModel, Qwen2Model):
    config_class = LlavaQwenConfig


class LlavaQwenForCausalLM(LlavaMetaForCausalLM, Qwen2ForCausalLM):
    config_class = LlavaQwenConfig

    def __init__(self, config):
        # Same body as Qwen2ForCausalLM.__init__, but with the multimodal inner model (building the
        # plain one first would cost a full copy of the LLM).
        Qwen2PreTrainedModel.__init__(self, config)
        config.architectures = ["LlavaQwenForCausalLM"]
        self.model = LlavaQwenModel(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()
        self.register_zero3_external_parameters()


register_model(LlavaQwenConfig, LlavaQwenForCausalLM)
