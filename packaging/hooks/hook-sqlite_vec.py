# sqlite_vec.loadable_path() points at vec0.so (vec0.dylib, vec0.dll) inside the package;
# the name does not match PyInstaller's default lib*.so pattern.
from PyInstaller.utils.hooks import collect_dynamic_libs

binaries = collect_dynamic_libs("sqlite_vec", search_patterns=["vec0.*"])
