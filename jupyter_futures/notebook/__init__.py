"""Notebook integration: widgets, progress bars, magics (imports Jupyter packages lazily)."""
