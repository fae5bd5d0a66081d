"""``python -m alignsar_localstack ...`` (or ``python localstack/__main__.py ...``)."""

import sys

if __package__:
    from .cli import main
else:  # run as a file from a checkout that is not installed: load the folder as the package
    import importlib.util
    from pathlib import Path

    _here = Path(__file__).resolve().parent
    _spec = importlib.util.spec_from_file_location(
        "alignsar_localstack", _here / "__init__.py", submodule_search_locations=[str(_here)])
    _mod = importlib.util.module_from_spec(_spec)
    sys.modules["alignsar_localstack"] = _mod
    _spec.loader.exec_module(_mod)
    from alignsar_localstack.cli import main

if __name__ == "__main__":
    sys.exit(main())
