# pypdfium2 (renders scanned PDF pages for OCR) loads libpdfium with ctypes from its own
# folder and reads version.json beside it at import.
from PyInstaller.utils.hooks import collect_data_files, collect_dynamic_libs

binaries = collect_dynamic_libs("pypdfium2_raw")
datas = collect_data_files("pypdfium2_raw") + collect_data_files("pypdfium2")
