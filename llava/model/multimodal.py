"""The LLaVA meta-architecture: vision tower + projector + image_newline inside the LLM's inner
model, and image features spliced into the token embeddings at `IMAGE_TOKEN_INDEX` (-200).

Two mixins, combined with a transformers causal LM in `llava/model/language_models/*`:
  LlavaMetaModel        -> the inner `model` (state-dict keys `model.vision_tower...`,
                           `model.mm_projector...`, `model.image_newline`)
  LlavaMetaForCausalLM  -> the outer class (`forward(images=..., image_sizes=..., modalities=...)`,
                           `generate(inputs, images=..., ...)`)

Inputs, as LLaVA-NeXT passes them:
  images       a list (one entry per image, flattened over the batch) of (num_crops, C, H, W) or
               (C, H, W) tensors; or a 5-D tensor (images, crops, C, H, W); or a 4-D tensor
               (images, C, H, W) = one crop per image.
  image_sizes  one (width, height) per image, as PIL reports it (needed for anyres images).
  modalities   one entry per image: "image", or "text" for the dummy image a text-only sample
               carries (consumed by a sample without <image>, gives zero tokens). Default: all "image".
Each <image> token (-200) takes the next image in order. An image with several crops is anyres
(base view + tiles); an image with one crop gets its patches plus one newline.
"""
from __future__ import annotations

import logging
import math

import torch
from torch import nn

from llava.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from llava.model.image_features import pack_image_features
from llava.model.projectors import build_projector
from llava.model.vision_towers import build_vision_tower

logger = logging.getLogger(__name__)

# LLaVA-NeXT's defaults for multimodal config keys a config may lack.
MM_DEFAULTS = {
    "mm_projector_type": "linear",
    "mm_vision_select_layer": -2,
    "mm_vision_select_feature": "patch",
    "mm_patch_merge_type": "flat",
    "image_aspect_ratio": "square",
    "image_grid_pinpoints": None,
    "mm_newline_position": "grid",
    "mm_spatial_pool_mode": "bilinear",
    "mm_use_im_start_end": False,
    "mm_use_im_patch_token": False,
    "tokenizer_padding_side": "right",
    "tokenizer_model_max_length": None,
}
_TOWER_ATTN = ("eager", "sdpa", "flash_attention_2", "flash_attention_3")


def mm_setting(config, key: str):
    value = getattr(config, key, None)
    return MM_DEFAULTS.get(key) if value is None else value


class LlavaMetaModel:
    """Mixin for the inner model; builds the multimodal modules from the config.

    The tower is always built from its config here (LLaVA's `delay_load`): weights come from the
    checkpoint being loaded, or from `load_pretrained_weights` when building from parts.
    """

    def post_init(self):
        # The LLM's __init__ ends with post_init(); adding the modules first lets transformers
        # see them when it collects no-split modules and initialises weights.
        if getattr(self.config, "mm_vision_tower", None) and "vision_tower" not in self._modules:
            self.initialize_multimodal_modules()
        super().post_init()

    def initialize_multimodal_modules(self, vision_tower=None) -> None:
        """Create tower (from config, or the given built tower), projector and image_newline."""
        config = self.config
        if vision_tower is None:
            attn = getattr(config, "_attn_implementation", None)
            try:
                vision_tower = build_vision_tower(
                    config.mm_vision_tower,
                    vision_config=getattr(config, "vision_config", None),
                    load_weights=False,
                    attn_implementation=attn if attn in _TOWER_ATTN else "sdpa",
                    select_layer=mm_setting(config, "mm_vision_select_layer"),
                    select_feature=mm_setting(config, "mm_vision_select_feature"),
                )
            except FileNotFoundError as err:
                raise FileNotFoundError(
                    f"{err}. The checkpoint config has no vision_config, so the tower's shape must come from "
                    f"mm_vision_tower={config.mm_vision_tower!r}: restore that folder, point mm_vision_tower at a "
                    "copy of the original tower (overwrite_config={'mm_vision_tower': ...}), or add its config "
                    "as 'vision_config' to config.json") from err
        self.vision_tower = vision_tower
        config.vision_config = vision_tower.config_dict()
        config.mm_hidden_size = vision_tower.hidden_size
        config.mm_projector_type = mm_setting(config, "mm_projector_type")
        self.mm_projector = build_projector(config.mm_projector_type, vision_tower.hidden_size, config.hidden_size)
        if "unpad" in mm_setting(config, "mm_patch_merge_type"):
            self.image_newline = nn.Parameter(torch.randn(config.hidden_size) / math.sqrt(config.hidden_size))

    def get_vision_tower(self):
        return self._modules.get("vision_tower")

    def _init_weights(self, module):
        super()._init_weights(module)
        if module is self and isinstance(getattr(self, "image_newline", None), nn.Parameter):
            from transformers import initialization as init

            init.normal_(self.image_newline, mean=0.0, std=1.0 / math.sqrt(self.config.hidden_size))


def _image_list(images) -> list[torch.Tensor]:
    """Normalise the accepted `images` forms to a list of (num_crops, C, H, W) tensors."""
    if images is None:
        return []
    if isinstance(images, torch.Tensor):
        if images.ndim == 5:
            return list(images)
        if images.ndim == 4:
            return [img[None] for img in images]
        if images.ndim == 3:
            return [images[None]]
        raise ValueError(f"images tensor must have 3, 4 or 5 dims, got shape {tuple(images.shape)}")
    out = []
    for i, img in enumerate(images):
        if not isinstance(img, torch.Tensor):
            raise TypeError(f"images[{i}] is {type(img).__name__}; pass preprocessed tensors (see process_images)")
        if img.ndim == 3:
            img = img[None]
        if img.ndim != 4:
            raise ValueError(f"images[{i}] must be (crops, C, H, W) or (C, H, W), got shape {tuple(img.shape)}")
        out.append(img)
    return out


def is_packed(position_ids) -> bool:
    """True when position_ids restart inside a row (several samples packed into one row); the same
    rule transformers uses to build the block-diagonal mask (masking_utils.find_packed_sequence_indices)."""
    if position_ids is None or position_ids.ndim != 2 or position_ids.shape[-1] < 2:
        return False
    return bool((position_ids.diff(dim=-1) != 1).any())


def _check_all_images_used(features, used: int) -> None:
    if used != len(features):
        raise ValueError(f"{len(features)} images were passed but the batch has {used} <image> tokens "
                         "(plus text-only samples); give one <image> per image")


def _with_touch(inputs_embeds: torch.Tensor, touch) -> torch.Tensor:
    # Zero-valued, but keeps every vision/projector parameter in the autograd graph, so ZeRO-3
    # ranks with text-only or differently shaped batches stay in step.
    return inputs_embeds if touch is None else inputs_embeds + touch.to(inputs_embeds.dtype)


class LlavaMetaForCausalLM:
    """Mixin for the outer causal-LM class."""

    # Padding-free packing: forward(input_ids of shape (1, L) with the samples concatenated,
    # position_ids restarting at 0 at each sample, attention_mask=None, labels) gives the same
    # per-token logits and loss as the samples run one by one, with sdpa, eager and flash-attention
    # (tests/model/test_packing.py). Images are spliced per sample, see `_prepare_packed`.
    supports_packed_sequences = True

    def get_model(self):
        return self.model

    def register_zero3_external_parameters(self) -> None:
        """image_newline belongs to the inner model but is used in this (outer) forward; ZeRO-3
        must gather it here too, or ranks would see an empty partition."""
        from llava.model.weights import zero3_enabled

        newline = getattr(self.get_model(), "image_newline", None)
        if newline is not None and zero3_enabled() and hasattr(newline, "ds_id"):
            import deepspeed

            deepspeed.zero.register_external_parameter(self, newline)

    def get_vision_tower(self):
        return self.get_model().get_vision_tower()

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) crops -> projected features (N, P, hidden)."""
        return self.get_model().mm_projector(self.get_vision_tower()(pixel_values))

    # ------------------------------------------------------------------ image features
    def _image_features(self, images, image_sizes, modalities, run_dummy: bool):
        """Per-image token features and a zero-valued scalar that depends on every vision parameter."""
        model = self.get_model()
        tower = self.get_vision_tower()
        crops = _image_list(images)
        n = len(crops)
        if modalities is None or (len(modalities) != n and all(m == "image" for m in modalities)):
            modalities = ["image"] * n  # LLaVA-NeXT callers pass ["image"] for any number of images
        if len(modalities) != n:
            raise ValueError(f"{len(modalities)} modalities for {n} images; give one per image")
        bad = sorted(set(modalities) - {"image", "text"})
        if bad:
            raise NotImplementedError(f"modalities {bad} are not supported (only 'image' and 'text')")
        if image_sizes is not None:
            image_sizes = [tuple(int(v) for v in s) for s in (image_sizes.tolist() if isinstance(image_sizes, torch.Tensor) else image_sizes)]
            if len(image_sizes) != n:
                raise ValueError(f"{len(image_sizes)} image_sizes for {n} images; give one (width, height) per image")
        if n == 0 and not run_dummy:
            return [], [], None
        batch = torch.cat(crops, dim=0) if n else tower.dummy_pixels()
        projected = self.encode_images(batch)
        touch = projected.sum() * 0.0
        newline = getattr(model, "image_newline", None)
        if newline is not None:
            touch = touch + newline.sum() * 0.0
        if n == 0:
            return [], [], touch
        config = self.config
        merge = mm_setting(config, "mm_patch_merge_type")
        features = []
        for i, per_image in enumerate(torch.split(projected, [c.shape[0] for c in crops])):
            if modalities[i] == "text":
                features.append(per_image.new_zeros(0, per_image.shape[-1]))
                continue
            features.append(pack_image_features(
                per_image,
                image_sizes[i] if image_sizes is not None else None,
                image_newline=newline if "unpad" in merge else None,
                image_aspect_ratio=mm_setting(config, "image_aspect_ratio"),
                image_grid_pinpoints=mm_setting(config, "image_grid_pinpoints"),
                crop_image_size=tower.image_size,
                patches_per_side=tower.num_patches_per_side,
                merge_type=merge,
            ))
        return features, modalities, touch

    # ------------------------------------------------------------------ splice
    def _splice_sample(self, ids, lab, features, modalities, image_idx: int, where: str):
        """One sample's token ids (no padding) -> (embeddings, labels, next image index)."""
        is_image = ids == IMAGE_TOKEN_INDEX
        text_embeds = self.get_model().embed_tokens(ids[~is_image])
        positions = is_image.nonzero().flatten().tolist()
        if not positions:
            if image_idx < len(features) and modalities[image_idx] == "text":
                image_idx += 1  # this text-only sample's dummy image
            return text_embeds, lab, image_idx
        pieces, piece_labels = [], []
        start, text_start = 0, 0
        for pos in positions + [len(ids)]:
            n_text = pos - start
            pieces.append(text_embeds[text_start:text_start + n_text])
            if lab is not None:
                piece_labels.append(lab[start:pos])
            text_start += n_text
            start = pos + 1
            if pos == len(ids):
                break
            if image_idx >= len(features):
                raise ValueError(f"{where} has more <image> tokens than images were passed "
                                 f"({len(features)} images for the batch)")
            if modalities[image_idx] == "text":
                raise ValueError(f"{where} has an <image> token but its image is marked 'text'")
            feature = features[image_idx].to(text_embeds.dtype)
            image_idx += 1
            pieces.append(feature)
            if lab is not None:
                piece_labels.append(torch.full((feature.shape[0],), IGNORE_INDEX, dtype=lab.dtype, device=lab.device))
        return torch.cat(pieces), (torch.cat(piece_labels) if lab is not None else None), image_idx

    def prepare_inputs_labels_for_multimodal(self, input_ids, position_ids, attention_mask, past_key_values,
                                             labels, images, modalities=None, image_sizes=None,
                                             padding_side: str | None = None, run_dummy: bool | None = None):
        """Replace each IMAGE_TOKEN_INDEX by its image's features.

        Returns (None, position_ids, attention_mask, past_key_values, inputs_embeds, labels) with
        image positions labelled IGNORE_INDEX, each sample truncated to `tokenizer_model_max_length`
        and re-padded on `padding_side` (default: config.tokenizer_padding_side).

        Packed input (no attention_mask, no cache, one row whose position_ids restart at 0 at each
        sample start, see `is_packed`) stays packed: see `_prepare_packed`.
        """
        if run_dummy is None:
            run_dummy = self.training and torch.is_grad_enabled()
        features, modalities, touch = self._image_features(images, image_sizes, modalities, run_dummy)
        if attention_mask is None and past_key_values is None and is_packed(position_ids):
            return self._prepare_packed(input_ids, position_ids, labels, features, modalities, touch)
        device = input_ids.device
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids, dtype=torch.bool)
        attention_mask = attention_mask.bool()
        image_idx = 0
        rows_embeds, rows_labels = [], []
        for b in range(input_ids.shape[0]):
            lab = labels[b][attention_mask[b]] if labels is not None else None
            row, lab, image_idx = self._splice_sample(input_ids[b][attention_mask[b]], lab, features, modalities,
                                                      image_idx, f"sample {b}")
            rows_embeds.append(row)
            rows_labels.append(lab)
        _check_all_images_used(features, image_idx)

        max_len = mm_setting(self.config, "tokenizer_model_max_length")
        if max_len:
            too_long = [i for i, e in enumerate(rows_embeds) if e.shape[0] > max_len]
            if too_long:
                logger.warning("truncating %d sample(s) (batch rows %s) to tokenizer_model_max_length=%d "
                               "after inserting image features", len(too_long), too_long, max_len)
                rows_embeds = [e[:max_len] for e in rows_embeds]
                rows_labels = [l[:max_len] if l is not None else None for l in rows_labels]

        side = padding_side or mm_setting(self.config, "tokenizer_padding_side")
        if side not in ("left", "right"):
            raise ValueError(f"padding side must be 'left' or 'right', got {side!r}")
        longest = max(e.shape[0] for e in rows_embeds)
        batch, hidden = len(rows_embeds), rows_embeds[0].shape[-1]
        dtype = rows_embeds[0].dtype
        inputs_embeds = torch.zeros(batch, longest, hidden, dtype=dtype, device=device)
        new_mask = torch.zeros(batch, longest, dtype=torch.long, device=device)
        new_pos = torch.zeros(batch, longest, dtype=torch.long, device=device)
        new_labels = torch.full((batch, longest), IGNORE_INDEX, dtype=torch.long, device=device) if labels is not None else None
        for b, row in enumerate(rows_embeds):
            length = row.shape[0]
            span = slice(longest - length, longest) if side == "left" else slice(0, length)
            inputs_embeds[b, span] = row
            new_mask[b, span] = 1
            new_pos[b, span] = torch.arange(length, device=device)
            if new_labels is not None:
                new_labels[b, span] = rows_labels[b]
        return None, new_pos, new_mask, past_key_values, _with_touch(inputs_embeds, touch), new_labels

    def _prepare_packed(self, input_ids, position_ids, labels, features, modalities, touch):
        """Splice images into each sample of a packed row and keep it packed.

        Each sample's position_ids become arange(expanded length) and the first label of each
        sample is ignored (the previous sample's last token must not be trained to predict it).
        attention_mask stays None: transformers derives the sample boundaries from the restarting
        position_ids (a block-diagonal mask for sdpa/eager, cu_seqlens for flash-attention varlen).
        tokenizer_model_max_length applies to the whole packed row: samples past it are cut
        (budget the packing so this does not happen).
        """
        if input_ids.shape[0] != 1:
            raise ValueError(f"packed input (position_ids restarting at 0, no attention_mask) must be one row, got "
                             f"{input_ids.shape[0]} rows: flash-attention only finds the sample boundaries in "
                             "a single row; concatenate the samples into input_ids of shape (1, L)")
        ids, pos = input_ids[0], position_ids.expand_as(input_ids)[0]
        lab = labels[0] if labels is not None else None
        starts = (pos == 0).nonzero().flatten().tolist()
        if not starts or starts[0] != 0:
            raise ValueError("packed position_ids must start at 0 and restart at 0 at each sample start")
        image_idx = 0
        pieces, piece_labels, piece_pos = [], [], []
        for k, (a, b) in enumerate(zip(starts, starts[1:] + [len(ids)])):
            if not torch.equal(pos[a:b], torch.arange(b - a, device=pos.device)):
                raise ValueError(f"packed sample {k} (tokens {a}..{b - 1}) has position_ids {pos[a:b].tolist()[:8]}...; "
                                 "each packed sample's position_ids must be 0, 1, 2, ...")
            seg_embeds, seg_labels, image_idx = self._splice_sample(
                ids[a:b], lab[a:b] if lab is not None else None, features, modalities, image_idx,
                f"packed sample {k}")
            pieces.append(seg_embeds)
            piece_pos.append(torch.arange(seg_embeds.shape[0], device=ids.device))
            if seg_labels is not None:
                seg_labels = seg_labels.clone()
                seg_labels[0] = IGNORE_INDEX
                piece_labels.append(seg_labels)
        _check_all_images_used(features, image_idx)
        embeds, new_pos = torch.cat(pieces), torch.cat(piece_pos)
        new_labels = torch.cat(piece_labels) if lab is not None else None
        max_len = mm_setting(self.config, "tokenizer_model_max_length")
        if max_len and embeds.shape[0] > max_len:
            logger.warning("truncating a packed row of %d samples from %d to tokenizer_model_max_length=%d tokens "
                           "after inserting image features; pack fewer tokens per row", len(starts),
                           embeds.shape[0], max_len)
            embeds, new_pos = embeds[:max_len], new_pos[:max_len]
            new_labels = new_labels[:max_len] if new_labels is not None else None
        return (None, new_pos[None], None, None, _with_touch(embeds[None], touch),
                new_labels[None] if new_labels is not None else None)

    # ------------------------------------------------------------------ forward / generate
    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, images=None, image_sizes=None, return_dict=None,
                modalities=None, cache=None, **kwargs):
        """Causal-LM forward with images. `past_key_values` and `cache` are the same thing
        (transformers 5 renamed it); `return_dict` is accepted for old callers and ignored."""
        cache = cache if cache is not None else past_key_values
        needs_dummy = images is None and self.training and torch.is_grad_enabled()
        packed = attention_mask is None and cache is None and is_packed(position_ids)
        if packed:
            # transformers only builds the block-diagonal mask from position_ids when there is no
            # KV cache, and would create one here if use_cache (config default True) were on.
            use_cache = False
        if inputs_embeds is None and (images is not None or needs_dummy or packed):
            (input_ids, position_ids, attention_mask, cache, inputs_embeds, labels) = \
                self.prepare_inputs_labels_for_multimodal(input_ids, position_ids, attention_mask, cache, labels,
                                                          images, modalities, image_sizes)
        elif input_ids is not None and bool((input_ids == IMAGE_TOKEN_INDEX).any()):
            raise ValueError("input_ids contain <image> tokens (IMAGE_TOKEN_INDEX) but no images were passed")
        if output_attentions is not None:
            kwargs["output_attentions"] = output_attentions
        if output_hidden_states is not None:
            kwargs["output_hidden_states"] = output_hidden_states
        return super().forward(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                               cache=cache, inputs_embeds=inputs_embeds, labels=labels, use_cache=use_cache,
                               **kwargs)

    @torch.no_grad()
    def generate(self, inputs: torch.Tensor | None = None, images=None, image_sizes=None, modalities=None,
                 **kwargs):
        """Generate from token ids that may contain <image> placeholders.

        The prompt is re-padded on the left after image features are inserted, so callers may pass
        either padding side with an attention_mask. Returns only the new tokens (like LLaVA-NeXT).
        Any `transformers` generation argument works (max_new_tokens, do_sample, temperature, ...).
        """
        if "inputs_embeds" in kwargs:
            raise NotImplementedError("pass token ids (with <image> placeholders), not inputs_embeds")
        if inputs is None:
            inputs = kwargs.pop("input_ids", None)
        if inputs is None:
            raise ValueError("generate() needs the prompt token ids")
        kwargs.pop("position_ids", None)  # rebuilt from the attention mask by transformers
        attention_mask = kwargs.pop("attention_mask", None)
        _, _, attention_mask, _, inputs_embeds, _ = self.prepare_inputs_labels_for_multimodal(
            inputs, None, attention_mask, None, None, images, modalities, image_sizes,
            padding_side="left", run_dummy=False)
        return super().generate(inputs_embeds=inputs_embeds, attention_mask=attention_mask, **kwargs)
