"""LLaVA on Qwen3 (`model_type="llava_qwen_3"`, architecture `LlavaQwen3ForCausalLM`)."""
from __future__ import annotations

from torch import nn
from transformers import Qwen3ForCausalLM, Qwen3Model
from transformers.models.qwen3.modeling_qwen3 import Qwen3PreTrainedModel

from llava.model.language_models.configs import LlavaQwen3Config
from llava.model.language_models.registration import register_model
from llava.model.multimodal import LlavaMetaForCausalLM, LlavaMetaModel


class LlavaQwen3Model(LlavaMetaModel, Qwen3Model):
    config_class = LlavaQwen3Config


class LlavaQwen3ForCausalLM(LlavaMetaForCausalLM, Qwen3ForCausalLM):
    config_class = LlavaQwen3Config

    def __init__(self, config):
        # Same body as Qwen3ForCausalLM.__init__, but with the multimodal inner model (building the
        # plain one first would cost a full copy of the LLM).
        Qwen3PreTrainedModel.__init__(self, config)
        config.architectures = ["LlavaQwen3ForCausalLM"]
        self.model = LlavaQwen3Model(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()
        self.register_zero3_external_parameters()


register_model(LlavaQwen3Config, LlavaQwen3ForCausalLM)
