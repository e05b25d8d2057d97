"""Prompt texts must equal the paper's release character for character (literals copied by hand; the
data-generation prompts are quoted in docs/data_generation.md)."""
import pytest

from llava.prompts import PromptSet, load_prompt_overrides, parse_focus

STEP1 = ("Your task is to convert each question\u2013answer pair about an image into a concise, fully "
         "self-contained declarative statement. The resulting statements should be understandable on "
         "their own, without requiring the reader to refer to the original question.")
DESCRIBE = ("Describe the fine-grained content of the image, including scenes, objects, relationships, "
            "instance location, and any text present.")


def test_statement_prompt_single_and_multi():
    p = PromptSet()
    assert p.statement_prompt([("What is it?", "A cat")]) == (
        STEP1 + "\nQuestion #1: What is it?\nAnswer: A cat\nDeclarative Statement(s):")
    two = p.statement_prompt([("Q1?", "a1"), ("Q2?", "a2")])
    assert two == (STEP1 + "\nQuestion #1: Q1?\nAnswer: a1\nQuestion #2: Q2?\nAnswer: a2"
                   "\nAs there are 2 questions, you should respond with 2 statements. "
                   "Include each statement on its own line\nDeclarative Statement(s):")
    with pytest.raises(ValueError):
        p.statement_prompt([])


def test_description_and_extraction_prompts():
    p = PromptSet()
    assert p.description_prompt("The cat is black.") == (
        "Your task is to describe the fine-grained content of the image, including scenes, objects, "
        "relationships, instance location, and any text present.\nAs part of your description, you "
        "should incorporate the following information about the image.\nThe cat is black.\nDescription:")
    assert p.extraction_instruction("the colour of the cat") == (
        DESCRIBE + " Especially, pay attention to the colour of the cat.")
    assert p.extraction_instruction("the bars.") == DESCRIBE + " Especially, pay attention to the bars."


def test_focus_prompt_layout_and_parse():
    text = PromptSet().focus_prompt("How many dogs?")
    assert text.startswith("Your task is to give a concise instruction about what basic elements are "
                           "needed to be described based on the given question. Ensure that your "
                           "instructions do not cover the raw question, options or thought process of "
                           "answering the question.\nQuestion: In which period the number of full time "
                           "employees is the maximum?\nContents to observe: the number of full time employees\n")
    assert "Question: What is the value of the smallest bar?\nContents to observe: the heights of all bars and their values" in text
    assert text.endswith('Now, perform the task, and format your answer as "Contents to observe:" '
                         "Question: How many dogs?")
    assert parse_focus("Contents to observe: the dogs\nextra") == "the dogs"
    assert parse_focus("<think>x</think>Contents to observe:  the bars ") == "the bars"


REASONING_HEAD = ("You are an excellent text-based reasoning expert. You are required to answer the question "
                  "based on the detailed description of the image.\n\nDescription: ")


def test_reasoning_prompt_both_modes():
    p = PromptSet()
    head = REASONING_HEAD + "A red circle.\n"
    assert p.reasoning_prompt("A red circle.", "What colour?\nA. red\nB. blue", thinking=True) == (
        head + "Question: What colour?\nA. red\nB. blue"
        '\nPlease reason step by step, and give the final answer on the last line by itself in the '
        'format of "Answer:". Do not add anything other than the letter answer after "Answer:".')
    assert p.reasoning_prompt("A red circle.\n", "Hint: x\nQuestion: y", thinking=False) == (
        head + "Hint: x\nQuestion: y"
        '\nAnswer directly with the option\'s letter in the format of "Answer:". Do not add anything '
        'other than the letter answer after "Answer:".')


def test_reasoning_prompt_description_slot_in_the_suffix():
    p = PromptSet(reasoning_prefix="Read the question first.\n",
                  reasoning_suffix_thinking="\nDescription: {description}Think, then answer.")
    assert p.reasoning_prompt("A red circle.", "What colour?\nA. red", thinking=True) == (
        "Read the question first.\nQuestion: What colour?\nA. red\nDescription: A red circle.\nThink, then answer.")
    # Direct mode reads its own suffix: without the slot there, and none in the prefix, it is an error.
    with pytest.raises(ValueError, match="exactly one of reasoning_prefix and reasoning_suffix_direct.*neither"):
        p.reasoning_prompt("A red circle.", "What colour?", thinking=False)


def test_reasoning_prompt_slot_neither_or_both_is_an_error():
    neither = PromptSet(reasoning_prefix="Description:\n")
    with pytest.raises(ValueError, match="reasoning_prefix and reasoning_suffix_thinking, found in neither"):
        neither.reasoning_prompt("d", "q", thinking=True)
    both = PromptSet(reasoning_suffix_direct="\n{description}")
    assert "{description}" in both.reasoning_prefix
    with pytest.raises(ValueError, match=r"found in \['reasoning_prefix', 'reasoning_suffix_direct'\]"):
        both.reasoning_prompt("d", "q", thinking=False)
    # The thinking mode of the same set is still valid (its suffix has no slot).
    assert both.reasoning_prompt("d", "q", thinking=True).startswith(REASONING_HEAD)


def test_prompt_overrides(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("caption_prompt: Describe it.\n")
    p = load_prompt_overrides(f)
    assert p.caption_prompt == "Describe it." and p.version.endswith("custom")
    f.write_text("no_such_prompt: x\n")
    with pytest.raises(ValueError, match="no_such_prompt"):
        load_prompt_overrides(f)
    with pytest.raises(FileNotFoundError):
        load_prompt_overrides(tmp_path / "missing.yaml")
