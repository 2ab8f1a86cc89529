"""A training run's life beside its output directory: resuming an interrupted run, and what a Ctrl-C keeps.

The first Ctrl-C stops training at a step boundary (``loop.Trainer``); the run then saves its training state to
``<out>.resume/`` and, with a dev set, the best checkpoint so far into an empty or new ``out`` (never over a model
that was there). Rerunning the same command resumes from the state (``resume_or_start``); a second Ctrl-C while
saving aborts at once.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError, TrainingInterrupted
from .loop import second_ctrl_c_aborts
from .resume import fingerprint, load_state, read_fingerprint, resume_dir, save_state

__all__ = ["Session", "fingerprint", "resume_or_start", "saving_guard", "interrupted", "drop_resume_state"]


@dataclass
class Session:
    """The state to resume from (None: start), and the callback that saves the state at a Ctrl-C (None: no
    ``out``, nothing to save)."""

    state: object = None
    on_stop: object = None
    run_id: str | None = None  # the fingerprint of what decides the training trajectory

    @property
    def saved(self) -> bool:
        return bool(self.on_stop is not None and self.on_stop.saved)


def resume_or_start(out, run_id: str | None, overwrite: bool, log) -> Session:
    """The session of a run into ``out``: a state beside ``out`` with the same fingerprint is resumed; one of
    another run is ignored (and replaced if this run is interrupted too). An interrupted model in ``out`` is replaced
    without --overwrite only by its own run."""
    from ..persistence import is_interrupted_model

    if out is None:
        return Session()
    out = Path(out)
    where = resume_dir(out)
    resume = None
    if where.is_dir():
        if read_fingerprint(where) == run_id:
            try:
                resume = load_state(where)
                log(f"resuming the interrupted run from {resume.where} (state in {where})")
            except ModelError as exc:
                log(f"warning: cannot resume: {exc}; training from the start")
        else:
            log(f"note: {where} holds the state of an interrupted run with other data or settings; training from "
                f"the start")
    if resume is None and not overwrite and is_interrupted_model(out):
        raise ModelError(f"{out}: holds the checkpoint of an interrupted run with other data or settings; rerun that "
                         f"command to finish it, or pass --overwrite to replace it")

    def on_stop(state) -> None:
        state.fingerprint = run_id
        log(f"saving the training state to resume from ({state.nbytes() / 1e6:,.0f} MB) to {where}")
        try:
            save_state(where, state)
            on_stop.saved = True
        except (OSError, ModelError) as exc:
            log(f"warning: could not save the training state ({exc}); a rerun trains from the start")

    on_stop.saved = False
    return Session(resume, on_stop)


def saving_guard(trainer, out, log):
    """Nothing for a run that finished; after a first Ctrl-C, a guard that makes a second one abort the saving at
    once, saying what was kept."""
    if not trainer.interrupted:
        return contextlib.nullcontext()
    session = getattr(trainer, "session", None)
    kept = f" (the training state to resume from is in {resume_dir(out)})" if session and session.saved else ""
    return second_ctrl_c_aborts(log, f"no model saved{kept}")


def interrupted(trainer, student, report, out, has_dev: bool, session: Session, extra_files) -> TrainingInterrupted:
    """Save what an interrupted run may save and say so: the best checkpoint selected on dev, into an empty or new
    ``out`` only (never over a model that was there)."""
    from ..persistence import is_interrupted_model

    head = f"stopped at {trainer.stopped_at}"
    best = student if trainer.selected_on_dev else None
    if out is None:
        return TrainingInterrupted(f"{head}; the best checkpoint so far is the exception's .student", best, report)
    out = Path(out)
    saved = False
    if not has_dev:
        what = "no model saved (without --dev no checkpoint is selected)"
    elif not trainer.selected_on_dev:
        what = "no model saved (no checkpoint had been evaluated on dev yet)"
    elif out.exists() and (not out.is_dir() or any(out.iterdir())) and not (trainer.resumed_from and
                                                                             is_interrupted_model(out)):
        what = f"{out} was left as it was (an interrupted run never replaces a model)"
    else:
        student.save_pretrained(out, overwrite=bool(trainer.resumed_from), extra_files=extra_files)
        saved = True
        what = (f"saved the best checkpoint so far ({trainer.best_where}, dev {trainer.config.select_metric} "
                f"{trainer.best_score:.4f}) to {out}, marked \"interrupted\": true")
    if session.saved:
        how = "rerun the same command to resume from there (with another --epochs: towards that total)"
    else:
        how = ("this run cannot resume (its teacher strategy learns as it trains); rerun to train from the start "
               "(teacher outputs are cached)" + (" with --overwrite" if saved else ""))
    return TrainingInterrupted(f"{head}; {what}; {how}", best, report)


def drop_resume_state(out) -> None:
    where = resume_dir(out)
    if where.is_dir():
        shutil.rmtree(where, ignore_errors=True)
