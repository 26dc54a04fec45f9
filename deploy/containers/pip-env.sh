#!/bin/sh
# Inside the image build: create /opt/vigil and install one role's pinned dependencies into it.
# The build machine's CA bundle arrives as the build secret pip-cert (build.sh passes the one pip uses there,
# which may hold a proxy's certificate); it is read from a secret mount and never stored in a layer.
# Usage: pip-env.sh ROLE
set -eu
if [ -s /run/secrets/pip-cert ]; then
  export PIP_CERT=/run/secrets/pip-cert
fi
python3 -m venv /opt/vigil
/opt/vigil/bin/pip install -q --disable-pip-version-check -c /src/constraints.txt -r "/src/requirements/$1.txt"
# pip leaves the environment: the runtime images install vigil's wheel with the build stage's pip
# (pip --python), and carry no installer.
/opt/vigil/bin/python -m pip uninstall -q -y pip
