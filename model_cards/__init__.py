"""The model card template, shipped as package data (``importlib.resources``), so installed copies render cards."""
