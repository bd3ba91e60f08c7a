"""Hand models (built-in kinematic hand, MANO adapter), rotations and camera."""

from __future__ import annotations

from affordhand.hand.model import BuiltinHand, HandOutput


def load_hand_model(kind: str = "builtin", mano_dir=None, skeleton=None):
    """Return a hand model: 'builtin' (license-free, default; with a calibrated skeleton file if given) or
    'mano' (the user's MANO files)."""
    if kind == "builtin":
        if skeleton:
            from affordhand.hand.calibrate import load_skeleton

            return load_skeleton(skeleton)
        return BuiltinHand()
    if kind == "mano":
        from affordhand.hand.mano import ManoHand

        return ManoHand(mano_dir)
    from affordhand.errors import AffordhandError

    raise AffordhandError(f"unknown hand model {kind!r}: use 'builtin' or 'mano'")


__all__ = ["BuiltinHand", "HandOutput", "load_hand_model"]
