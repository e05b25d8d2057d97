"""Mask secrets in command lines before they are printed or recorded.

Twin of scripts/zero3/secrets.sh (the stage scripts mask the launch line they print); both follow
the same rules, tested on the same cases:
  - the value of a flag whose name has a part ending in token, key, secret(s), password or passwd
    (`--hub_token X`, `--wandb-api-key=X`; not `--tokenizer_name` or `--max_new_tokens`);
  - anything shaped like a Hugging Face token (`hf_...`) inside any argument;
  - an argument that is a bare 40-hex-digit W&B API key (also after `--flag=`).
"""
from __future__ import annotations

import re
import sys

MASK = "***"
_SECRET_PART = re.compile(r"(token|key|secrets?|password|passwd)$")
_HF_TOKEN = re.compile(r"hf_[A-Za-z0-9]{20,}")
_WANDB_KEY = re.compile(r"(local-)?[0-9a-f]{40}")


def is_secret_flag(arg: str) -> bool:
    name = arg.split("=", 1)[0]
    if not name.startswith("-"):
        return False
    return any(_SECRET_PART.search(part) for part in re.split(r"[-_.]", name.lstrip("-").lower()) if part)


def mask_value(value: str) -> str:
    value = _HF_TOKEN.sub(MASK, value)
    return MASK if _WANDB_KEY.fullmatch(value) else value


def mask_argv(argv: list[str]) -> list[str]:
    out, mask_next = [], False
    for arg in argv:
        if mask_next:
            out.append(MASK)
            mask_next = False
        elif arg.startswith("-") and "=" in arg:
            flag, value = arg.split("=", 1)
            out.append(f"{flag}={MASK if is_secret_flag(flag) else mask_value(value)}")
        elif is_secret_flag(arg):
            out.append(arg)
            mask_next = True
        else:
            out.append(mask_value(arg))
    return out


def scrub_process_argv() -> None:
    """Mask `sys.argv` in place once the arguments are parsed: W&B records the command line in its run
    metadata."""
    sys.argv[:] = mask_argv(sys.argv)
