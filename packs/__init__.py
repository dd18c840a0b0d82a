"""Pack content shipped with Tessera: ``crm_core/`` and ``industry_templates/<name>/``.

Configuration only (YAML and CSV; see docs/packs.md). This file exists so that the folder is
installed as package data (``importlib.resources.files("packs")``); it holds no code.
"""
