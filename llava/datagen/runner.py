"""Run the generation steps for one shard: resumable, batched, failures isolated per item."""
from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from llava.datagen import steps as S
from llava.datagen.images import DEFAULT_IMAGE_SIZE, load_teacher_image
from llava.datagen.sharding import shard_indices
from llava.datagen.sources import DatasetSpec, InputReport, Item, items_fingerprint
from llava.datagen.store import FORMAT, ShardStore, StoreError, parse_shard_dir, write_json_atomic
from llava.datagen.teachers import Teacher, TeacherOptions, build_teacher, teacher_class
from llava.prompts import PromptSet

logger = logging.getLogger(__name__)

# A whole batch failing this many times in a row means the setup is broken (wrong model, no
# memory), not the items: stop instead of turning the shard into error records.
MAX_FAILED_BATCHES_IN_A_ROW = 3
# Items whose prompts are sorted by length together (less padding), as a multiple of the batch.
CHUNK_BATCHES = 8
MAX_CHUNK_ITEMS = 1024  # bounds the decoded images held in memory


class GenerationAborted(RuntimeError):
    pass


@dataclass(frozen=True)
class TeacherSpec:
    backend: str
    options: TeacherOptions

    def identity(self) -> dict:
        return {"backend": self.backend, **self.options.identity()}

    def default_batch_size(self) -> int:
        return teacher_class(self.backend).default_batch_size


@dataclass
class RunConfig:
    steps: tuple[str, ...] = S.STEPS
    batch_size: int | None = None  # None: the backend's default
    max_new_tokens: dict = field(default_factory=lambda: dict(S.DEFAULT_MAX_NEW_TOKENS))
    image_size: int = DEFAULT_IMAGE_SIZE
    force_new: bool = False
    retry_errors: bool = False
    progress: bool = True


@dataclass
class StepSummary:
    step: str
    total: int
    done_before: int = 0
    written: int = 0
    errors: int = 0
    waiting: int = 0
    seconds: float = 0.0
    error_examples: list = field(default_factory=list)

    def line(self) -> str:
        rate = f" in {self.seconds:.1f} s ({self.written / self.seconds:.2f} items/s)" if self.seconds else ""
        text = (f"{self.step}: {self.done_before + self.written}/{self.total} done ({self.written} new{rate}), "
                f"{self.errors} error records")
        if self.waiting:
            text += f", {self.waiting} waiting for statements (run --steps statements first)"
        return text


class _TeacherPool:
    """At most one model in memory; loaded on first use, so a finished shard loads nothing."""

    def __init__(self):
        self.spec, self.teacher = None, None

    def get(self, spec: TeacherSpec) -> Teacher:
        if spec != self.spec:
            self.close()
            logger.info("loading teacher %s", spec.identity())
            self.teacher, self.spec = build_teacher(spec.backend, spec.options), spec
        return self.teacher

    def close(self) -> None:
        if self.teacher is not None:
            self.teacher.close()
        self.spec, self.teacher = None, None


def step_settings(step: str, spec: TeacherSpec, prompts: PromptSet, config: RunConfig, inputs_key: str,
                  num_shards: int, upstream_keys: dict[str, str]) -> dict:
    settings = {
        "step": step, "prompt": S.probe_prompts(step, prompts), "teacher": spec.identity(),
        "max_new_tokens": config.max_new_tokens[step], "inputs": inputs_key, "num_shards": num_shards,
        "upstream": upstream_keys,
    }
    if S.USES_IMAGE[step]:
        settings["image_size"] = config.image_size
    return settings


def settings_key(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def _record(item: Item, **fields) -> dict:
    return {"index": item.index, "id": item.key, "dataset": item.dataset, "image": item.image,
            "sample_ids": item.sample_ids, **fields}


def _generate(teacher: Teacher, step: str, batch: list[S.Request], images: dict, max_new_tokens: int) -> list:
    """One answer (str) or exception per request; a failing batch is retried item by item."""

    def call(requests):
        prompts, contexts = [r.prompt for r in requests], [r.context for r in requests]
        if S.USES_IMAGE[step]:
            out = teacher.generate_with_images(prompts, [images[r.index] for r in requests], max_new_tokens, contexts)
        else:
            out = teacher.generate_text(prompts, max_new_tokens, contexts)
        if len(out) != len(requests):
            raise RuntimeError(f"the teacher returned {len(out)} answers for {len(requests)} prompts")
        return out

    try:
        return call(batch)
    except Exception as exc:  # noqa: BLE001 - any teacher failure becomes per-item results
        if len(batch) == 1:
            return [exc]
        logger.warning("batch of %d failed (%s: %s); retrying one by one", len(batch), type(exc).__name__, exc)
    results = []
    for request in batch:
        try:
            results.append(call([request])[0])
        except Exception as exc:  # noqa: BLE001
            results.append(exc)
    return results


def _load_images(executor, chunk: list[Item], folders: dict[str, object], size: int):
    return {item.index: executor.submit(load_teacher_image, folders[item.dataset], item.image, size)
            for item in chunk}


def _partition(shard_items: list[Item], done: dict, upstream: dict[str, dict]) -> tuple[list, list, int]:
    """Items to generate, error records for items whose upstream step failed, and the number of
    items still waiting for an upstream step."""
    ready, upstream_failed, waiting = [], [], 0
    for item in shard_items:
        if item.index in done:
            continue
        upstream_records = {n: records.get(item.index) for n, records in upstream.items()}
        failed = [n for n, r in upstream_records.items() if r is not None and "error" in r]
        if any(r is None for r in upstream_records.values()):
            waiting += 1
        elif failed:
            upstream_failed.append(_record(item, error=f"{failed[0]} step failed: {upstream_records[failed[0]]['error']}"))
        else:
            ready.append(item)
    return ready, upstream_failed, waiting


def _item_record(step: str, item: Item, outputs: dict[int, object]) -> dict:
    """The record of an item whose prompts are all answered (str) or failed (exception)."""
    errors = [o for o in outputs.values() if isinstance(o, Exception)]
    if errors:
        return _record(item, error=f"generation failed: {type(errors[0]).__name__}: {errors[0]}")
    try:
        return _record(item, **S.finish(step, item, [outputs[k] for k in sorted(outputs)]))
    except S.StepError as exc:
        return _record(item, error=str(exc))


def _resume_state(step: str, store: ShardStore, config: RunConfig, summary: StepSummary):
    """(records done before, upstream records by step) of this shard, after the retry/repair rules."""
    if config.retry_errors:
        dropped = store.drop_errors(step)
        if dropped:
            logger.info("%s: retrying %d items that failed before", step, dropped)
    done, partial = store.load(step)
    if partial:
        logger.warning("%s: dropped a half-written last line of %s (that item is generated again)",
                       step, store.path(step))
    summary.done_before = len(done)
    summary.errors = sum("error" in r for r in done.values())
    return done, {need: store.load(need)[0] for need in S.NEEDS[step]}


def _decoded_images(chunk: list[Item], futures: dict) -> tuple[dict, list[dict]]:
    """(index -> teacher image, error records of the items whose image could not be read)."""
    images, errors = {}, []
    for item in chunk:
        try:
            images[item.index] = futures[item.index].result()
        except Exception as exc:  # noqa: BLE001 - unreadable image -> error record
            errors.append(_record(item, error=str(exc)))
    return images, errors


def _answered_batches(teacher: Teacher, step: str, requests: list[S.Request], by_index: dict[int, Item],
                      images: dict, batch_size: int, max_new_tokens: int):
    """Generate `requests` batch by batch; yields (the teacher's results, records of the items whose
    last request that batch answered)."""
    parts_left: dict[int, int] = {}
    for r in requests:
        parts_left[r.index] = parts_left.get(r.index, 0) + 1
    answers: dict[int, dict[int, object]] = {i: {} for i in parts_left}
    for start in range(0, len(requests), batch_size):
        batch = requests[start:start + batch_size]
        results = _generate(teacher, step, batch, images, max_new_tokens)
        records = []
        for request, result in zip(batch, results):
            answers[request.index][request.part] = result
            parts_left[request.index] -= 1
            if not parts_left[request.index]:
                records.append(_item_record(step, by_index[request.index], answers.pop(request.index)))
        yield results, records


def run_step(step: str, store: ShardStore, shard_items: list[Item], spec: TeacherSpec, pool: _TeacherPool,
             prompts: PromptSet, folders: dict[str, object], config: RunConfig) -> StepSummary:
    summary = StepSummary(step, len(shard_items))
    started = time.perf_counter()
    done, upstream = _resume_state(step, store, config, summary)
    ready, upstream_failed, summary.waiting = _partition(shard_items, done, upstream)

    batch_size = config.batch_size or spec.default_batch_size()
    chunk_size = max(batch_size, min(batch_size * CHUNK_BATCHES, MAX_CHUNK_ITEMS))
    chunks = [ready[i:i + chunk_size] for i in range(0, len(ready), chunk_size)]
    # In a batch log (Slurm) a line a minute with rate and ETA; on a terminal, live.
    bar = tqdm(total=len(shard_items), initial=len(done), unit="item", dynamic_ncols=True, disable=not config.progress,
               mininterval=0.1 if sys.stderr.isatty() else 60, desc=f"{step} [shard {store.shard_id}/{store.num_shards}]")

    def write(records):
        store.append(step, records)
        summary.written += len(records)
        for r in records:
            if "error" in r:
                summary.errors += 1
                if len(summary.error_examples) < 5:
                    summary.error_examples.append(f"{r['id']}: {r['error']}")
        bar.update(len(records))
        bar.set_postfix(errors=summary.errors, refresh=False)

    write(upstream_failed)
    if ready and S.USES_IMAGE[step] and not pool.get(spec).supports_images:
        raise ValueError(f"the {step} step needs an image-text teacher; {spec.options.model} is text-only")
    held_errors, failed_batches = [], 0
    executor = ThreadPoolExecutor(max_workers=8) if S.USES_IMAGE[step] and chunks else None
    pending_images = _load_images(executor, chunks[0], folders, config.image_size) if executor else {}
    try:
        for chunk_no, chunk in enumerate(chunks):
            images = {}
            if executor:
                futures = pending_images
                if chunk_no + 1 < len(chunks):  # decode the next chunk while the teacher works on this one
                    pending_images = _load_images(executor, chunks[chunk_no + 1], folders, config.image_size)
                images, unreadable = _decoded_images(chunk, futures)
                write(unreadable)
            by_index = {item.index: item for item in chunk if not executor or item.index in images}
            requests = [r for item in by_index.values()
                        for r in S.requests_for(step, item, prompts, {n: upstream[n][item.index] for n in upstream})]
            requests.sort(key=lambda r: len(r.prompt), reverse=True)  # longest first: memory limits show up early
            for results, records in _answered_batches(pool.get(spec), step, requests, by_index, images, batch_size,
                                                      config.max_new_tokens[step]):
                if all(isinstance(r, Exception) for r in results):
                    failed_batches += 1
                    held_errors.extend(records)
                    if failed_batches >= MAX_FAILED_BATCHES_IN_A_ROW:
                        raise GenerationAborted(
                            f"{step}: {failed_batches} batches in a row failed completely; last error: "
                            f"{type(results[-1]).__name__}: {results[-1]}") from results[-1]
                else:
                    failed_batches = 0
                    write(held_errors + records)
                    held_errors = []
        write(held_errors)
    finally:
        bar.close()
        if executor:
            executor.shutdown(cancel_futures=True)
    summary.seconds = time.perf_counter() - started
    return summary


def _check_manifest(store: ShardStore, manifest: dict, step: str, settings: dict, key: str, force_new: bool) -> None:
    old = manifest.get("steps", {}).get(step)
    if old is None or old["key"] == key or not store.path(step).exists():
        return
    changed = sorted(k for k in set(old["settings"]) | set(settings) if old["settings"].get(k) != settings.get(k))
    if not force_new:
        raise StoreError(
            f"{store.path(step)} was generated with different settings (changed: {', '.join(changed)}). Mixing them "
            f"would make an inconsistent data set: restore the old settings, use a new --output-dir, or pass "
            f"--force-new to move the old records to {store.dir / 'stale'} and start this step again")
    moved = store.archive(step, old["key"])
    logger.warning("%s: settings changed (%s); old records moved to %s", step, ", ".join(changed), moved)


def run_shard(items: list[Item], input_report: InputReport, datasets: list[DatasetSpec], out_dir, shard_id: int,
              num_shards: int, teacher: TeacherSpec, focus_teacher: TeacherSpec | None, prompts: PromptSet,
              config: RunConfig) -> list[StepSummary]:
    """Generate every requested step for the items of one shard; returns a summary per step."""
    layouts = sorted({n for _, n in filter(None, (parse_shard_dir(d.name) for d in Path(out_dir).glob("shard-*")))})
    if layouts and layouts != [num_shards]:
        raise StoreError(f"{out_dir} already holds shards of a run with --num-shards {layouts[0]}; the same items in "
                         f"another layout would be generated twice. Keep --num-shards {layouts[0]} or use a new "
                         f"--output-dir")
    store = ShardStore(out_dir, shard_id, num_shards)
    store.lock()
    try:
        inputs_key = items_fingerprint(items)
        write_json_atomic(store.dir.parent / "input_report.json", input_report.to_dict())
        manifest = store.read_manifest() or {}
        manifest.update(
            format=FORMAT, shard_id=shard_id, num_shards=num_shards, num_items=len(items), inputs_key=inputs_key,
            datasets=[{"name": d.name, "json_path": str(d.json_path), "image_folder": str(d.image_folder)}
                      for d in datasets],
            prompts=prompts.to_dict())
        manifest.setdefault("steps", {})
        specs = {"statements": teacher, "describe": teacher, "focus": focus_teacher or teacher}
        keys: dict[str, str] = {}
        for step in S.STEPS:  # keys of all steps: a step's key includes its upstream's
            settings = step_settings(step, specs[step], prompts, config, inputs_key, num_shards,
                                     {n: keys[n] for n in S.NEEDS[step]})
            keys[step] = settings_key(settings)
            if step in config.steps:
                _check_manifest(store, manifest, step, settings, keys[step], config.force_new)
                manifest["steps"][step] = {"key": keys[step], "settings": settings}
            for need in S.NEEDS[step]:
                recorded = manifest["steps"].get(need, {}).get("key")
                if step in config.steps and recorded not in (None, keys[need]):
                    raise StoreError(f"{store.path(need)} was generated with other settings than this run's; run "
                                     f"--steps {need} with --force-new first (the {step} step reads it)")
        store.write_manifest(manifest)

        shard_items = [items[i] for i in shard_indices(len(items), shard_id, num_shards)]
        folders = {d.name: d.image_folder for d in datasets}
        pool = _TeacherPool()
        summaries = []
        try:
            for step in S.STEPS:
                if step in config.steps:
                    summaries.append(run_step(step, store, shard_items, specs[step], pool, prompts, folders, config))
        finally:
            pool.close()
        return summaries
    finally:
        store.unlock()


def generate(datasets_yaml: str | Path, out_dir: str | Path, teacher: TeacherSpec,
             focus_teacher: TeacherSpec | None = None, prompts: PromptSet | None = None,
             config: RunConfig | None = None, shard_id: int = 0, num_shards: int = 1) -> list[StepSummary]:
    """The library form of `llava-datagen run`: read the dataset list, collect the items and generate
    one shard (all of them with the default single shard). `merge(out_dir)` then writes the data."""
    from llava.datagen.sources import DatagenInputError, collect_items, load_dataset_list

    specs = load_dataset_list(datasets_yaml)
    items, report = collect_items(specs)
    for line in report.summary_lines():
        logger.info(line)
    if not items:
        raise DatagenInputError(f"{datasets_yaml}: no usable samples (need an image and human/gpt turns)")
    logger.info("shard %d of %d: %d of %d items", shard_id, num_shards, len(range(shard_id, len(items), num_shards)),
                len(items))
    return run_shard(items, report, specs, out_dir, shard_id, num_shards, teacher, focus_teacher,
                     prompts or PromptSet(), config or RunConfig())
