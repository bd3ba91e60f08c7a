"""A refinement job over a record file, as `affordhand refine` runs it: the input streamed batch by batch,
finished records kept in a resumable partial file, implausible inputs reported, the hand model matched to the
input's own joints, and, under torchrun, one shard per process merged in input order by rank 0.

Messages for the user (warnings, what was resumed) go through `report`; the caller decides where they go.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from rich.progress import Progress

from affordhand.data.provenance import check_same_run, provenance
from affordhand.data.records import read_records
from affordhand.data.sequences import sequence_groups
from affordhand.errors import AffordhandError
from affordhand.parallel import barrier, join
from affordhand.progress import quiet, show_progress
from affordhand.refinement.batch import NEEDED
from affordhand.refinement.io import (
    PartialWriter,
    finish,
    input_batches,
    partial_path,
    planned_batches,
    read_partial,
    scan_input,
)
from affordhand.refinement.loader import Refiner
from affordhand.refinement.pipeline import match_hand_to_input, pack, refine_records
from affordhand.refinement.plausible import implausible, not_finite
from affordhand.refinement.settings import PRIOR_MODES, REFINE_BATCH, SETTINGS_VERSION, RefineConfig


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


@dataclass
class RefineJob:
    """What one `affordhand refine` run reads, writes and how (paths, prior, run settings)."""

    input: str
    out: str
    config: RefineConfig = field(default_factory=RefineConfig)
    prior: str = "default"  # run folder, 'default' or hf:ORG/NAME
    text_from: str | None = None  # JSONL whose texts replace the input's, by id
    batch: int = REFINE_BATCH
    device: str = "cpu"
    skip_bad: bool = False
    strict: bool = False  # refuse implausible inputs instead of warning
    restart: bool = False
    self_calibration: bool = True
    progress: bool = False  # show the bar even when not on a terminal
    hand_settings: dict = field(default_factory=dict)  # how the hand model was chosen, for the settings file


@dataclass
class JobResult:
    written: int  # records in the finished file (rank 0; 0 on other ranks)
    total: int  # records in the input
    failed: list = field(default_factory=list)  # (id, result fields that were not finite) on this rank


def job_settings(job: RefineJob, prior) -> dict:
    """Return what makes a refine output: its settings, the hand model and the hashes of the input, the
    prior and the uncertainty recipe it uses."""
    from affordhand.data.provenance import file_sha256
    from affordhand.prior.model import prior_digest
    from affordhand.refinement.uncertainty import uncertainty_file

    inputs = {
        "input": job.input,
        "text_from": job.text_from,
        "skeleton": job.hand_settings.get("skeleton"),
        "prior": prior_digest(job.prior) if prior is not None else None,
        "uncertainty": file_sha256(uncertainty_file(job.prior)) if prior is not None else None,
    }
    hand = {**job.hand_settings, "self_calibration": job.self_calibration}
    return {**provenance("refine", {**asdict(job.config), **hand}, inputs), "settings_version": SETTINGS_VERSION}


def _check_plausible(source, flagged: list[tuple[str, list[str]]], strict: bool, report) -> None:
    """Warn about (or, strict, refuse) records whose values no camera or hand produces: (id, reasons)."""
    if not flagged:
        return
    first = "; ".join(f"{rid!r}: {', '.join(why)}" for rid, why in flagged[:3])
    if strict:
        raise AffordhandError(f"{source}: {len(flagged)} records hold implausible values ({first})")
    report(f"warning: {len(flagged)} records hold implausible values and may refine badly ({first})")


def in_current_layout(what: str, saved: dict | None, wanted: dict) -> dict | None:
    """Return a partial's settings record in this version's layout (SETTINGS_VERSION; version 1 named the
    keypoint weight `guidance`; versions 1 and 2 refined every hand alone), or raise AffordhandError for one
    no version of today's refinement can finish: a newer layout, or settings that lack one of today's
    (written before that setting existed)."""
    if saved is None:
        return None
    version = saved.get("settings_version", 1)
    if not isinstance(version, int) or version > SETTINGS_VERSION:
        newer = f"a newer affordhand (settings version {version!r})"
        raise AffordhandError(f"{what} was written by {newer}; finish it with that version or rerun with --restart")
    guided = (saved.get("settings") or {}).get("guided")
    if version == 1 and isinstance(guided, dict) and "guidance" in guided:
        guided["keypoint_weight"] = guided.pop("guidance")
    if version <= 2 and isinstance(saved.get("settings"), dict):  # every hand was refined alone then
        saved["settings"].setdefault("per_frame", True)
        saved["settings"].setdefault("sequence", wanted["settings"].get("sequence"))
    lacking = sorted(_missing(saved.get("settings") or {}, wanted["settings"]))
    if lacking:
        raise AffordhandError(
            f"{what} was written by an earlier affordhand whose refinement had no {', '.join(lacking[:3])}: "
            "it cannot be finished with today's; rerun with --restart to start over"
        )
    return {**saved, "settings_version": SETTINGS_VERSION}


def _missing(saved: dict, wanted: dict, prefix: str = "") -> list[str]:
    """Return the settings `wanted` has and `saved` lacks (dotted names)."""
    out = []
    for key, value in wanted.items():
        if key not in saved:
            out.append(prefix + key)
        elif isinstance(value, dict) and isinstance(saved[key], dict):
            out += _missing(saved[key], value, f"{prefix}{key}.")
    return out


def _resume(job: RefineJob, settings: dict, rank: int, world: int, report) -> PartialWriter:
    """Return the writer of this rank's partial output, holding what an earlier run with the same settings
    finished (restart: nothing); a partial made with other settings or input is refused."""
    out = Path(job.out)
    saved, done = read_partial(out, rank, world)
    if partial_path(out, rank, world).is_file() and job.restart:
        saved, done = settings, {}
    elif partial_path(out, rank, world).is_file():
        what = str(partial_path(out, rank, world))
        check_same_run(what, in_current_layout(what, saved, settings), settings)
    if done:
        report(f"resuming: {len(done)} records already refined")
    return PartialWriter(out, done, settings, rank, world)


def _refine_shard(job, batches, hand, prior, uncertainty, writer: PartialWriter, total: int) -> tuple[list, list, int]:
    """Refine this rank's batches into the writer; return (id, bad fields) of the results that were not
    finite (left out), unless the input was checked up front (strict) (id, reasons) of the inputs that
    hold implausible values (checked batch by batch, so the input is read once less), and how many hands
    with a sentence were conditioned without it (their object is new to the prior). A batch of sequences
    comes whole, its finished records included (a sequence is refined as one): only the others are written."""
    done_ids = frozenset(writer.done_ids)
    failed, flagged, without_sentence = [], [], 0
    device_hand = copy.deepcopy(hand).to(job.device)  # .to moves a module in place: the check keeps the CPU one
    hidden = (not show_progress() and not job.progress) or quiet() or writer.rank > 0
    sentences = prior is not None and "text" in prior.config.layout  # whether this prior takes sentences
    with Progress(disable=hidden) as bar:
        task = bar.add_task(f"refine ({job.config.mode})", total=total, completed=len(done_ids))
        for chunk in batches(done_ids):
            todo = [r for r in chunk if r["id"] not in done_ids]
            if not todo:
                continue
            if not job.strict:
                flagged += [(r["id"], why) for r, why in zip(todo, implausible(todo, hand)) if why]
            refined = []
            results = refine_records(chunk, job.config, device_hand, prior, job.device, uncertainty, batch=job.batch)
            for rec in (r for r in results if r["id"] not in done_ids):
                bad = not_finite(rec)
                if bad:
                    failed.append((rec["id"], bad))
                else:
                    refined.append(rec)
                    dropped = sentences and bool(rec.get("text")) and "text" not in rec.get("conditioned_on", ["text"])
                    without_sentence += dropped
            writer.add(refined)
            bar.update(task, advance=len(todo))
    writer.close()
    return failed, flagged, without_sentence


def _shard_batches(job: RefineJob, plan, described, total: int, rank: int, world: int):
    """Return (batches(skip ids) -> this rank's lists of records, how many records they hold). Under torchrun
    each process refines every world-th batch: the batches are the ones a single process makes, so the
    merged file is byte for byte the single process's. Batches of sequences (plan) hold whole ones."""
    if plan is None:
        batches = lambda skip=frozenset(): input_batches(
            job.input, job.skip_bad, NEEDED, described, job.batch, rank, world, skip
        )
        return batches, sum(1 for p in range(total) if (p // job.batch) % world == rank)
    batches = lambda skip=frozenset(): planned_batches(job.input, job.skip_bad, NEEDED, described, plan, rank, world)
    return batches, sum(len(b) for k, b in enumerate(plan) if k % world == rank)


def sequence_plan(places: list[dict], batch: int) -> list[list[str]] | None:
    """Return the batches (lists of ids) of a run whose records hold sequences: whole sequences (and the
    hands in none) packed in input order into batches of at most `batch` hands, a longer sequence a batch of
    its own (refined in windows); None where no sequence has two frames."""
    groups = sequence_groups(places)
    if all(len(g) == 1 for g in groups):
        return None
    return [[places[i]["id"] for piece in chunk for i in piece] for chunk in pack(groups, batch)]


def run_refine_job(job: RefineJob, refiner: Refiner, report: Callable[[str], None] = _stderr) -> JobResult:
    """Refine job.input into job.out with the refiner's prior and hand model (matched to the input's joints
    first); resumable. The refiner must be loaded from job.prior."""
    if job.batch < 1:
        raise AffordhandError("--batch must be positive")
    refiner.check(job.config)
    prior_modes = job.config.mode in PRIOR_MODES
    prior, uncertainty = (refiner.prior, refiner.uncertainty) if prior_modes else (None, None)
    if prior_modes and refiner.note:
        report(refiner.note)
    described = None
    if job.text_from:
        described = {r["id"]: r for r in read_records(job.text_from, skip_bad=True).records if r.get("text")}
    # The input is streamed: one pass for what the run needs up front, one to refine batch by batch.
    ids, light, without_text, skipped, places = scan_input(job.input, job.skip_bad, NEEDED, described)
    if skipped:
        report(f"skipped {len(skipped)} bad records (first: line {skipped[0][0]}: {skipped[0][1]})")
    if job.config.mode == "affordance" and without_text:
        report(f"warning: {without_text} records have no text and are refined unconditionally")
    hand, message = match_hand_to_input(light, refiner.hand, job.self_calibration)
    if message:
        report(message)
    del light
    rank, world, _ = join(job.device)
    plan = None if job.config.per_frame else sequence_plan(places, job.batch)
    if plan is None and not job.config.per_frame:  # no sequence in the input: every hand is refined alone
        job = replace(job, config=replace(job.config, per_frame=True))
    batches, shard = _shard_batches(job, plan, described, len(ids), rank, world)
    if job.strict:  # refuse before refining anything: one pass more over the input
        flagged = [(r["id"], why) for chunk in batches() for r, why in zip(chunk, implausible(chunk, hand)) if why]
        _check_plausible(job.input, flagged, True, report)
    settings = job_settings(job, prior)
    if plan is not None:  # the batch decides which frames share a window: a resumed run must keep it
        settings["settings"]["sequence_batch"] = job.batch
    writer = _resume(job, settings, rank, world, report)
    failed, flagged, without_sentence = _refine_shard(job, batches, hand, prior, uncertainty, writer, shard)
    _check_plausible(job.input, flagged, False, report)
    if without_sentence and job.config.mode == "affordance":
        report(
            f"{without_sentence} hands (refined in this run) name an object the prior was not trained on: "
            "conditioned on their grasp alone (--unseen-objects text keeps the sentence)"
        )
    if failed:
        report(
            f"warning: {len(failed)} records gave no finite result and were left out (first: "
            f"{failed[0][0]!r}: {', '.join(failed[0][1])}); check them for implausible values"
        )
    barrier()  # every rank's partial is complete
    written = finish(Path(job.out), settings, ids, world)[0] if rank == 0 else 0
    return JobResult(written, len(ids), failed)
