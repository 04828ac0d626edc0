"""Tests that drive the lessons in a real browser (JupyterLab + headless Chromium)."""
