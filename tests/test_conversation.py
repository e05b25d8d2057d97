"""Chat templates, prompt tokenization and stopping as lmms-eval's llava_onevision wrapper uses them."""
import pytest
import torch
from transformers import StoppingCriteriaList

from llava.constants import IMAGE_TOKEN_INDEX
from llava.conversation import SeparatorStyle, conv_templates, default_conversation, get_conv_template
from llava.mm_utils import KeywordsStoppingCriteria, get_model_name_from_path, tokenizer_image_token
from llava.tiny.tokenizer import build_tiny_qwen3_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_qwen3_tokenizer()


def _lmms_eval_prompt(question: str) -> tuple:
    conv = conv_templates["qwen_1_5"].copy()
    conv.append_message(conv.roles[0], question)
    conv.append_message(conv.roles[1], None)
    return conv, conv.get_prompt()


def test_qwen_1_5_prompt_is_reference_chatml():
    conv, prompt = _lmms_eval_prompt("<image>\nWhat is shown?")
    assert prompt == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                      "<|im_start|>user\n<image>\nWhat is shown?<|im_end|>\n<|im_start|>assistant\n")
    # lmms-eval's loglikelihood path writes the continuation into the last message.
    conv.messages[-1][1] = "A cat."
    assert conv.get_prompt() == prompt + "A cat.<|im_end|>\n"
    # The stop string lmms-eval derives for non-TWO styles.
    assert conv.sep_style == SeparatorStyle.CHATML and conv.sep_style != SeparatorStyle.TWO
    assert conv.sep == "<|im_end|>"


def test_copy_leaves_the_template_untouched():
    _lmms_eval_prompt("first")
    _lmms_eval_prompt("second")
    assert conv_templates["qwen_1_5"].messages == []
    assert default_conversation is conv_templates["qwen_1_5"]
    assert conv_templates["qwen_2"].get_prompt() == conv_templates["qwen_1_5"].get_prompt()


def test_chatml_equals_the_tokenizer_chat_template(tokenizer):
    """Independent rendering: the Qwen3-style chat template of the tokenizer itself."""
    conv = get_conv_template("qwen_1_5")
    turns = [("Q1?", "A1."), ("Q2?", "A2."), ("Q3?", None)]
    messages = [{"role": "system", "content": "You are a helpful assistant."}]
    for question, answer in turns:
        conv.append_message(conv.roles[0], question)
        conv.append_message(conv.roles[1], answer)
        messages.append({"role": "user", "content": question})
        if answer is not None:
            messages.append({"role": "assistant", "content": answer})
    expected = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert conv.get_prompt() == expected


def test_plain_template_renders_caption_format():
    conv = get_conv_template("plain")
    conv.append_message(conv.roles[0], "<image>")
    conv.append_message(conv.roles[1], "a red circle")
    assert conv.get_prompt() == "<image>a red circle\n"
    assert conv.sep == "\n"


def test_templates_are_looked_up_by_exact_key():
    assert {"qwen_1_5", "plain"} <= set(conv_templates)
    for wrong in ("Qwen_1_5", "qwen_1_5 ", "qwen"):
        with pytest.raises(KeyError, match="available"):
            get_conv_template(wrong)


def test_separator_style_has_llava_next_members():
    for name in ("SINGLE", "TWO", "MPT", "PLAIN", "CHATML", "LLAMA_2", "LLAMA_3", "QWEN", "GEMMA"):
        assert hasattr(SeparatorStyle, name)
    conv = get_conv_template("qwen_1_5")
    conv.sep_style = SeparatorStyle.LLAMA_2
    with pytest.raises(NotImplementedError, match="LLAMA_2"):
        conv.get_prompt()


def test_tokenizer_image_token_splits_images_out(tokenizer):
    _, prompt = _lmms_eval_prompt("<image>\nWhat is shown?")
    ids = tokenizer_image_token(prompt, tokenizer, IMAGE_TOKEN_INDEX, return_tensors="pt")
    assert ids.dtype == torch.long and ids.dim() == 1
    before, after = prompt.split("<image>")
    expected = tokenizer(before).input_ids + [IMAGE_TOKEN_INDEX] + tokenizer(after).input_ids
    assert ids.tolist() == expected
    assert tokenizer_image_token("<image> and <image>", tokenizer) == (
        [IMAGE_TOKEN_INDEX] + tokenizer(" and ").input_ids + [IMAGE_TOKEN_INDEX])
    with pytest.raises(ValueError, match="return_tensors"):
        tokenizer_image_token("x", tokenizer, return_tensors="np")


def test_tokenizer_image_token_ignores_an_added_image_token(tokenizer, tmp_path):
    """Exported (transformers-native) tokenizers carry a real `<image>` token; -200 must still appear."""
    tokenizer.save_pretrained(tmp_path)
    from transformers import AutoTokenizer

    with_image = AutoTokenizer.from_pretrained(tmp_path)
    with_image.add_tokens(["<image>"], special_tokens=True)
    assert tokenizer_image_token("hi <image>", with_image) == tokenizer("hi ").input_ids + [IMAGE_TOKEN_INDEX]


def _ids(tokenizer, text):
    return tokenizer(text, add_special_tokens=False).input_ids


def test_keywords_stopping_is_per_sequence(tokenizer):
    prompt = torch.tensor([[5, 6, 7]] * 3)
    criteria = KeywordsStoppingCriteria(["<|im_end|>", "###"], tokenizer, prompt)
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    generated = [
        _ids(tokenizer, "Left.") + [im_end],  # special-token keyword
        _ids(tokenizer, "Left. ###"),  # multi-token text keyword
        _ids(tokenizer, "Left. It"),  # not finished
    ]
    width = max(len(g) for g in generated)
    filler = _ids(tokenizer, " the")
    # Every row has generated the same number of tokens, as in batched generate.
    batch = torch.tensor([[5, 6, 7] + filler * (width - len(g)) + g for g in generated])
    assert criteria(batch, None).tolist() == [True, True, False]
    assert StoppingCriteriaList([criteria])(batch, None).tolist() == [True, True, False]
    # Nothing generated yet: nothing stops, even if the prompt ends with a keyword.
    assert criteria(torch.tensor([[5, 6, im_end]] * 3), None).tolist() == [False] * 3


def test_get_model_name_from_path():
    assert get_model_name_from_path("/ckpts/my-run/") == "my-run"
    assert get_model_name_from_path("/ckpts/my-run/checkpoint-500") == "my-run_checkpoint-500"
    assert get_model_name_from_path("markendo/llava-extract-qwen3-1.7B") == "llava-extract-qwen3-1.7B"


def test_bos_tokenizers_get_one_bos_at_the_start():
    """Llama-style tokenizers add a BOS to every call; it must appear once, not once per text chunk."""
    from tokenizers.processors import TemplateProcessing

    from llava.data import preprocess_conversation

    bos_tokenizer = build_tiny_qwen3_tokenizer()
    bos = bos_tokenizer.convert_tokens_to_ids("<|endoftext|>")
    bos_tokenizer._tokenizer.post_processor = TemplateProcessing(
        single="<|endoftext|> $A", pair="<|endoftext|> $A $B", special_tokens=[("<|endoftext|>", bos)])
    assert bos_tokenizer("a").input_ids[0] == bos
    ids = tokenizer_image_token("<image>\nhi <image> x", bos_tokenizer)
    assert ids == ([bos, IMAGE_TOKEN_INDEX] + _ids(bos_tokenizer, "\nhi ") + [IMAGE_TOKEN_INDEX]
                   + _ids(bos_tokenizer, " x"))
    sample = preprocess_conversation([{"from": "human", "value": "<image>\nhi"}, {"from": "gpt", "value": "yo"}],
                                     bos_tokenizer, num_image_tokens=[3])
    assert sample.input_ids.tolist().count(bos) == 1 and sample.input_ids[0] == bos
    assert sample.labels[0] == -100
