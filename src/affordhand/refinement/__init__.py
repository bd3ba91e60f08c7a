"""Refinement of initial hand estimates: global fit, guided diffusion, uncertainty, resumable output.
`affordhand.refine(records, ...)` (affordhand/api.py) is its function for Python users."""
