#!/usr/bin/env bash
# Installs every Debian 12 package that tinyfleet's build, tests, fuzzing, benchmarks and
# demo need. Idempotent: packages already present are left alone, and `apt-get update` runs
# only when something is missing (or when TF_APT_UPDATE=1 forces it).
set -euo pipefail

packages=(
	# toolchain
	build-essential cmake pkg-config clang libclang-rt-14-dev git ca-certificates
	# libraries (DESIGN.md "Dependencies")
	libpaho-mqtt-dev libssl-dev libmbedtls-dev libcoap3-dev liblmdb-dev libuv1-dev
	libcbor-dev libzstd-dev liblzma-dev libdivsufsort-dev libsystemd-dev libjansson-dev
	libcmocka-dev
	libmosquitto-dev  # device-agent port/posix MQTT transport and tinyfleet-sim (event-driven clients)
	# services and peers used by the tests and the demo
	mosquitto mosquitto-clients libcoap3-bin lmdb-utils openssl jq systemd
	# interop and tooling used by tests and benchmarks
	python3 python3-cryptography python3-cbor2 python3-jsonschema python3-numpy
	python3-sklearn bsdiff xdelta3 zstd xz-utils
	# device-agent cross build and footprint
	gcc-arm-none-eabi libnewlib-arm-none-eabi
	# Cortex-M4 firmware runs (firmware/build.sh, mps2-an386 board)
	qemu-system-arm
)

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: run as root (it calls apt-get)" >&2
	exit 1
fi

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -eq 0 ] && [ "${TF_APT_UPDATE:-0}" != 1 ]; then
	echo "install-deps: all ${#packages[@]} packages present"
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${#missing[@]} package(s)"
