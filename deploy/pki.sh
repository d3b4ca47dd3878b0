#!/usr/bin/env bash
# Creates a tinyfleet PKI: one fleet CA and EC P-256 certificates for the broker, the
# gateway, operators and devices. Everything is signed by the fleet CA; the certificate CN
# is the identity the broker enforces (`use_identity_as_username`).
#
#   deploy/pki.sh DIR [--site NAME] [--devices N] [--device-prefix P] [--operators a,b]
#                     [--broker-host NAME] [--days N]
#
# Identities: the gateway is "gw-<site>", operators are "op-<name>", devices are
# "<prefix><nnnn>". Device ids never start with "gw-", "op-" or "bridge-", so no device can hold a
# role name. Existing files are kept (re-running adds what is missing), so a CA is never
# silently replaced. Private keys are mode 0640; give the broker's group read access with
# `chgrp mosquitto DIR/broker.key` when the broker drops privileges (mosquitto 2.0 does so
# before it reads its key).
set -euo pipefail

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

dir=${1:-}
[ -n "$dir" ] && [ "${dir#-}" = "$dir" ] || usage
shift
site=site1 devices=0 prefix=dev- operators=alice host=localhost days=825
while [ $# -gt 0 ]; do
	case "$1" in
	--site) site=$2; shift 2 ;;
	--devices) devices=$2; shift 2 ;;
	--device-prefix) prefix=$2; shift 2 ;;
	--operators) operators=$2; shift 2 ;;
	--broker-host) host=$2; shift 2 ;;
	--days) days=$2; shift 2 ;;
	*) echo "pki: unknown option $1" >&2; usage ;;
	esac
done
case "$prefix" in gw-*|op-*|bridge-*) echo "pki: device prefix may not start with gw-, op- or bridge-" >&2; exit 2 ;; esac
for v in "$site" "$prefix" ${operators//,/ }; do
	if ! [[ "$v" =~ ^[A-Za-z0-9._-]+$ ]]; then
		echo "pki: '$v' is not a valid identifier ([A-Za-z0-9._-])" >&2
		exit 2
	fi
done
[[ "$devices" =~ ^[0-9]+$ ]] || { echo "pki: --devices takes a number" >&2; exit 2; }

mkdir -p "$dir"
umask 027
cd "$dir"
top=$PWD

if [ ! -f ca.key ]; then
	openssl ecparam -name prime256v1 -genkey -noout -out ca.key
	openssl req -new -x509 -key ca.key -sha256 -days "$days" -subj "/O=tinyfleet/CN=tinyfleet fleet CA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out ca.crt 2>/dev/null
	echo "pki: created fleet CA in $dir"
fi

# issue NAME CN EXTENSIONS: a key and a CA-signed certificate, unless they exist.
issue() {
	local name=$1 cn=$2 ext=$3
	[ -f "$name.crt" ] && [ -f "$name.key" ] && return 0
	openssl ecparam -name prime256v1 -genkey -noout -out "$name.key"
	openssl req -new -key "$name.key" -subj "/O=tinyfleet/CN=$cn" -out "$name.csr" 2>/dev/null
	printf '%s\n' "$ext" > "$name.ext"
	openssl x509 -req -in "$name.csr" -CA "$top/ca.crt" -CAkey "$top/ca.key" \
		-CAserial "$top/ca.srl" -CAcreateserial -sha256 \
		-days "$days" -extfile "$name.ext" -out "$name.crt" 2>/dev/null
	rm -f "$name.csr" "$name.ext"
}

client_ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"

issue broker "$host" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:$host,DNS:localhost,IP:127.0.0.1,IP:::1"
issue gateway "gw-$site" "$client_ext
extendedKeyUsage=clientAuth,serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1"
for op in ${operators//,/ }; do
	issue "op-$op" "op-$op" "$client_ext"
done

mkdir -p devices
width=${#devices}
[ "$width" -lt 4 ] && width=4
for ((i = 1; i <= devices; i++)); do
	id=$(printf '%s%0*d' "$prefix" "$width" "$i")
	(cd devices && issue "$id" "$id" "$client_ext")
done 2>/dev/null
echo "pki: $dir holds ca, broker ($host), gateway (gw-$site), operators (${operators}), $devices device(s)"
