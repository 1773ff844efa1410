"""Build glue; the metadata lives in setup.cfg.

The package list is discovered: every folder with an ``__init__.py`` ships under the one import
name ``ncodec`` (setup.cfg maps ``ncodec`` to the repository root), so a new modality's folder
needs no edit outside itself.
"""
from setuptools import find_packages, setup

EXCLUDE = ["tests", "tests.*", "build", "build.*", "dist", "dist.*", "runs", "runs.*"]


def discover_packages(root: str = ".") -> list[str]:
    return ["ncodec"] + [f"ncodec.{p}" for p in find_packages(where=root, exclude=EXCLUDE)]


if __name__ == "__main__":
    setup(packages=discover_packages())
