# python-pptx reads its default template and content-type tables from package data.
from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("pptx")
