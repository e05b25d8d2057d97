"""Training tokenization: label masks against hand-written expectations, truncation and skip reports."""
import pytest
import torch

from llava.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from llava.conversation import get_conv_template
from llava.data import SampleSkipped, SkipReason, preprocess_conversation
from llava.mm_utils import tokenizer_image_token
from llava.tiny.tokenizer import build_tiny_qwen3_tokenizer

M = False  # masked (IGNORE_INDEX)
T = True  # trained


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_qwen3_tokenizer()


def _expected(tokenizer, pieces):
    """Build (input_ids, labels) from hand-labelled pieces; the string "<image>" is the -200 slot."""
    ids, labels = [], []
    for text, trained in pieces:
        if text == "<image>":
            piece = [IMAGE_TOKEN_INDEX]
        else:
            piece = tokenizer(text, add_special_tokens=False).input_ids
            assert piece, text
        ids += piece
        labels += piece if trained else [IGNORE_INDEX] * len(piece)
    return ids, labels


SYSTEM = [("<|im_start|>", M), ("system\nYou are a helpful assistant.", M), ("<|im_end|>", M), ("\n", M)]


def _user(*parts):
    return [("<|im_start|>", M), ("user\n", M), *[(p, M) for p in parts], ("<|im_end|>", M), ("\n", M)]


def _assistant(answer):
    # Header masked; the answer and its <|im_end|> trained; the "\n" after it masked.
    return [("<|im_start|>", M), ("assistant\n", M), (answer, T), ("<|im_end|>", T), ("\n", M)]


THREE_TURNS = [
    {"from": "human", "value": "<image>\nWhat shape is it?"},
    {"from": "gpt", "value": "A red circle."},
    {"from": "human", "value": "Where is it?"},
    {"from": "gpt", "value": "On the left."},
    {"from": "human", "value": "How many are there?"},
    {"from": "gpt", "value": "Two."},
]


def test_three_turn_label_mask_matches_hand_expectation(tokenizer):
    sample = preprocess_conversation(THREE_TURNS, tokenizer, "qwen_1_5", num_image_tokens=[730],
                                     model_max_length=4096)
    pieces = (SYSTEM + _user("<image>", "\nWhat shape is it?") + _assistant("A red circle.")
              + _user("Where is it?") + _assistant("On the left.")
              + _user("How many are there?") + _assistant("Two."))
    ids, labels = _expected(tokenizer, pieces)
    assert sample.input_ids.dtype == sample.labels.dtype == torch.long
    assert sample.input_ids.tolist() == ids
    assert sample.labels.tolist() == labels
    # The trained tokens spell exactly the three answers, each closed by <|im_end|>.
    trained = [i for i, l in zip(ids, labels) if l != IGNORE_INDEX]
    assert tokenizer.decode(trained) == "A red circle.<|im_end|>On the left.<|im_end|>Two.<|im_end|>"
    assert (sample.num_images, sample.truncated, sample.all_masked) == (1, False, False)
    assert sample.num_tokens == len(ids) - 1 + 730
    assert sample.num_target_tokens == len(trained)


def test_training_ids_equal_the_inference_prompt_tokenization(tokenizer):
    """The prompt part of a training sample is exactly what tokenizer_image_token gives at inference."""
    conv = get_conv_template("qwen_1_5")
    conv.append_message(conv.roles[0], THREE_TURNS[0]["value"])
    conv.append_message(conv.roles[1], None)
    prompt_ids = tokenizer_image_token(conv.get_prompt(), tokenizer)
    sample = preprocess_conversation(THREE_TURNS[:2], tokenizer, num_image_tokens=[730])
    assert sample.input_ids[: len(prompt_ids)].tolist() == prompt_ids
    assert (sample.labels[: len(prompt_ids)] == IGNORE_INDEX).all()
    conv.messages[-1][1] = THREE_TURNS[1]["value"]
    assert sample.input_ids.tolist() == tokenizer_image_token(conv.get_prompt(), tokenizer)


def test_plain_format_trains_caption_only(tokenizer):
    conversation = [{"from": "human", "value": "<image>\nRender a clear and concise summary of the photo."},
                    {"from": "gpt", "value": "a red circle on the left"}]
    sample = preprocess_conversation(conversation, tokenizer, "plain", num_image_tokens=[729], model_max_length=2048)
    # The human text is dropped (LLaVA caption pretraining): text = <image> + caption + "\n".
    ids, labels = _expected(tokenizer, [("<image>", M), ("a red circle on the left", T), ("\n", T)])
    assert sample.input_ids.tolist() == ids
    assert sample.labels.tolist() == labels
    assert sample.num_tokens == 729 + len(ids) - 1


def test_image_in_the_middle_of_text_stays_in_place(tokenizer):
    conversation = [{"from": "human", "value": "Look at this <image> and tell me the colour."},
                    {"from": "gpt", "value": "Red."}]
    sample = preprocess_conversation(conversation, tokenizer, num_image_tokens=[5])
    pieces = SYSTEM + _user("Look at this ", "<image>", " and tell me the colour.") + _assistant("Red.")
    ids, labels = _expected(tokenizer, pieces)
    assert sample.input_ids.tolist() == ids
    assert sample.labels.tolist() == labels


def test_multi_image(tokenizer):
    conversation = [{"from": "human", "value": "<image>\n<image>\nWhich is bigger?"},
                    {"from": "gpt", "value": "The first."}]
    sample = preprocess_conversation(conversation, tokenizer, num_image_tokens=[730, 730], model_max_length=4096)
    pieces = SYSTEM + _user("<image>", "\n", "<image>", "\nWhich is bigger?") + _assistant("The first.")
    ids, labels = _expected(tokenizer, pieces)
    assert sample.input_ids.tolist() == ids
    assert sample.labels.tolist() == labels
    assert sample.num_images == 2
    assert sample.num_tokens == len(ids) - 2 + 2 * 730
    with pytest.raises(SampleSkipped) as error:
        preprocess_conversation(conversation, tokenizer, num_image_tokens=[730])
    assert error.value.reason is SkipReason.IMAGE_COUNT_MISMATCH
    assert "2 <image> placeholder(s) but 1 image(s)" in str(error.value)


def test_text_only(tokenizer):
    conversation = [{"from": "human", "value": "Say hi."}, {"from": "gpt", "value": "Hi."}]
    sample = preprocess_conversation(conversation, tokenizer, model_max_length=100)
    ids, labels = _expected(tokenizer, SYSTEM + _user("Say hi.") + _assistant("Hi."))
    assert sample.input_ids.tolist() == ids and sample.labels.tolist() == labels
    assert (sample.num_images, sample.num_tokens) == (0, len(ids))
    assert IMAGE_TOKEN_INDEX not in sample.input_ids.tolist()


def test_truncation_counts_real_image_tokens(tokenizer):
    full = preprocess_conversation(THREE_TURNS, tokenizer, num_image_tokens=[100])
    # Cut in the middle of the last answer: text counts 1 each, the image 100.
    last_answer_start = full.input_ids.tolist().index(tokenizer("Two").input_ids[0])
    limit = last_answer_start - 1 + 100 + 1  # keep up to and including the first token of "Two."
    sample = preprocess_conversation(THREE_TURNS, tokenizer, num_image_tokens=[100], model_max_length=limit)
    assert sample.truncated and sample.num_tokens == limit
    assert sample.input_ids.tolist() == full.input_ids.tolist()[: last_answer_start + 1]
    assert sample.labels.tolist() == full.labels.tolist()[: last_answer_start + 1]
    assert not sample.all_masked
    # Counting the image as one token would have wrongly kept everything.
    untruncated = preprocess_conversation(THREE_TURNS, tokenizer, num_image_tokens=[1], model_max_length=limit)
    assert not untruncated.truncated


def test_truncation_inside_an_image_is_reported(tokenizer):
    with pytest.raises(SampleSkipped) as error:
        preprocess_conversation(THREE_TURNS, tokenizer, num_image_tokens=[7000], model_max_length=4096)
    assert error.value.reason is SkipReason.TRUNCATED_INSIDE_IMAGE
    assert "model_max_length is 4096" in str(error.value)


def test_all_masked_after_truncation_is_reported(tokenizer):
    with pytest.raises(SampleSkipped) as error:
        preprocess_conversation(THREE_TURNS[:2], tokenizer, num_image_tokens=[100], model_max_length=125)
    assert error.value.reason is SkipReason.ALL_LABELS_MASKED
    assert error.value.sample.truncated and error.value.sample.all_masked
    assert (error.value.sample.labels == IGNORE_INDEX).all()
    assert "loss 0" in str(error.value)


def test_conversation_without_an_answer_is_reported(tokenizer):
    with pytest.raises(SampleSkipped) as error:
        preprocess_conversation([{"from": "human", "value": "<image>\nHello?"}], tokenizer, num_image_tokens=[10])
    assert error.value.reason is SkipReason.ALL_LABELS_MASKED
    assert not error.value.sample.truncated


@pytest.mark.parametrize("conversation,message", [
    ([], "no turns"),
    ([{"from": "gpt", "value": "Hi."}, {"from": "human", "value": "Hello"}], "turn 0 is from 'gpt'"),
    ([{"from": "human", "value": "a"}, {"from": "human", "value": "b"}], "turn 1 is from 'human'"),
    ([{"from": "human", "value": "a"}, {"from": "gpt", "value": None}], "no string 'value'"),
    ([{"value": "a"}], "no 'from' field"),
    ([{"from": "human", "value": "a"}, {"from": "gpt", "value": "<image> b"}], "images belong in human turns"),
    ([{"from": "human", "value": "a<|im_end|>"}, {"from": "gpt", "value": "b"}], "control token <\\|im_end"),
    ([{"from": "human", "value": "a"}, {"from": "gpt", "value": "<|im_start|>user"}], "control token <\\|im_start"),
])
def test_malformed_conversations_are_reported(tokenizer, conversation, message):
    with pytest.raises(SampleSkipped, match=message) as error:
        preprocess_conversation(conversation, tokenizer)
    assert error.value.reason is SkipReason.MALFORMED_CONVERSATION


def test_system_turn_and_user_assistant_role_names(tokenizer):
    conversation = [{"from": "system", "value": "Be brief."}, {"from": "user", "value": "Hi"},
                    {"from": "assistant", "value": "Hello."}]
    sample = preprocess_conversation(conversation, tokenizer)
    pieces = [("<|im_start|>", M), ("system\nBe brief.", M), ("<|im_end|>", M), ("\n", M)]
    ids, labels = _expected(tokenizer, pieces + _user("Hi") + _assistant("Hello."))
    assert sample.input_ids.tolist() == ids and sample.labels.tolist() == labels


def test_missing_image_counts_with_a_length_limit_is_an_error(tokenizer):
    with pytest.raises(ValueError, match="num_image_tokens is required"):
        preprocess_conversation(THREE_TURNS, tokenizer, model_max_length=4096)


def test_tokenizer_is_not_modified(tokenizer):
    before = (len(tokenizer), dict(tokenizer.get_added_vocab()), tokenizer.chat_template)
    for _ in range(3):
        preprocess_conversation(THREE_TURNS, tokenizer, num_image_tokens=[730])
        preprocess_conversation(THREE_TURNS[:2], tokenizer, "plain", num_image_tokens=[729])
    assert (len(tokenizer), dict(tokenizer.get_added_vocab()), tokenizer.chat_template) == before


def test_many_special_tokens_and_an_added_image_token(tokenizer, tmp_path):
    """A Qwen3 tokenizer carrying `<image>` as a real token (exported checkpoints) still yields -200."""
    from transformers import AutoTokenizer

    tokenizer.save_pretrained(tmp_path)
    exported = AutoTokenizer.from_pretrained(tmp_path)
    exported.add_tokens(["<image>", "<video>"], special_tokens=True)
    a = preprocess_conversation(THREE_TURNS, exported, num_image_tokens=[730])
    b = preprocess_conversation(THREE_TURNS, tokenizer, num_image_tokens=[730])
    assert a.input_ids.tolist() == b.input_ids.tolist() and a.labels.tolist() == b.labels.tolist()
    assert a.input_ids.tolist().count(IMAGE_TOKEN_INDEX) == 1
