# uvicorn picks its event loop, HTTP protocol and lifespan by import path at run time
# ("uvicorn.protocols.http.auto:AutoHTTPProtocol"), which the import graph cannot see:
# `assistant serve` in the frozen app needs them all.
from PyInstaller.utils.hooks import collect_submodules

hiddenimports = collect_submodules("uvicorn")
