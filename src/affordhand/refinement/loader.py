"""What refinement needs, loaded once: the prior, the hand model (with the skeleton calibrated with the prior),
the uncertainty recipe kept with the prior, and the check of a run's settings against them. The API, the
refine job, the photo pipeline's commands, the web app, the demo and the benchmarks all load through here."""

from __future__ import annotations

import copy
import functools
import os
from dataclasses import dataclass

from affordhand.errors import AffordhandError
from affordhand.hand.model import HandModel
from affordhand.refinement.settings import PRIOR_MODES, REFINE_BATCH, RefineConfig


@dataclass
class Refiner:
    """A prior with the hand model and uncertainty recipe that go with it.

    prior: the diffusion prior on `device` (None when loaded without one, for the `fit` and `none` modes); hand:
    the hand model, on the CPU, where records are checked against it (`device_hand`: the same on `device`);
    uncertainty: the recipe that turns the samples' spread into joint_uncertainty_mm;
    skeleton: the skeleton file the hand model was built from (None: the model's default); note: what the user
    should know about the recipe (a prior without its own borrows the shipped one's), else None."""

    spec: str
    hand: HandModel
    prior: object | None
    uncertainty: object | None
    skeleton: str | None
    note: str | None
    device: str

    @functools.cached_property
    def device_hand(self) -> HandModel:
        """The hand model on the refiner's device (a copy; the CPU one stays for checks on the CPU)."""
        return self._on_device(self.hand)

    def _on_device(self, hand: HandModel) -> HandModel:
        """Return hand on the refiner's device: itself on the CPU, else a copy (`.to` moves a module in place)."""
        return hand if self.device == "cpu" else copy.deepcopy(hand).to(self.device)

    def check(self, config: RefineConfig) -> None:
        """Raise AffordhandError unless the settings can run with this prior (its modes need one; the noise
        levels lie below its T)."""
        if config.mode not in PRIOR_MODES:
            return
        if self.prior is None:
            raise AffordhandError(f"mode {config.mode!r} needs a prior; this refiner was loaded without one")
        config.guided.check_levels(self.prior.config.T)

    def refine(
        self, records: list[dict], config: RefineConfig, hand: HandModel | None = None, batch: int = REFINE_BATCH
    ) -> list[dict]:
        """Return the refined records (settings checked first), `batch` hands at a time; hand: another hand
        model (one matched to the input's own joints), else this refiner's."""
        from affordhand.refinement.pipeline import refine_records

        self.check(config)
        prior = self.prior if config.mode in PRIOR_MODES else None
        hand = self.device_hand if hand is None else self._on_device(hand)
        return refine_records(records, config, hand, prior, self.device, self.uncertainty, batch=batch)


def load_refiner(
    prior: str | os.PathLike = "default",
    *,
    hand_model: str = "builtin",
    mano_dir: str | os.PathLike | None = None,
    skeleton: str | os.PathLike | None = None,
    device: str = "cpu",
    with_prior: bool = True,
    with_uncertainty: bool = True,
) -> Refiner:
    """Return a Refiner: the prior ("default": the shipped one; or a run folder), the hand model (the built-in
    hand on `skeleton`, else on the skeleton calibrated with the prior, else its default; or the user's MANO
    through `mano_dir`) and the prior's uncertainty recipe. with_prior=False loads the hand alone (the modes
    that need no prior), though its skeleton still comes from the prior's folder; with_uncertainty=False
    leaves the recipe out (to fit a new one)."""
    from affordhand.prior.model import load_prior, prior_hand_model
    from affordhand.refinement.uncertainty import uncertainty_for

    spec = str(prior)
    hand, used = prior_hand_model(spec, hand_model, mano_dir, None if skeleton is None else str(skeleton))
    model = recipe = note = None
    if with_prior:
        model = load_prior(spec, device)
    if with_prior and with_uncertainty:
        recipe, note = uncertainty_for(spec)
    return Refiner(spec, hand, model, recipe, None if used is None else str(used), note, device)
