"""Teacher backends, chosen by name (`--backend`).

Built in: `hf` (transformers), `vllm` (optional extra), `scene` (deterministic, from ground truth).
A user's own backend is `--backend package.module:ClassName` (a `Teacher` subclass), or registered
from code with `register_teacher`. Modules are imported only when their backend is used, so vLLM
is never needed unless asked for.
"""
from __future__ import annotations

import importlib

from llava.datagen.teachers.base import DEFAULT_MODEL, Teacher, TeacherOptions

_BACKENDS = {
    "hf": "llava.datagen.teachers.hf:HFTeacher",
    "vllm": "llava.datagen.teachers.vllm:VLLMTeacher",
    "scene": "llava.datagen.teachers.scene:SceneTeacher",
}


def register_teacher(name: str, target: str | type) -> None:
    """Make `name` usable as `--backend name`; `target` is a class or "module:Class"."""
    _BACKENDS[name] = target


def available_backends() -> list[str]:
    return sorted(_BACKENDS)


def teacher_class(backend: str) -> type:
    target = _BACKENDS.get(backend, backend)
    if isinstance(target, type):
        return target
    if ":" not in target:
        raise ValueError(f"unknown teacher backend {backend!r}; choose one of {available_backends()} or give "
                         f"`package.module:ClassName`")
    module_name, class_name = target.split(":", 1)
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import teacher backend {target!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Teacher)):
        raise ValueError(f"teacher backend {target!r} is not a subclass of llava.datagen.teachers.Teacher")
    return cls


def build_teacher(backend: str, options: TeacherOptions) -> Teacher:
    return teacher_class(backend).from_options(options)


__all__ = ["DEFAULT_MODEL", "Teacher", "TeacherOptions", "available_backends", "build_teacher", "register_teacher",
           "teacher_class"]
