"""End to end with the package's own preprocessing (llava.mm_utils.process_images), as lmms-eval
drives it: PIL images -> process_images -> generate."""
import pytest
import torch

from llava.constants import IMAGE_TOKEN_INDEX
from llava.model.builder import load_pretrained_model

from model_helpers import random_pil

mm_utils = pytest.importorskip("llava.mm_utils")


@pytest.fixture(scope="module")
def loaded(tiny_checkpoint):
    return load_pretrained_model(str(tiny_checkpoint), None, None, device_map="cpu", torch_dtype="float32")


def _pixels_reference(processor, config, image):
    from transformers import LlavaOnevisionImageProcessorPil
    from transformers.models.llava_onevision.modeling_llava_onevision import image_size_to_num_patches

    pinpoints = [[h, w] for w, h in config.image_grid_pinpoints]
    size = processor.crop_size["height"]
    ref = LlavaOnevisionImageProcessorPil(size={"height": size, "width": size}, image_grid_pinpoints=pinpoints,
                                          image_mean=list(processor.image_mean), image_std=list(processor.image_std))
    out = ref([image], return_tensors="pt")
    return out["pixel_values"][0, :image_size_to_num_patches(out["image_sizes"][0].tolist(), pinpoints, size)]


def test_process_images_then_forward_matches_reference_pixels(loaded):
    tokenizer, model, processor, _ = loaded
    image = random_pil(150, 100, seed=11)
    tensor = mm_utils.process_images([image], processor, model.config)
    ids = torch.tensor([[5, 6, IMAGE_TOKEN_INDEX, 7]])
    with torch.no_grad():
        ours = model(input_ids=ids, images=tensor, image_sizes=[image.size]).logits
        ref = model(input_ids=ids, images=[_pixels_reference(processor, model.config, image)],
                    image_sizes=[image.size]).logits
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)


def test_lmms_eval_style_generate(loaded):
    tokenizer, model, processor, _ = loaded
    images = [random_pil(90, 160, seed=12)]
    tensor = mm_utils.process_images(images, processor, model.config).to(torch.float16)  # lmms-eval casts to fp16
    prompt = "<|im_start|>user\n<image>\nWhat is shown?<|im_end|>\n<|im_start|>assistant\n"
    ids = mm_utils.tokenizer_image_token(prompt, tokenizer, IMAGE_TOKEN_INDEX, return_tensors="pt")[None]
    attention = ids.ne(tokenizer.pad_token_id)
    out = model.generate(ids, attention_mask=attention, pad_token_id=tokenizer.pad_token_id, images=tensor,
                         image_sizes=[im.size for im in images], do_sample=False, max_new_tokens=5, use_cache=True)
    assert out.shape[0] == 1 and 1 <= out.shape[1] <= 5
    assert isinstance(tokenizer.batch_decode(out, skip_special_tokens=True)[0], str)


def test_multi_image_pad_mode(loaded):
    """lmms-eval's multi-image mode: image_aspect_ratio='pad' -> one crop + newline per image."""
    import copy

    tokenizer, model, processor, _ = loaded
    config = copy.deepcopy(model.config)
    config.image_aspect_ratio = "pad"
    images = [random_pil(90, 160, seed=13), random_pil(200, 100, seed=14)]
    tensor = mm_utils.process_images(images, processor, config)
    assert tensor.shape == (2, 3, 64, 64)
    ids = torch.tensor([[5, IMAGE_TOKEN_INDEX, 6, IMAGE_TOKEN_INDEX, 7]])
    with torch.no_grad():
        logits = model(input_ids=ids, images=tensor, image_sizes=[im.size for im in images]).logits
    assert logits.shape[1] == 3 + 2 * (16 + 1)
