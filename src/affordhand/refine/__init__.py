"""Refinement of initial hand estimates: global fit, guided diffusion, uncertainty, resumable output.

The package is also the API function `affordhand.refine(records, ...)`: affordhand/__init__.py makes it
callable, forwarding to affordhand/api.py, so that no arrow runs from here up to the API."""
