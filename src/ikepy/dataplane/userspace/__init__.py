"""Userspace ESP data plane: ESP in Python over a TUN device."""

from ikepy.dataplane.userspace.backend import UserspaceBackend

__all__ = ["UserspaceBackend"]
