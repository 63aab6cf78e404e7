#!/usr/bin/env bash
# Installs the Debian packages mixq needs (cross toolchains, yosys, the Fashion-MNIST data set)
# when they are missing.
set -euo pipefail
missing=()
command -v arm-none-eabi-gcc >/dev/null 2>&1 || missing+=(gcc-arm-none-eabi libnewlib-arm-none-eabi)
command -v riscv64-unknown-elf-gcc >/dev/null 2>&1 || missing+=(gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v yosys >/dev/null 2>&1 || missing+=(yosys)
# The real benchmark: idx files under /usr/share/datasets/fashion-mnist (mixq --dataset fashion-mnist).
[ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] || missing+=(dataset-fashion-mnist)
command -v sta >/dev/null 2>&1 || missing+=(opensta)
command -v iverilog >/dev/null 2>&1 || missing+=(iverilog)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "mixq: missing Debian packages: ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2; exit 1
  fi
else SUDO=; fi
echo "mixq: installing ${missing[*]} (apt-get)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
