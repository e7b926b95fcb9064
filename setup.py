"""Build the optional C accelerator of assignment hashing; all metadata is in pyproject.toml.

``optional=True``: without a C compiler or Python headers the build only warns, and
``upsell_ab.assignment`` runs its pure-Python/numpy fallback (identical results)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "upsell_ab.assignment._fnv",
            sources=["upsell_ab/assignment/_fnv.c"],
            depends=["upsell_ab/assignment/_fnv_hash.h"],
            optional=True,
        )
    ]
)
