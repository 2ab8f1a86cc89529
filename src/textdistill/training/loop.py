"""The training loop shared by every student family and every teacher strategy.

A family (``training/families/``) supplies encode/batch/build/optimizers/export; an objective
(``training/objectives.py``) supplies the loss of a batch. The loop runs stages (distillation on the transfer set,
then an optional fine-tune on gold labels: the paper's KD+FT), selects the best checkpoint on dev across all
stages, stops at the first non-finite loss, and on Ctrl-C keeps the best checkpoint so far.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, TextdistillError
from ..tasks import get_task
from .config import TrainConfig  # noqa: F401  (re-exported: the Python API's home of TrainConfig)
from .head import start_at_the_prior
from .objectives import EpochContext, Objective, StepContext


class TrainingDiverged(TextdistillError):
    """The loss became NaN or infinite: nothing is saved."""


class _Stop(Exception):
    """Raised inside the loop at the step boundary after the first Ctrl-C."""


def objective_resumable(objective) -> bool:
    """Whether a run with this objective can stop and resume exactly: it says so (``resumable``), or it has no
    per-step or per-epoch hooks (nothing learned or counted outside the student)."""
    declared = getattr(objective, "resumable", None)
    if declared is not None:
        return bool(declared)
    cls = type(objective)
    return all(getattr(cls, hook) is getattr(Objective, hook) for hook in ("start_epoch", "after_step", "end_epoch"))


@dataclass
class TrainingSet:
    """Encoded texts and their gold label ids (-1 where unlabeled); ``rows`` restricts to some of them."""

    encoded: object
    gold: np.ndarray
    rows: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.gold) if self.rows is None else len(self.rows)


@dataclass
class Stage:
    """Epochs over some rows of the transfer set with one objective, at a scaled learning rate."""

    name: str
    objective: Objective
    rows: np.ndarray
    epochs: int
    lr_scale: float = 1.0
    max_steps: int | None = None  # stop there, within an epoch if need be (fractional epochs)
    evaluate_epochs: bool = True  # evaluate on dev after each epoch; else once, where the stage ends


def to_device(inputs: tuple, device) -> tuple:
    """A batch's tensors on ``device`` (as they are on the CPU)."""
    if device is None or str(device) == "cpu":
        return inputs
    return tuple(x.to(device, non_blocking=True) if isinstance(x, torch.Tensor) else x for x in inputs)


def predict_logits(family, module, encoded, n: int, batch_size: int = 1024, device=None) -> np.ndarray:
    module.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            idx = np.arange(start, min(n, start + batch_size))
            out.append(module(*to_device(family.batch(encoded, idx), device)).float().cpu().numpy())
    module.train()
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


class second_ctrl_c_aborts:
    """While the first Ctrl-C's saving runs (after ``Trainer.fit`` has returned), another one aborts at once, saying
    ``message``; the previous handler comes back afterwards."""

    def __init__(self, log, message: str):
        self.log, self.message, self.previous = log, message, None

    def _abort(self, signum, frame):
        self.log(f"\nCtrl-C again: aborting; {self.message}")
        raise KeyboardInterrupt

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if previous is not signal.SIG_IGN:
                self.previous = previous
                signal.signal(signal.SIGINT, self._abort)
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False


class Trainer:
    """Runs the stages and keeps the best module state by dev metric."""

    def __init__(self, family, config: TrainConfig, num_classes: int, progress: bool = True, log=print, task=None,
                 device: str = "cpu", output_prior=None):
        self.task = get_task(task)
        # multi-label: each label's frequency in the targets; a module whose final layer is ``output`` (an
        # nn.Linear) starts its bias there (``head.start_at_the_prior``). None: the family's own initialisation.
        self.output_prior = output_prior
        if config.select_metric is None:  # the task's own (accuracy, or micro-F1 for multi-label data)
            import dataclasses

            config = dataclasses.replace(config, select_metric=self.task.default_select_metric)
        self.family, self.config, self.num_classes = family, config, num_classes
        self.progress, self.log = progress, log
        self.device = str(device or "cpu")
        self._names = [str(i) for i in range(num_classes)]
        self.history: list[dict] = []
        self.best_score = -np.inf
        self.best_state = None
        self.best_where = ""
        self.interrupted = False
        self.stopped_at = ""  # where the first Ctrl-C stopped training ("distill epoch 3 step 120")
        self.resumed_from = ""
        self.train_seconds = 0.0
        self.train_cpu_seconds = 0.0  # CPU time of this process while training: what other jobs do not inflate
        self._stop_requested = False
        self._stopped: dict | None = None

    def evaluate(self, module, dev: TrainingSet | None) -> float | None:
        if dev is None or len(dev) == 0:
            return None
        logits = predict_logits(self.family, module, dev.encoded, len(dev),
                                getattr(self.family, "eval_batch_size", 1024), device=self.device)
        metrics = self.task.metrics(dev.gold, self.task.decide(logits), self._names)
        return metrics[self.config.select_metric]

    @property
    def selected_on_dev(self) -> bool:
        """Whether the module returned is a checkpoint chosen by its dev score (not just the last state)."""
        return self.best_score > -np.inf

    def _consider(self, module, score: float | None, where: str) -> None:
        self.history.append({"where": where, f"dev_{self.config.select_metric}": score})
        if score is None:
            self.best_state, self.best_where = None, where  # no dev set: the last state wins
            return
        if score > self.best_score:
            self.best_score, self.best_where = score, where
            if self.best_state is None:  # allocated once; later improvements copy in place (the table can be GBs)
                self.best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            else:
                for k, v in module.state_dict().items():
                    self.best_state[k].copy_(v)

    def _passes(self, module, encoded):
        """batches(rows, batch_size): the student over any rows, in eval mode and without gradient."""

        def batches(rows: np.ndarray, batch_size: int = 1024):
            try:
                for start in range(0, len(rows), batch_size):
                    idx = rows[start : start + batch_size]
                    module.eval()
                    with torch.no_grad():  # not around the yield: the caller may need gradients (a policy's)
                        logits, representation = module(*to_device(self.family.batch(encoded, idx), self.device),
                                                        return_representation=True)
                    yield idx, logits, representation
            finally:
                module.train()

        return batches

    def _batches(self, encoded, rows: np.ndarray, rng):
        bucketed = getattr(self.family, "epoch_batches", None)  # sequence students batch similar lengths
        if bucketed is not None:
            return bucketed(encoded, rows, self.config.batch_size, rng)
        order = rows[rng.permutation(len(rows))]
        bs = self.config.batch_size
        return [order[start : start + bs] for start in range(0, len(order), bs)]

    def _run_stage(self, module, encoded, stage: Stage, index: int, dev, rng, start: dict | None = None) -> None:
        """One stage; ``start`` (a resumed position in this stage) continues it where it stopped."""
        from .resume import load_optimizer_state

        c = self.config
        objective = stage.objective
        optimizers = self.family.optimizers(module, c.lr, stage.lr_scale)
        if start is not None:
            for opt, saved in zip(optimizers, start["optimizers"]):
                load_optimizer_state(opt, saved)
        steps_per_epoch = (len(stage.rows) + c.batch_size - 1) // c.batch_size
        first_epoch = start["epoch"] if start else 0
        step = start["step"] if start else 0
        skip = start["batch"] if start else 0
        running = start.get("running") if start else None
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            total = stage.epochs * steps_per_epoch if stage.max_steps is None else stage.max_steps
            bar = tqdm(total=total, initial=first_epoch * steps_per_epoch + skip,
                       desc=stage.name, unit="batch", dynamic_ncols=True)
        module.train()
        evaluate = lambda: self.evaluate(module, dev)  # noqa: E731
        passes = self._passes(module, encoded)
        try:
            for epoch in range(first_epoch, stage.epochs):
                resumed_epoch = start is not None and epoch == first_epoch
                if resumed_epoch:
                    rng.bit_generator.state = start["epoch_rng"]  # the stopped epoch's batch order, drawn again
                epoch_rng = rng.bit_generator.state
                if not resumed_epoch:
                    objective.start_epoch(EpochContext(stage.name, epoch + 1, stage.rows, evaluate, passes))
                for b, idx, inputs in self._inputs(encoded, self._batches(encoded, stage.rows, rng),
                                                   skip if resumed_epoch else 0):
                    loss = self._step(module, optimizers, objective, inputs, idx, stage, step, evaluate)
                    step += 1
                    running = loss if running is None else 0.98 * running + 0.02 * loss
                    last = stage.max_steps is not None and step >= stage.max_steps
                    if c.eval_every and step % c.eval_every == 0 and not (last and not stage.evaluate_epochs):
                        self._consider(module, self.evaluate(module, dev), f"{stage.name} step {step}")
                    if bar is not None:
                        bar.update(1)
                        if step % 20 == 0:
                            bar.set_postfix(loss=f"{running:.4f}", best=self._best_text())
                    if self._stop_requested:
                        self._stopped = {"stage": index, "epoch": epoch, "batch": b + 1, "step": step,
                                         "running": running, "epoch_rng": epoch_rng, "optimizers": optimizers,
                                         "where": f"{stage.name} epoch {epoch + 1} step {step}"}
                        raise _Stop
                    if last:
                        break
                if stage.evaluate_epochs:
                    self._consider(module, self.evaluate(module, dev), f"{stage.name} epoch {epoch + 1}")
                objective.end_epoch(EpochContext(stage.name, epoch + 1, stage.rows, evaluate, passes))
                if bar is not None:
                    bar.set_postfix(loss=f"{running:.4f}", best=self._best_text())
                if stage.max_steps is not None and step >= stage.max_steps:
                    break
            if not stage.evaluate_epochs:
                self._consider(module, self.evaluate(module, dev), f"{stage.name} step {step}")
        finally:
            if bar is not None:
                bar.close()

    def _step(self, module, optimizers, objective, inputs, idx, stage: Stage, step: int, evaluate) -> float:
        """One optimisation step on one batch: its loss (a non-finite one stops the run), the update, and the
        objective's hook after it."""
        rng_state = torch.get_rng_state()  # this forward's dropout masks, for StepContext.forward()
        if objective.needs_representation:
            logits, representation = module(*inputs, return_representation=True)
        else:
            logits, representation = module(*inputs), None
        value = objective.loss(logits, idx, representation)
        loss = value.item()
        if not math.isfinite(loss):
            raise TrainingDiverged(f"training diverged at {stage.name} step {step + 1} (loss {loss}); "
                                   f"lower {self._rates(stage.lr_scale)}; nothing was saved")
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        value.backward()
        for opt in optimizers:
            opt.step()
        objective.after_step(StepContext(module, inputs, idx, logits.detach(),
                                         None if representation is None else representation.detach(),
                                         stage.name, step + 1, rng_state, evaluate))
        return loss

    def _inputs(self, encoded, batches: list, skip: int = 0):
        """(batch number, rows, the batch's tensors on the training device) for each batch from ``skip`` on. On a
        GPU the next batch is gathered (and copied) in a background thread while the current one trains."""
        todo = [(b, idx) for b, idx in enumerate(batches) if b >= skip]
        if self.device == "cpu":
            for b, idx in todo:
                yield b, idx, self.family.batch(encoded, idx)
            return
        from concurrent.futures import ThreadPoolExecutor

        def gather(idx):
            return to_device(self.family.batch(encoded, idx), self.device)

        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(gather, todo[0][1]) if todo else None
            for k, (b, idx) in enumerate(todo):
                inputs = future.result()
                future = pool.submit(gather, todo[k + 1][1]) if k + 1 < len(todo) else None
                yield b, idx, inputs

    def _rates(self, scale: float) -> str:
        """The learning-rate flags and their values in this stage, for the divergence message."""
        text = f"--lr (now {self.config.lr * scale:g})"
        embedding_lr = getattr(getattr(self.family, "config", None), "embedding_lr", None)
        if isinstance(embedding_lr, (int, float)):
            text += f" or --embedding-lr (now {embedding_lr * scale:g})"
        return text

    def _best_text(self) -> str:
        return "-" if self.best_score == -np.inf else f"{self.best_score:.4f}"

    def _on_sigint(self, signum, frame):
        if self._stop_requested:
            self.log("\nCtrl-C again: aborting; nothing saved")
            raise KeyboardInterrupt
        self._stop_requested = True
        self.log("\nCtrl-C: stopping after this step (press it again to abort at once, saving nothing)")

    def _catch_sigint(self):
        """Install the two-step Ctrl-C handler (main thread only; an ignored SIGINT stays ignored)."""
        if threading.current_thread() is not threading.main_thread():
            return None
        previous = signal.getsignal(signal.SIGINT)
        if previous is signal.SIG_IGN:
            return None
        signal.signal(signal.SIGINT, self._on_sigint)
        return previous

    def fit(self, encoded, stages: list[Stage], dev: TrainingSet | None, resume=None, on_stop=None):
        """Train through ``stages`` and return the module holding the best dev state.

        The first Ctrl-C stops after the current step (``interrupted`` is set, ``stopped_at`` says where): the
        module returned is the best checkpoint so far, and ``on_stop(state)`` receives the training state (a
        ``resume.TrainingState`` without a fingerprint) when the objectives can resume. ``resume`` (such a state)
        continues a stopped run exactly where it stopped. A second Ctrl-C raises KeyboardInterrupt; a non-finite
        loss raises ``TrainingDiverged``.
        """
        c = self.config
        torch.manual_seed(c.seed)
        rng = np.random.default_rng(c.seed)
        module = self.family.build(self.num_classes)
        if self.output_prior is not None and isinstance(getattr(module, "output", None), nn.Linear):
            start_at_the_prior(module.output.bias, self.output_prior)
        if self.device != "cpu":
            self._move_to_device(module, stages)
        self.family.optimizers(module, c.lr)  # the first optimizer imports torch's compiler stack (~1 s): not training
        first, start, elapsed = 0, None, 0.0
        self._stages = stages
        if resume is not None:
            first, start, elapsed = self._restore(module, resume)
        self._stop_requested, self._stopped = False, None
        previous = self._catch_sigint()
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            for index, stage in enumerate(stages):
                if index < first:
                    continue
                if len(stage.rows) and stage.epochs > 0:
                    self._run_stage(module, encoded, stage, index, dev, rng, start if index == first else None)
        except _Stop:
            self.interrupted = True
            self.stopped_at = self._stopped["where"]
            self.train_seconds = elapsed + time.perf_counter() - started
            if on_stop is not None and all(objective_resumable(s.objective) for s in stages):
                on_stop(self._state(module))
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            self.train_seconds = elapsed + time.perf_counter() - started
            self.train_cpu_seconds = time.process_time() - cpu_started
            self._stopped = None
        if self.best_state is not None:
            module.load_state_dict(self.best_state)
            self.best_state = None
        module.eval()
        return module

    def _move_to_device(self, module, stages) -> None:
        """The module and the objectives' targets on the training device; an objective that cannot move (one
        that learns a policy as it trains) is a one-line error."""
        stuck = [type(s.objective).__name__ for s in stages if not hasattr(s.objective, "to")]
        if stuck:
            raise ConfigError(f"training on {self.device}: {', '.join(stuck)} runs on the CPU only; use --device cpu "
                              f"with this teacher strategy")
        module.to(self.device)
        for stage in stages:
            stage.objective.to(self.device)

    def _state(self, module):
        """The training state at the stop (views of the live tensors: write it before the module changes)."""
        from .resume import TrainingState, optimizer_state

        s = self._stopped
        position = {k: s[k] for k in ("stage", "epoch", "batch", "step", "where")}
        return TrainingState(
            fingerprint="", position=position, epoch_rng=s["epoch_rng"], torch_rng=torch.get_rng_state().numpy(),
            module={k: v.detach().cpu().numpy() for k, v in module.state_dict().items()},
            optimizers=[optimizer_state(opt) for opt in s["optimizers"]],
            best_score=None if self.best_score == -np.inf else float(self.best_score), best_where=self.best_where,
            best=None if self.best_state is None else {k: v.cpu().numpy() for k, v in self.best_state.items()},
            history=list(self.history), train_seconds=self.train_seconds, running=s["running"],
            objective={str(i): stage.objective.resume_state() for i, stage in enumerate(self._stages)
                       if hasattr(stage.objective, "resume_state")})

    def _restore(self, module, state) -> tuple[int, dict, float]:
        """Load a stopped run's state into this trainer and ``module``: (stage index, its start, seconds so far)."""
        module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.module.items()})
        if state.best is not None:
            self.best_state = {k: torch.from_numpy(np.array(v)) for k, v in state.best.items()}
        self.best_score = -np.inf if state.best_score is None else state.best_score
        self.best_where = state.best_where
        self.history = list(state.history)
        self.resumed_from = state.where
        for i, stage in enumerate(self._stages):
            if str(i) in state.objective and hasattr(stage.objective, "load_resume_state"):
                stage.objective.load_resume_state(state.objective[str(i)])
        torch.set_rng_state(torch.from_numpy(np.array(state.torch_rng, dtype=np.uint8)))
        p = state.position
        start = {"epoch": p["epoch"], "batch": p["batch"], "step": p["step"], "running": state.running,
                 "epoch_rng": state.epoch_rng, "optimizers": state.optimizers}
        return int(p["stage"]), start, state.train_seconds
