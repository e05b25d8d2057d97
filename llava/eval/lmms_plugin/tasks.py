"""Write an lmms-eval task folder with the authors' two Extract+Think tasks for one benchmark.

    llava-eval lmms-eval-tasks --output-dir TASKS [--data LOCAL_FILE_OR_HUB_ID] [--focus-file focus.json]

MMStar gives ``mmstar_prism_stage_1`` / ``mmstar_prism_stage_2`` (the authors' task names),
VMCBench ``vmcbench_prism_stage_1`` / ``vmcbench_prism_stage_2``. The folder holds the two YAMLs,
``prism_<benchmark>.json`` (focus per question, the project's prompts, the answer-line rule) and
``prism_<benchmark>.py`` (binds ``task_functions.PrismTasks`` to that JSON).
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from llava.eval.benchmarks import HUB_IDS, LOCAL_SUFFIXES
from llava.prompts import PromptSet

# Metric names of lmms-eval's own tasks (the keys their process_results return).
METRICS = {
    "mmstar": ["coarse perception", "fine-grained perception", "instance reasoning", "logical reasoning",
               "science & technology", "math", "average"],
    "vmcbench": ["general", "reason", "doc", "ocr", "average"],
}
MODULE = """\"\"\"lmms-eval functions of this task folder (written by `llava-eval lmms-eval-tasks`).\"\"\"
from pathlib import Path

from llava.eval.lmms_plugin.task_functions import PrismTasks

_tasks = PrismTasks.load(Path(__file__).with_name("{settings}"))
stage_1_doc_to_visual = _tasks.stage_1_doc_to_visual
stage_1_doc_to_text = _tasks.stage_1_doc_to_text
stage_2_doc_to_text = _tasks.stage_2_doc_to_text
stage_2_process_results = _tasks.stage_2_process_results
aggregate_results = _tasks.aggregate_results
"""


def dataset_lines(benchmark: str, data: str | None, split: str | None) -> tuple[list[str], str]:
    """YAML lines naming the dataset, and the split the tasks read."""
    hub_id, default_split = HUB_IDS[benchmark]
    split = split or default_split
    q = json.dumps
    if data is None or ("/" in data and not data.startswith((".", "/", "~")) and not Path(data).exists()):
        return [f"dataset_path: {q(data or hub_id)}", "dataset_kwargs:", "  token: True"], split
    path = Path(data).expanduser().resolve()
    if path.is_dir() and (path / "dataset_dict.json").is_file():
        return [f"dataset_path: {q(str(path))}", "dataset_kwargs:", "  load_from_disk: True"], split
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in LOCAL_SUFFIXES)
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"benchmark data {data} does not exist (give a hub id, a parquet/arrow/json "
                                "file, or a folder of them)")
    if not files:
        raise FileNotFoundError(f"{path} holds no parquet/arrow/json files")
    kinds = {LOCAL_SUFFIXES.get(p.suffix) for p in files}
    if len(kinds) != 1 or None in kinds:
        raise ValueError(f"{path}: mixed or unsupported file types {sorted(p.suffix for p in files)}; "
                         "use one of parquet, arrow, json, jsonl, csv")
    lines = [f"dataset_path: {kinds.pop()}", "dataset_kwargs:", "  data_files:", f"    {q(split)}:"]
    lines += [f"      - {q(str(p))}" for p in files]
    return lines, split


def task_yaml(benchmark: str, stage: int, dataset: list[str], split: str, module: str) -> str:
    name = f"{benchmark}_prism_stage_{stage}"
    lines = [f"# Extract+Think stage {stage} on {benchmark}, written by `llava-eval lmms-eval-tasks`",
             "# (docs/evaluation.md). Rewrite the folder rather than editing this file.",
             *dataset, f"task: {json.dumps(name)}", f"test_split: {json.dumps(split)}",
             "output_type: generate_until", 'doc_to_target: "answer"',
             "# lmms-eval 0.7 strips <think>...</think> and whitespace before scoring by default; the",
             "# authors' parse reads the raw output's last line, so that is switched off here.",
             'reasoning_tags: "none"']
    if stage == 1:
        lines += [f"doc_to_visual: !function {module}.stage_1_doc_to_visual",
                  f"doc_to_text: !function {module}.stage_1_doc_to_text"]
    else:
        lines += [f"doc_to_text: !function {module}.stage_2_doc_to_text",
                  f"process_results: !function {module}.stage_2_process_results", "metric_list:"]
        for metric in METRICS[benchmark]:
            lines += [f"  - metric: {json.dumps(metric)}", f"    aggregation: !function {module}.aggregate_results",
                      "    higher_is_better: true"]
    return "\n".join(lines) + "\n"


def write_task_folder(output_dir: str | Path, benchmark: str, focus: dict[str, str], prompts: PromptSet,
                      data: str | None = None, split: str | None = None, answer_line: str = "raw") -> list[Path]:
    """Write the folder; returns the two YAML paths."""
    if benchmark not in METRICS:
        raise ValueError(f"lmms-eval tasks exist for {sorted(METRICS)}, not {benchmark!r}")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    dataset, split = dataset_lines(benchmark, data, split)
    module = f"prism_{benchmark}"
    settings = {"benchmark": benchmark, "answer_line": answer_line, "prompts": asdict(prompts), "focus": focus}
    (out / f"{module}.json").write_text(json.dumps(settings, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / f"{module}.py").write_text(MODULE.format(settings=f"{module}.json"), encoding="utf-8")
    paths = []
    for stage in (1, 2):
        path = out / f"{benchmark}_prism_stage_{stage}.yaml"
        path.write_text(task_yaml(benchmark, stage, dataset, split, module), encoding="utf-8")
        paths.append(path)
    return paths
