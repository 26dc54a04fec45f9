"""Vigil: security-camera images in, trustworthy alerts out."""

__version__ = "0.1.0"
