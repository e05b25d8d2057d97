"""Run by test_zero3.py under torchrun (2 processes, gloo, CPU): build the model from parts under
ZeRO-3, then train steps where rank 0 sees an anyres image and rank 1 a text-only sample."""
import json
import os
import sys

import deepspeed
import faulthandler
faulthandler.dump_traceback_later(400, exit=True)
import torch

deepspeed.init_distributed("gloo")
from transformers.integrations import HfDeepSpeedConfig  # noqa: E402

from llava.constants import IMAGE_TOKEN_INDEX  # noqa: E402
from llava.model.from_parts import build_perception_model  # noqa: E402

llm_dir, tower_dir, out_path = sys.argv[1:4]
rank = torch.distributed.get_rank()
ds_config = {"train_micro_batch_size_per_gpu": 1, "gradient_accumulation_steps": 1,
             "zero_optimization": {"stage": 3, "stage3_param_persistence_threshold": 0}, "optimizer": {"type": "AdamW", "params": {"lr": 1e-3}},
             "bf16": {"enabled": False}}
keep = HfDeepSpeedConfig(ds_config)  # makes from_pretrained partition the model (zero.Init)
model, tokenizer = build_perception_model(llm_dir, tower_dir, image_aspect_ratio="anyres_max_4",
                                          image_grid_pinpoints="(1x1),...,(3x3)", torch_dtype="float32",
                                          attn_implementation="sdpa", seed=0)
with deepspeed.zero.GatheredParameters([model.get_model().mm_projector[0].weight]):
    projector_sum = float(model.get_model().mm_projector[0].weight.sum())
engine, *_ = deepspeed.initialize(model=model, model_parameters=[p for p in model.parameters() if p.requires_grad],
                                  config=ds_config)
engine.train()
losses = []
for step in range(2):
    if rank == 0:
        ids = torch.tensor([[5, IMAGE_TOKEN_INDEX, 6, 7, 8]])
        kwargs = dict(images=[torch.randn(7, 3, 64, 64, generator=torch.Generator().manual_seed(step))],
                      image_sizes=[(150, 100)])
    else:
        ids = torch.tensor([[9, 10, 11, 12, 13, 14]])
        kwargs = {}
    out = engine(input_ids=ids, labels=ids, **kwargs)
    engine.backward(out.loss)
    engine.step()
    losses.append(float(out.loss))
with open(f"{out_path}.{rank}", "w") as f:
    json.dump({"losses": losses, "projector_sum": projector_sum}, f)
torch.distributed.barrier()
torch.distributed.destroy_process_group()
os._exit(0)
