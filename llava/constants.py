"""Token constants shared with LLaVA-NeXT and lmms-eval's `llava_onevision` wrapper."""

IGNORE_INDEX = -100
IMAGE_TOKEN_INDEX = -200  # placeholder id spliced out by the model and replaced by image features

DEFAULT_IMAGE_TOKEN = "<image>"
DEFAULT_IMAGE_PATCH_TOKEN = "<im_patch>"
DEFAULT_IM_START_TOKEN = "<im_start>"
DEFAULT_IM_END_TOKEN = "<im_end>"

CONTROLLER_HEART_BEAT_EXPIRATION = 30
WORKER_HEART_BEAT_INTERVAL = 15
LOGDIR = "."
