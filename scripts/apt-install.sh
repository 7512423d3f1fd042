#!/usr/bin/env bash
# Install Debian packages, as root or through sudo; say clearly what to do otherwise.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "Please install these Debian packages as root: $*" >&2; exit 1
  fi
fi
echo "Installing Debian packages: $*"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
