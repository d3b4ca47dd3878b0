#!/usr/bin/env bash
# Fetches the third-party sources the firmware compiles for the target (Debian ships no ARM
# build of them): mbedTLS and libcbor, from Debian's own source packages, with `apt-get
# source` and a private sources list (deb-src lines), so the system's apt configuration and
# lists are never touched. Nothing fetched here is committed.
#
# Usage: firmware/fetch-sources.sh CACHE_DIR
# Leaves CACHE_DIR/mbedtls and CACHE_DIR/libcbor (symlinks to the unpacked trees) and prints
# the versions used. Idempotent: an existing tree is reused.
#
# Versions: mbedtls 2.28.3-1 (bookworm, the same as the host's libmbedtls-dev). For libcbor
# the bookworm source (0.8.0, the host's version) is preferred; when the mirror does not
# serve its files (the case here in Nov 2026: 404), the upstream tarball of the newest
# Debian source (0.10.2, trixie) is used, checked against the signed Sources index. The
# device uses only libcbor's streaming decoder and encoders; protocol/src/cbor_io.c follows
# the one API change between them (callback length types, 0.9).
set -euo pipefail
cache=${1:?usage: fetch-sources.sh CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
apt_dir=$cache/apt
mkdir -p "$apt_dir/lists/partial" "$cache/src"
cat > "$apt_dir/sources.list" <<'LIST'
deb-src http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian trixie main
LIST
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State::Lists=$apt_dir/lists" -o Dir::Cache="$apt_dir/cache"
	-o APT::Sandbox::User=root -q)

have() { [ -e "$cache/$1" ] && [ -d "$cache/$1/" ]; }

if have mbedtls && have libcbor; then
	echo "fetch-sources: using $(readlink "$cache/mbedtls"), $(readlink "$cache/libcbor")"
	exit 0
fi

if [ ! -s "$apt_dir/lists.stamp" ]; then
	apt-get "${apt_opts[@]}" update >&2
	date -u > "$apt_dir/lists.stamp"
fi

cd "$cache/src"
if ! have mbedtls; then
	apt-get "${apt_opts[@]}" source mbedtls=2.28.3-1 >&2
	ln -sfn "src/mbedtls-2.28.3" "$cache/mbedtls"
fi

if ! have libcbor; then
	if apt-get "${apt_opts[@]}" source libcbor=0.8.0-2 >&2 2>/dev/null; then
		ln -sfn "src/libcbor-0.8.0" "$cache/libcbor"
	else
		echo "fetch-sources: libcbor 0.8.0-2 not served; trying the newest Debian source" >&2
		# --download-only fetches what it can (apt checks each file's hash against the
		# signed Sources index) and fails on the rest; only the orig tarball is needed.
		ver=$(apt-cache "${apt_opts[@]}" showsrc libcbor | sed -n 's/^Version: //p' |
			sort -V | tail -1)
		apt-get "${apt_opts[@]}" source --download-only "libcbor=$ver" >&2 || true
		tarball=libcbor_${ver%-*}.orig.tar.gz
		top=$(tar -tzf "$tarball" | sed -n 1p)
		tar -xzf "$tarball"
		ln -sfn "src/${top%%/*}" "$cache/libcbor"
	fi
fi
have mbedtls && have libcbor
echo "fetch-sources: $(readlink "$cache/mbedtls"), $(readlink "$cache/libcbor")"
