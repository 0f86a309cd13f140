"""The frozen bundle's one entry script, built twice: `lexbrief` (console) and `lexbrief-gui`
(windowed). Which program runs depends on the executable's name. The hidden first argument
`--lexbrief-cpu-backend` runs engine.llama_cpp.probe (the CPU backend probe's child)."""

import sys
from pathlib import Path


def _run() -> int:
    from lexbrief.engine.llama_cpp.probe import handle_hidden_flag

    code = handle_hidden_flag(sys.argv[1:])
    if code is not None:
        return code
    if Path(sys.executable).stem.lower().endswith("-gui"):
        from lexbrief.ui.gui.app import main as gui_main

        return gui_main(sys.argv[1:])
    from lexbrief.ui.cli.main import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(_run())
