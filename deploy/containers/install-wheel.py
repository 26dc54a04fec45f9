"""Install a pure-Python wheel into an environment with no installer in it (the runtime images carry no pip):
unpack it into site-packages, write its console scripts, compile it. Enough for vigil's own wheel, which is
pure Python with no install hooks; its dependencies are already in the environment.

Usage (inside the image build): ENV/bin/python install-wheel.py WHEEL   (installs into ENV, this interpreter's)
"""

import compileall
import configparser
import sys
import sysconfig
import zipfile
from pathlib import Path

env, wheel = Path(sys.prefix), Path(sys.argv[1])
site = Path(sysconfig.get_path("purelib"))
with zipfile.ZipFile(wheel) as archive:
    archive.extractall(site)
    info = next(n.split("/")[0] for n in archive.namelist() if n.split("/")[0].endswith(".dist-info"))
entry_points = configparser.ConfigParser()
entry_points.read(site / info / "entry_points.txt")
for name, target in (entry_points["console_scripts"].items() if entry_points.has_section("console_scripts") else []):
    module, _, function = target.partition(":")
    script = env / "bin" / name
    script.write_text(f"#!{env}/bin/python\nimport sys\nfrom {module} import {function}\nsys.exit({function}())\n")
    script.chmod(0o755)
(site / info / "INSTALLER").write_text("vigil-image-build\n")
compileall.compile_dir(site / info.split("-")[0], quiet=1)
