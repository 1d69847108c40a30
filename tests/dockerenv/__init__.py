"""Reusable Docker test environment: the busybox test image and the pytest plugin (``plugin.py``)."""

from .image import TEST_IMAGE, DockerEnvError, ensure_test_image

__all__ = ["TEST_IMAGE", "DockerEnvError", "ensure_test_image"]
