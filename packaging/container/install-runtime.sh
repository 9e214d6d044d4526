#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The runtime image's install step (Dockerfile): the packages of runtime-packages.txt, nothing
# recommended, no apt lists left behind. Usage: install-runtime.sh runtime-packages.txt
set -eu
packages=$(grep -v '^#' "$1" | grep .)
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $packages
rm -rf /var/lib/apt/lists/*
