"""The frozen app's one entry point, shared by both executables of the bundle.

`multiprocessing.freeze_support()` comes first: indexing runs in a spawned worker, which
starts this same executable with multiprocessing's own arguments. The executable's name
picks the face: `assistant` (console) runs the command line, anything else (the windowed
`knowledge-assistant`) opens the window.
"""

import multiprocessing
import os
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    name = os.path.splitext(os.path.basename(sys.executable))[0].lower()
    if name == "assistant":
        from assistant.cli import main
    else:
        from assistant.gui.app import main
    sys.exit(main())
