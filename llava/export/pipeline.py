"""`export()`: read a source once, write the requested layouts and their model cards."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import torch

from llava.export import configs, model_card, processor
from llava.export.sources import TOKENIZER_FILES, Source, read_source
from llava.export.training_info import read_training_info
from llava.model import hf_mapping
from llava.utils.dtypes import CANONICAL, dtype_name, resolve_dtype

logger = logging.getLogger(__name__)

FORMATS = ("hf", "llava")
SIGLIP_DEFAULTS = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 3,
                   "rescale_factor": 1 / 255}


def export(source: str | Path, output_dir: str | Path, formats=FORMATS, *, dtype: str | None = None,
           eval_report: str | Path | None = None, model_name: str | None = None, license: str = "apache-2.0",
           base_models: list[str] = (), datasets: list[str] = (), max_shard_size: str = "5GB",
           prefer_zero: bool = False, repo_id: str | None = None, overwrite: bool = False,
           trust_checkpoint: bool = False) -> dict[str, Path]:
    """Export `source` into `output_dir` (`hf/` and `llava-next/` when both formats are asked for).

    Returns {format: folder}. `dtype` casts floating weights (default: as stored).
    `trust_checkpoint` unpickles DeepSpeed shards without the weights-only restriction.
    """
    formats = tuple(dict.fromkeys(formats))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"unknown export format(s) {bad}; choose from {', '.join(FORMATS)}")
    if dtype is not None and dtype not in CANONICAL:
        raise ValueError(f"--dtype {dtype!r}: choose from {', '.join(CANONICAL)}")
    output_dir = Path(output_dir)
    targets = {f: (output_dir / ("hf" if f == "hf" else "llava-next") if len(formats) > 1 else output_dir)
               for f in formats}
    source_path = Path(source).resolve()
    for folder in targets.values():
        resolved = folder.resolve()
        if resolved == source_path or resolved in source_path.parents:
            raise ValueError(f"--output-dir {folder} would contain or replace the source {source}; choose a folder "
                             "outside it (a subfolder of a training run is fine)")
        if folder.exists() and any(folder.iterdir()) and not overwrite:
            raise FileExistsError(f"{folder} is not empty; pass --overwrite or choose another --output-dir")
    reports = model_card.load_eval_report(eval_report)["reports"] if eval_report else []

    src = read_source(source, prefer_zero=prefer_zero, trust=trust_checkpoint)
    logger.info("weights from %s (%d tensors)", src.weights_from, len(src.state_dict))
    if dtype:
        src.state_dict = {k: v.to(resolve_dtype(dtype)) if v.is_floating_point() else v for k, v in src.state_dict.items()}
    if src.kind == "native":
        llava_cfg, vision_cfg = hf_mapping.hf_config_to_llava_next(src.config, dtype=dtype)
        llava_state = hf_mapping.hf_to_llava_next_state_dict(src.state_dict)
        if llava_cfg["tie_word_embeddings"]:  # the native layout carries a copy of the tied embedding
            llava_state.pop("lm_head.weight", None)
    else:
        llava_cfg = dict(src.config)
        if dtype:
            llava_cfg["dtype"] = dtype
        vision_cfg = _vision_config(llava_cfg, llava_state := src.state_dict)
    stages, run_bases, run_datasets = read_training_info(src.run_dir)
    card_args = dict(model_name=model_name or (repo_id.split("/")[-1] if repo_id else Path(output_dir).name),
                     base_models=[*base_models, *run_bases, llava_cfg.get("mm_vision_tower", "")],
                     datasets=[*datasets, *run_datasets], license=license, stages=stages, eval_reports=reports,
                     repo_id=repo_id, architecture=_architecture(llava_cfg, vision_cfg))
    written = {}
    for fmt, folder in targets.items():
        # Written next to the target and moved into place at the end: an interrupted export never
        # leaves a half-written folder that looks complete.
        partial = folder.with_name(folder.name + ".partial")
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir(parents=True)
        if fmt == "llava":
            _write_llava(partial, src, llava_cfg, vision_cfg, llava_state, max_shard_size)
        else:
            _write_native(partial, src, llava_cfg, vision_cfg, llava_state, max_shard_size, dtype)
        card = model_card.render_model_card(layout=fmt, library_name="transformers" if fmt == "hf" else "llava",
                                            **card_args)
        (partial / "README.md").write_text(card, encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)  # empty, or --overwrite
        partial.rename(folder)
        written[fmt] = folder
        logger.info("wrote the %s layout to %s", fmt, folder)
    return written


def _vision_config(llava_cfg: dict, state: dict) -> dict:
    """The kept-layer SigLIP config: stored in the checkpoint, else read from the tower folder."""
    layers = _tower_layers(state)
    vision = llava_cfg.get("vision_config")
    if vision is None:
        tower = llava_cfg.get("mm_vision_tower")
        tower_cfg = Path(str(tower)) / "config.json"
        if not tower_cfg.is_file():
            raise FileNotFoundError(f"config.json has no vision_config and the vision tower {tower!r} is not a local "
                                    "folder: download the tower (hf download ...) and set mm_vision_tower to it")
        from llava.model.vision_towers.siglip import drop_last_layer

        vision = drop_last_layer(json.loads(tower_cfg.read_text()))
    vision = dict(vision)
    if layers and len(layers) != int(vision["num_hidden_layers"]):
        raise ValueError(f"the checkpoint has {len(layers)} vision encoder layers but its vision_config says "
                         f"{vision['num_hidden_layers']}: the config does not belong to these weights")
    return vision


def _tower_layers(state: dict) -> set[str]:
    prefix = "model.vision_tower.vision_tower."
    out = set()
    for key in state:
        if key.startswith(prefix):
            rest = key[len(prefix):].removeprefix("vision_model.")
            if rest.startswith("encoder.layers."):
                out.add(rest.split(".")[2])
    return out


def _architecture(llava_cfg: dict, vision_cfg: dict) -> dict:
    tower = llava_cfg.get("mm_vision_tower")
    out = {"vision tower": tower if model_card.is_hub_id(tower) else f"SigLIP ({vision_cfg.get('hidden_size')} wide)",
           "vision layers kept": vision_cfg.get("num_hidden_layers"),
           "crop size": vision_cfg.get("image_size"),
           "projector": llava_cfg.get("mm_projector_type"),
           "language model hidden size": llava_cfg.get("hidden_size"),
           "language model layers": llava_cfg.get("num_hidden_layers"),
           "image aspect ratio": llava_cfg.get("image_aspect_ratio")}
    return {k: v for k, v in out.items() if v is not None}


def _image_processing(src: Source) -> dict:
    """mean/std/resample of the source's image processor (SigLIP defaults when none is saved)."""
    for folder in src.extra_dirs:
        path = folder / "preprocessor_config.json"
        if path.is_file():
            data = json.loads(path.read_text())
            return {k: data.get(k, SIGLIP_DEFAULTS[k]) for k in SIGLIP_DEFAULTS}
    return dict(SIGLIP_DEFAULTS)


def _save_weights(folder: Path, state: dict, max_shard_size: str) -> None:
    from huggingface_hub import save_torch_state_dict

    # Distinct storage per tensor: the tied lm_head copy must not be dropped as a "shared" tensor.
    seen, out = set(), {}
    for k, v in state.items():
        ptr = (v.untyped_storage().data_ptr(), v.storage_offset())
        out[k] = v.clone() if ptr in seen else v.contiguous()
        seen.add(ptr)
    save_torch_state_dict(out, folder, max_shard_size=max_shard_size)


def _copy_tokenizer(src_dir: Path, folder: Path) -> None:
    copied = 0
    for name in TOKENIZER_FILES:
        if (src_dir / name).is_file():
            shutil.copy2(src_dir / name, folder / name)
            copied += 1
    if not copied:
        raise FileNotFoundError(f"no tokenizer files in {src_dir}")


def _write_llava(folder: Path, src: Source, llava_cfg: dict, vision_cfg: dict, state: dict,
                 max_shard_size: str) -> None:
    _save_weights(folder, state, max_shard_size)
    cfg = dict(llava_cfg)
    cfg["vision_config"] = vision_cfg
    (folder / "config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    _copy_tokenizer(src.tokenizer_dir, folder)
    proc = _image_processing(src)
    siglip = {"image_processor_type": "SiglipImageProcessor", "do_resize": True, "do_rescale": True,
              "do_normalize": True, "do_convert_rgb": True,
              "size": {"height": int(vision_cfg["image_size"]), "width": int(vision_cfg["image_size"])}, **proc}
    (folder / "preprocessor_config.json").write_text(json.dumps(siglip, indent=2) + "\n", encoding="utf-8")
    for extra in ("generation_config.json",):
        for d in src.extra_dirs:
            if (d / extra).is_file() and src.kind == "llava":
                shutil.copy2(d / extra, folder / extra)
                break


def _write_native(folder: Path, src: Source, llava_cfg: dict, vision_cfg: dict, llava_state: dict,
                  max_shard_size: str, dtype: str | None) -> None:
    from transformers import AutoTokenizer, GenerationConfig

    if src.kind == "native":  # already native: re-save in the legacy hub layout, files copied
        state = hf_mapping.llava_next_to_hf_state_dict(
            hf_mapping.hf_to_llava_next_state_dict(src.state_dict), llava_cfg["tie_word_embeddings"])
        _save_weights(folder, state, max_shard_size)
        for p in src.tokenizer_dir.iterdir():
            if p.is_file() and p.suffix in (".json", ".jinja", ".txt") and not p.name.endswith(".index.json"):
                shutil.copy2(p, folder / p.name)
        return
    tokenizer = AutoTokenizer.from_pretrained(str(src.tokenizer_dir))
    image_id, video_id = processor.add_multimodal_tokens(tokenizer)
    configs.check_native_compatible({**llava_cfg, "vision_config": vision_cfg})
    state = hf_mapping.llava_next_to_hf_state_dict(llava_state, bool(llava_cfg.get("tie_word_embeddings", False)))
    state = _fit_vocab(state, max(image_id, video_id) + 1)
    cfg = hf_mapping.llava_next_config_to_hf(llava_cfg, vision_cfg, image_token_index=image_id,
                                             video_token_index=video_id)
    cfg["text_config"]["vocab_size"] = state["language_model.model.embed_tokens.weight"].shape[0]
    _native_config(cfg, dtype or _state_dtype(state)).save_pretrained(folder)
    _save_weights(folder, state, max_shard_size)
    proc = _image_processing(src)
    processor.write_processor(folder, tokenizer, crop_size=int(vision_cfg["image_size"]),
                              patch_size=int(vision_cfg["patch_size"]), image_mean=proc["image_mean"],
                              image_std=proc["image_std"], resample=proc["resample"],
                              rescale_factor=proc["rescale_factor"],
                              grid_pinpoints_wh=_pinpoints(llava_cfg, vision_cfg),
                              vision_aspect_ratio=llava_cfg["image_aspect_ratio"])
    eos = [i for i in (tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>"))
           if isinstance(i, int) and i != tokenizer.unk_token_id]
    GenerationConfig(eos_token_id=eos or tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                     bos_token_id=None).save_pretrained(folder)


def _native_config(cfg: dict, dtype: str):
    """A `LlavaOnevisionConfig` object, so transformers writes config.json with its own defaults filled in."""
    from transformers import LlavaOnevisionConfig

    cfg = dict(cfg)
    config = LlavaOnevisionConfig(**{k: v for k, v in cfg.items() if k not in ("model_type",)})
    config.dtype = dtype
    config.text_config.dtype = dtype
    config.vision_config.dtype = dtype
    return config


def _pinpoints(llava_cfg: dict, vision_cfg: dict):
    from llava.image.anyres import parse_grid_pinpoints

    crop = int(vision_cfg["image_size"])
    return parse_grid_pinpoints(llava_cfg.get("image_grid_pinpoints") or [[crop, crop]], crop)


def _state_dtype(state: dict) -> str:
    dtype = state["language_model.model.embed_tokens.weight"].dtype
    return dtype_name(dtype)


def _fit_vocab(state: dict, needed_rows: int) -> dict:
    """Grow embedding (and lm_head) rows when new token ids do not fit (not for real Qwen3: 151936 rows).

    New rows are the mean of the existing ones, as transformers' `resize_token_embeddings` does, so the
    new tokens start as an 'average' token rather than a random one.
    """
    names = ["language_model.model.embed_tokens.weight", "language_model.lm_head.weight"]
    rows = state[names[0]].shape[0]
    if needed_rows <= rows:
        return state
    logger.info("growing the embedding from %d to %d rows for <image>/<video>", rows, needed_rows)
    out = dict(state)
    for name in names:
        w = state[name]
        extra = w.float().mean(0, keepdim=True).expand(needed_rows - rows, -1).to(w.dtype)
        out[name] = torch.cat([w, extra], 0)
    return out
