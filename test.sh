#!/usr/bin/env bash
# The whole Starling test suite: formatting, vet, every test with the race
# detector, and short runs of every fuzzer. CI runs exactly this (.ci/run).
#
# The interoperability tests need third-party software from Debian; this
# script installs it once (apt-get, as root or through passwordless sudo).
# Without it, `go test ./...` still runs and skips those tests with a note.
set -euo pipefail
cd "$(dirname "$0")"

packages=(python3-slixmpp prosody lua-unbound chromium chromium-driver)
# Node.js for the web client tests; a newer one already on the machine is kept.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
			sudo=(sudo -n)
		fi
	fi
	if command -v apt-get >/dev/null && { [ "$(id -u)" -eq 0 ] || ((${#sudo[@]})); }; then
		echo "== installing ${missing[*]} for the interoperability tests"
		install() { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
		install || { "${sudo[@]}" apt-get update -qq && install; } ||
			echo "== could not install ${missing[*]}; the tests that need them will be skipped"
	else
		echo "== cannot install ${missing[*]} (no apt-get or no root); the tests that need them will be skipped"
	fi
fi

# The web clients (@xmpp/client, stanza, Converse.js, playwright-core), pinned
# in internal/interop/testdata/web/package.json, live in a cache directory
# outside the repository; the tests look for them there.
web_dir="${STARLING_WEB_PACKAGES:-${XDG_CACHE_HOME:-$HOME/.cache}/starling-web-tests}"
if command -v npm >/dev/null; then
	mkdir -p "$web_dir"
	if ! cmp -s internal/interop/testdata/web/package.json "$web_dir/package.json" || [ ! -d "$web_dir/node_modules" ]; then
		echo "== installing the web clients (npm) into $web_dir"
		cp internal/interop/testdata/web/package.json "$web_dir/package.json"
		(cd "$web_dir" && timeout 600 npm install --no-audit --no-fund --loglevel=error >/dev/null) ||
			echo "== npm install failed; the web client tests will retry or skip"
	fi
fi

echo "== gofmt and go vet"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"
	echo "$unformatted"
	exit 1
fi
go vet ./...

echo "== go test -race ./..."
go test -race -timeout 20m ./...

echo "== fuzzing, ${FUZZTIME:-15s} per target (corpora in each package's testdata/fuzz)"
for target in jid:FuzzParse xmlstream:FuzzDecoder xmlstream:FuzzDifferential \
	sasl:FuzzPLAIN sasl:FuzzSCRAM sasl:FuzzDigestMD5 tlsconf:FuzzPeerIdentities; do
	pkg=${target%%:*} name=${target#*:}
	log=$(mktemp)
	go test -run='^$' -fuzz="^${name}\$" -fuzztime="${FUZZTIME:-15s}" "./$pkg" >"$log" 2>&1 ||
		{ tail -n 40 "$log"; rm -f "$log"; echo "fuzzing $pkg $name failed (a new input, if any, is in $pkg/testdata/fuzz/$name)"; exit 1; }
	rm -f "$log"
	echo "   $pkg $name: ok"
done
echo "== all tests passed"
