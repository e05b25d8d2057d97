"""`llava-train`: one training stage of the perception model (S0 projector pretraining to
visual extraction tuning), single process or DeepSpeed ZeRO-3 under torchrun.

Reads top to bottom: parse and check arguments (fast, before anything heavy), set up the
distributed backend, load the data mixture, build or load the model, choose trainable parts,
train (or resume), save a complete checkpoint, report skipped samples, shut down. With
`--text_only True` the same run trains a plain causal LM (the reasoner) on text-only
conversations; what differs between the two is a recipe (llava/train/recipes.py). See
scripts/zero3/*.sh for the stage commands.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from llava.train.failures import record_failure, recorded
from llava.utils.secrets import scrub_process_argv

logger = logging.getLogger("llava.train")


def _setup_logging() -> None:
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format=f"%(asctime)s [rank{rank}] %(levelname)s %(name)s: %(message)s",
                        stream=sys.stdout, force=True)
    import transformers

    if rank == 0:
        transformers.utils.logging.set_verbosity_info()
    else:
        transformers.utils.logging.set_verbosity_warning()


def _flag_value(argv: list[str], flag: str) -> str | None:
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def _cpu_defaults(argv: list[str]) -> list[str]:
    """Without CUDA: `--use_cpu` keeps accelerate's process count right under DeepSpeed
    (docs/training.md, ZeRO-3 on CPU)."""
    import torch

    if not torch.cuda.is_available() and _flag_value(argv, "--use_cpu") is None and "--use_cpu" not in argv:
        argv = argv + ["--use_cpu", "True"]
    return argv


def parse_args(argv: list[str]):
    from transformers import HfArgumentParser

    from llava.train.arguments import DataArguments, ModelArguments, TrainingArguments
    from llava.train.deepspeed_config import load_deepspeed_config, skip_cpu_shm_comm_build

    ds = _flag_value(argv, "--deepspeed")
    if ds:
        load_deepspeed_config(ds)  # fail fast on a missing file or an optimizer/scheduler block
        skip_cpu_shm_comm_build()  # before TrainingArguments, which may start DeepSpeed's comm layer
    parser = HfArgumentParser((ModelArguments, DataArguments, TrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=_cpu_defaults(argv))
    training_args.remove_unused_columns = False  # our items carry images and bookkeeping
    if training_args.run_name is None or training_args.run_name == training_args.output_dir:
        training_args.run_name = Path(training_args.output_dir).name
    return model_args, data_args, training_args


def preflight(model_args, data_args, training_args):
    """Every cheap check of the run's recipe, before the distributed backend and the model."""
    from llava.train.recipes import recipe_for

    return recipe_for(model_args).preflight(model_args, data_args, training_args)


def init_distributed(training_args) -> None:
    """On CPU, DeepSpeed needs the gloo process group before the model is built (docs/training.md)."""
    import torch
    import torch.distributed as dist

    if training_args.deepspeed:
        import deepspeed

        # Also when accelerate already made the torch process group: DeepSpeed's own comm layer
        # must know it, or zero.Init sees world size 1.
        deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo")
    elif int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")


def resolve_resume(training_args) -> str | None:
    """`--resume_from_checkpoint auto|latest` -> the newest complete checkpoint-N in output_dir (or
    None); incomplete newer ones (a process killed while writing) are named and skipped."""
    from llava.train.run_state import newest_complete_checkpoint

    r = training_args.resume_from_checkpoint
    if r in ("auto", "latest") or (r is None and training_args.continue_training):
        last, skipped = newest_complete_checkpoint(training_args.output_dir)
        for folder, why in skipped:
            logger.warning("resume: skipping %s: %s", folder, why)
        logger.info("resume: %s", last or "no complete checkpoint found, starting fresh")
        return str(last) if last else None
    if r and not os.path.isdir(r):
        raise FileNotFoundError(f"--resume_from_checkpoint {r}: the folder does not exist")
    return r


def already_complete(training_args) -> bool:
    """A finished run in output_dir stays as it is unless --continue_training True (then its marker
    goes, so a crash while continuing is not mistaken for a finished run)."""
    from llava.train.run_state import clear_finished, finished_run

    finished = finished_run(training_args.output_dir)
    if finished is None:
        return False
    if not training_args.continue_training:
        print(f"llava-train: already complete: {training_args.output_dir} holds a run that finished at step "
              f"{finished.get('global_step')} ({finished.get('finished_at')}); nothing was changed. To train it "
              "further pass --continue_training True (with a larger --max_steps); to start over use another "
              "--output_dir.", flush=True)
        return True
    if training_args.max_steps > 0 and isinstance(finished.get("global_step"), int) \
            and finished["global_step"] >= training_args.max_steps:
        print(f"llava-train: already complete: {training_args.output_dir} finished at step "
              f"{finished['global_step']} >= --max_steps {training_args.max_steps}; raise --max_steps to continue "
              "training it.", flush=True)
        return True
    if int(os.environ.get("RANK", "0")) == 0:
        clear_finished(training_args.output_dir)
    logger.info("continuing the finished run in %s (step %s)", training_args.output_dir, finished.get("global_step"))
    return False


def run(model_args, data_args, training_args, source) -> dict:
    """Data, model, trainer and training for the run's recipe; returns what `train_and_save` reports
    plus the trainer."""
    from transformers import set_seed

    from llava.data.lengths import mixture_lengths
    from llava.data.mixture import load_mixture
    from llava.train.callbacks import MixtureLoggingCallback, PartitionReportCallback
    from llava.train.model_setup import extras_saver, load_tokenizer
    from llava.train.recipes import recipe_for
    from llava.train.trainer import LLaVATrainer

    recipe = recipe_for(model_args)
    set_seed(training_args.seed)
    resume = resolve_resume(training_args)
    tokenizer = load_tokenizer(source, training_args.model_max_length)
    seed = training_args.data_seed if training_args.data_seed is not None else training_args.seed
    mixture = load_mixture(data_args.data_path, data_args.image_folder, seed=seed,
                           check_images=recipe.check_images and data_args.check_image_files,
                           max_bad_fraction=data_args.max_bad_fraction, record_check=recipe.record_check)

    model, image_processor = recipe.build_model(model_args, training_args, source)
    packing = recipe.use_packing(data_args.packing, model)
    with training_args.main_process_first(desc="sample lengths"):
        lengths, has_image = (mixture_lengths(mixture, tokenizer, recipe.length_template(data_args),
                                              recipe.image_token_spec(model), data_args.length_cache_dir)
                              if data_args.group_by_modality_length else (None, None))
    trainer = LLaVATrainer(model=model, args=training_args, processing_class=tokenizer, lengths=lengths,
                           has_image=has_image,
                           train_dataset=recipe.dataset(mixture, tokenizer, image_processor, model, data_args,
                                                        training_args),
                           data_collator=recipe.collator(tokenizer, packing, training_args),
                           save_extras=extras_saver(model, tokenizer, image_processor, model_args, data_args,
                                                    training_args))
    trainer.add_callback(MixtureLoggingCallback(mixture.summary(), model_args, data_args, recipe.model_kind(source),
                                                packing))
    if training_args.deepspeed:
        trainer.add_callback(PartitionReportCallback())
    return {**train_and_save(trainer, mixture, training_args, resume), "trainer": trainer}


def train_and_save(trainer, mixture, training_args, resume: str | None) -> dict:
    """Train (or resume), save the final model, write the skipped-samples report, push if asked."""
    import torch

    from llava.train.callbacks import MixtureLoggingCallback
    from llava.train.preemption import install_preemption_handler, was_preempted
    from llava.train.run_state import mark_finished

    install_preemption_handler(trainer)
    trainer.train(resume_from_checkpoint=resume)
    if was_preempted():
        logger.warning("stopped by the preemption signal at step %d; checkpoint saved, resume with "
                       "--resume_from_checkpoint auto", trainer.state.global_step)
        return {"output_dir": training_args.output_dir, "preempted": True, "log_history": trainer.state.log_history}
    trainer.save_model(training_args.output_dir)
    trainer.save_state()
    skipped = trainer.finish_report()
    for record in mixture.bad.records:
        skipped.add(record)
    if training_args.should_save:
        path = skipped.write_report(training_args.output_dir)
        logger.info("skipped-samples report: %s (%d sample(s))", path, len(skipped))
        MixtureLoggingCallback.log_final(skipped.summary())
    if training_args.should_save:
        mark_finished(training_args.output_dir, trainer.state.global_step, trainer.state.max_steps)
    if training_args.should_save and training_args.push_to_hub_repo:
        push_after_training(training_args)
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
    return {"output_dir": training_args.output_dir, "skipped": len(skipped),
            "log_history": trainer.state.log_history}


def push_after_training(training_args) -> None:
    """Export and upload the finished run; a failure is reported, the saved checkpoint stays."""
    from llava.export.hub import push_to_hub_after_training

    try:
        push_to_hub_after_training(training_args.output_dir, training_args.push_to_hub_repo,
                                   private=training_args.push_to_hub_private,
                                   revision=training_args.push_to_hub_revision,
                                   layout=training_args.push_to_hub_layout)
        logger.info("pushed %s to the Hub repo %s", training_args.output_dir, training_args.push_to_hub_repo)
    except Exception as e:  # noqa: BLE001 - training succeeded; say how to push by hand
        logger.error("push to %s failed (%s: %s); the checkpoint is saved in %s, push it later with "
                     "`llava-export %s --push-to-hub %s`", training_args.push_to_hub_repo, type(e).__name__, e,
                     training_args.output_dir, training_args.output_dir, training_args.push_to_hub_repo)


def shutdown() -> None:
    """Flush W&B and leave the process group cleanly (avoids rare aborts at interpreter exit)."""
    import torch.distributed as dist

    try:
        import wandb

        if wandb.run is not None:
            wandb.finish()
    except ImportError:
        pass
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    for h in logging.getLogger().handlers:
        h.flush()
    sys.stdout.flush()
    sys.stderr.flush()


@recorded  # a failure under torchrun ends with its one-line cause (llava/train/launch.py)
def main(argv: list[str] | None = None) -> int:
    """Console entry point (`llava-train`). Launched by torchrun, the process exits hard after a
    clean shutdown: a rare abort at interpreter exit was seen otherwise (docs/training.md)."""
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    _setup_logging()
    from llava.train.launch import die_with_launcher
    from llava.train.run_state import OutputDirBusy, hold_output_dir

    try:
        model_args, data_args, training_args = parse_args(argv)
        scrub_process_argv()  # W&B records sys.argv: no tokens there
        source = preflight(model_args, data_args, training_args)
        if int(os.environ.get("RANK", "0")) == 0:
            lock = hold_output_dir(training_args.output_dir)  # noqa: F841 - held until the process exits
        if already_complete(training_args):
            return 0
    except (ValueError, FileNotFoundError, OutputDirBusy) as e:
        logger.error("%s", e)
        print(f"llava-train: error: {e}", file=sys.stderr)
        record_failure(e)
        return 2
    die_with_launcher()
    init_distributed(training_args)
    run(model_args, data_args, training_args, source)
    shutdown()
    if from_command_line and "LOCAL_RANK" in os.environ:
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
